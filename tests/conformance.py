"""The conformance suite every delivery channel passes.

A channel's test module subclasses `ChannelConformance` and provides four
fixtures: `channel` (working, against its real peer), `unreachable` (the same
channel pointed at an address nobody answers), `deliverable` (a message the
peer accepts) and `refused` (a message the peer refuses for good).
"""

from __future__ import annotations

from datetime import UTC

import pytest

from heard.channels.base import (
    Channel,
    DeliveryError,
    OutboundMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from heard.channels.registry import PLUGINS


class ChannelConformance:
    async def test_implements_the_channel_protocol(self, channel: Channel) -> None:
        assert isinstance(channel, Channel)
        assert channel.name in PLUGINS or channel.name == "recording"

    async def test_an_accepted_message_gets_a_receipt(
        self, channel: Channel, deliverable: OutboundMessage
    ) -> None:
        receipt = await channel.send(deliverable)
        assert receipt.notification_id == deliverable.notification_id
        assert receipt.channel == channel.name
        assert receipt.provider_id, "the provider's id is what status reports refer to"
        assert receipt.accepted_at.tzinfo is UTC

    async def test_a_refused_message_is_a_permanent_error_with_a_reason(
        self, channel: Channel, refused: OutboundMessage
    ) -> None:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(refused)
        assert caught.value.reason and not caught.value.retryable

    async def test_an_unreachable_provider_is_a_retryable_error(
        self, unreachable: Channel, deliverable: OutboundMessage
    ) -> None:
        with pytest.raises(RetryableDeliveryError) as caught:
            await unreachable.send(deliverable)
        assert isinstance(caught.value, DeliveryError) and caught.value.retryable

    async def test_closing_twice_is_harmless_and_a_closed_channel_still_sends(
        self, channel: Channel, deliverable: OutboundMessage
    ) -> None:
        first = await channel.send(deliverable)
        await channel.aclose()
        await channel.aclose()
        # A worker closes its channels on shutdown; a late message in flight must still
        # get a real answer (a fresh connection), never an error about a closed client.
        again = await channel.send(deliverable)
        assert again.notification_id == first.notification_id and again.provider_id
        await channel.aclose()
