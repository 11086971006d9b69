"""The recording fake used by unit tests passes the same conformance suite as real channels."""

from __future__ import annotations

import pytest

from heard.channels.base import (
    OutboundMessage,
    PermanentDeliveryError,
    Receipt,
    RetryableDeliveryError,
)
from heard.channels.recording import RecordingChannel
from tests.conformance import ChannelConformance

REFUSED = "refused@example.net"


class RefusingRecordingChannel(RecordingChannel):
    async def send(self, message: OutboundMessage) -> Receipt:
        if message.to == REFUSED:
            raise PermanentDeliveryError("550 no such user")
        return await super().send(message)


class TestRecordingConformance(ChannelConformance):
    @pytest.fixture
    def channel(self) -> RecordingChannel:
        return RefusingRecordingChannel()

    @pytest.fixture
    def unreachable(self) -> RecordingChannel:
        return RecordingChannel(failures=[RetryableDeliveryError("connection refused")])

    @pytest.fixture
    def deliverable(self) -> OutboundMessage:
        return OutboundMessage(notification_id="n-1", ticket_id="T-1", to="a@example.net", text="Hi")

    @pytest.fixture
    def refused(self) -> OutboundMessage:
        return OutboundMessage(notification_id="n-2", ticket_id="T-1", to=REFUSED, text="Hi")
