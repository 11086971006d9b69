"""Recording that a recipient withdrew consent, wherever the worker learns it (a provider's
refusal, a status report): in this worker's ledger at once, and on the consent topic."""

from __future__ import annotations

from typing import Literal

from heard.streams.delivery.consent import ConsentLedger, change_consent
from heard.streams.worker.sink import Clock, Sink


class OptOuts:
    def __init__(self, ledger: ConsentLedger, sink: Sink, topic: str, clock: Clock) -> None:
        self.ledger = ledger
        self.sink = sink
        self.topic = topic
        self.clock = clock

    async def record(self, channel: str, address: str, source: str) -> None:
        kind: Literal["sms", "email"] = "sms" if channel == "sms" else "email"

        async def publish(key: bytes, value: bytes) -> None:
            await self.sink.emit(self.topic, key, value)

        # In turn with any STOP or START for the same address; the messages already handled
        # stay remembered, so no replay can undo this either.
        await change_consent(self.ledger, publish, self.clock, kind, address, False, source)
