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


# The longest a send waits for the previous receipts: a broker failing over can hold the
# producer's acknowledgments for many seconds, and every partition's next send would wait
# with it. Past this the send goes on (said once per stall): a worker killed in that window
# may send those messages again, which the receipts of the ones confirmed still bound.
MAX_WAIT_SECONDS = 30.0


class SendGate:
    def __init__(self, max_wait: float = MAX_WAIT_SECONDS) -> None:
        self._durable: asyncio.Future[None] | None = None
        self.max_wait = max_wait
        self._told: asyncio.Future[None] | None = None

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
            await asyncio.wait([durable], timeout=self.max_wait)
            if not durable.done() and self._told is not durable:
                self._told = durable
                log.warning(
                    "the producer has not confirmed the last receipts for %.0f s (a "
                    "broker failing over?); sending on: a worker killed now may send "
                    "those messages again",
                    self.max_wait,
                )


def _report_failure(future: asyncio.Future[None]) -> None:
    if future.cancelled():
        return
    failure = future.exception()
    if failure is not None:
        log.error(
            "the producer could not flush before the next send (%s: %s); a worker "
            "killed now may send those messages again",
            type(failure).__name__,
            redact(str(failure)),
        )
