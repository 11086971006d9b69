"""Recording that a recipient withdrew consent, wherever the worker learns it (a provider's
refusal, a status report): in this worker's ledger at once, and on the consent topic."""

from __future__ import annotations

from typing import Literal

from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate
from heard.streams.worker.sink import Clock, Sink


class OptOuts:
    def __init__(self, ledger: ConsentLedger, sink: Sink, topic: str, clock: Clock) -> None:
        self.ledger = ledger
        self.sink = sink
        self.topic = topic
        self.clock = clock

    async def record(self, channel: str, address: str, source: str) -> None:
        kind: Literal["sms", "email"] = "sms" if channel == "sms" else "email"
        previous = self.ledger.current(kind, address)
        # The messages already handled stay remembered, so no replay can undo this either.
        update = ConsentUpdate(kind, address, False, self.clock(), source,
                               previous.handled if previous else ())
        self.ledger.apply(update)
        await self.sink.emit(self.topic, update.key.encode(), update.to_json())
