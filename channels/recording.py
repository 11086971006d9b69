"""A channel that records what it is asked to send: for unit tests of the core."""

from __future__ import annotations

from datetime import UTC, datetime

from heard.channels.base import DeliveryError, OutboundMessage, Receipt


class RecordingChannel:
    def __init__(self, name: str = "recording", failures: list[DeliveryError] | None = None) -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []
        self.failures = list(failures or [])
        self.closed = False

    async def send(self, message: OutboundMessage) -> Receipt:
        # Like the real channels, a closed one opens again when it is asked to send.
        self.closed = False
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return Receipt(message.notification_id, self.name, f"rec-{len(self.sent)}", datetime.now(UTC))

    async def aclose(self) -> None:
        self.closed = True
