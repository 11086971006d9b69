"""Sends wait for the previous sends' receipts to be durable, and nothing else does.

A receipt is a table write that Kafka's producer sends in the background. Waiting for the
producer after every delivery (or batch) bounds what a SIGKILL can repeat: the message in
hand (the batch, with `delivery_concurrency` N), never the ones before. Only the next send
needs that wait; parsing, the consent check and rendering of the next messages go on while
the broker acknowledges, so the wait overlaps work instead of adding to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from heard.streams.base.redaction import redact

log = logging.getLogger("heard.worker")


class SendGate:
    def __init__(self) -> None:
        self._durable: asyncio.Future[None] | None = None

    def close_until(self, durable: Awaitable[None]) -> None:
        """Hold the next sends until `durable` (the producer's flush) is done."""
        future = asyncio.ensure_future(durable)
        future.add_done_callback(_report_failure)
        self._durable = future

    async def wait(self) -> None:
        durable = self._durable
        if durable is not None and not durable.done():
            # `wait` neither cancels the flush when this send is cancelled nor raises its
            # failure (reported once, by `_report_failure`): the send goes on either way.
            await asyncio.wait([durable])


def _report_failure(future: asyncio.Future[None]) -> None:
    if future.cancelled():
        return
    failure = future.exception()
    if failure is not None:
        log.error("the producer could not flush before the next send (%s: %s); a worker "
                  "killed now may send those messages again", type(failure).__name__,
                  redact(str(failure)))
