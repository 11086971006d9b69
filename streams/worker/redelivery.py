"""The redelivery agents: one per retry topic, each holding a deferred message until its
time and then handing it back to the delivery agent.

One topic per wait keeps each partition in due order; the offset is committed only after
the hand-back, so a crash while waiting loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from heard.streams.contract.state import Notification
from heard.streams.worker.agent import RecordAgent
from heard.streams.worker.sink import Clock, DeadLetters, InboundRecord, Sink

STAGE = "redelivery"


class RedeliveryAgent(RecordAgent):
    stage = STAGE

    def __init__(
        self,
        *,
        outbound: str,
        sink: Sink,
        dead_letters: DeadLetters,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.outbound = outbound
        self.sink = sink
        self.dead_letters = dead_letters
        self.clock = clock
        self.sleep = sleep

    async def handle(self, record: InboundRecord) -> None:
        """Hold the deferred message until its time, then hand it back to delivery."""
        try:
            notification = Notification.model_validate_json(record.value)
        except ValueError as exc:
            await self.dead_letters.send(record, f"not a notification record: {exc}", STAGE)
            return
        if notification.not_before is not None:
            delay = (notification.not_before - self.clock()).total_seconds()
            if delay > 0:
                await self.sleep(delay)  # the record holds its partition until not_before
        await self.sink.emit(self.outbound, record.key, record.value)
