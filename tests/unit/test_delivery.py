"""Delivery without a network: the recording channel stands in for a provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stamina import _core as stamina_core
from stamina.instrumentation import get_on_retry_hooks, set_on_retry_hooks

from heard.channels.base import RetryableDeliveryError
from heard.channels.recording import RecordingChannel
from heard.streams.base.settings import RetrySettings
from heard.streams.content.rendering import Renderer
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Notification
from heard.streams.delivery.sender import Delivery
from heard.streams.policy.decide import decide
from tests.peers import REPO
from tests.unit.test_policy import RULES


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits stamina schedules before each retry; the sleep itself is replaced by a
    clock that records it, so the test never sleeps."""
    scheduled: list[float] = []
    slept: list[float] = []

    async def no_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(stamina_core, "_smart_sleep", no_sleep)
    before = get_on_retry_hooks()
    set_on_retry_hooks([lambda details: scheduled.append(details.wait_for)])  # type: ignore[arg-type, misc]
    yield scheduled
    set_on_retry_hooks(list(before))
    assert slept == scheduled  # what was scheduled is what would have been waited


def acknowledgment() -> Notification:
    created = parse_event(stories.dumps(stories.created("T-d", urgent=True)))
    [note] = decide(None, created, created.occurred_at, RULES).notifications
    return note


async def test_a_providers_retry_after_is_the_wait_before_the_next_try(waits: list[float]) -> None:
    throttled = RetryableDeliveryError("Twilio 429: too many requests", retry_after=1.5)
    channel = RecordingChannel("email", failures=[throttled])
    delivery = Delivery(
        Renderer(REPO / "templates"),
        {"email": channel},
        RetrySettings(attempts=3, initial_seconds=0.2, max_seconds=2.0),
    )
    outcome = await delivery.deliver(acknowledgment())
    assert outcome.status == "sent" and outcome.attempts == 2
    assert waits == [1.5]


async def test_a_retry_after_longer_than_the_cap_waits_only_the_cap(waits: list[float]) -> None:
    throttled = RetryableDeliveryError("Twilio 429", retry_after=60)
    channel = RecordingChannel("email", failures=[throttled])
    delivery = Delivery(
        Renderer(REPO / "templates"),
        {"email": channel},
        RetrySettings(attempts=3, initial_seconds=0.2, max_seconds=2.0),
    )
    outcome = await delivery.deliver(acknowledgment())
    assert outcome.status == "sent" and waits == [2.0]


def test_a_contacts_fallback_is_theirs_not_the_customers() -> None:
    phone = stories.customer(phone="+14155550123", consent={"email": True, "sms": True})
    contact = {
        "id": "c-1",
        "name": "Jorge Ruiz",
        "email": "jorge@example.es",
        "phone": "+34612345679",
        "consent": {"email": True, "sms": True},
        "role": "requester",
    }
    created = parse_event(
        stories.dumps(stories.created("T-f", urgent=True, customer=phone, contacts=[contact]))
    )
    notes = decide(None, created, created.occurred_at, RULES).notifications
    customer, theirs = notes
    delivery = Delivery(Renderer(REPO / "templates"), {}, RetrySettings())
    mine = delivery.failed(customer, "refused").fallback
    other = delivery.failed(theirs, "refused").fallback
    assert mine is not None and other is not None
    assert (other.channel, other.recipient, other.contact) == ("sms", "+34612345679", "c-1")
    assert other.notification_id != mine.notification_id
