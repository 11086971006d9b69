"""A decided message whose delivery fails in a way no channel foresaw still ends with an
outcome: `failed` on notification-events with the reason, a dead letter, and the customer's
other consented channel — the worker neither crashes nor moves on in silence (real Kafka,
worker, SMTP and SMS capture)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.kafka.readback import read_topic
from heard.streams.policy.decide import decide
from tests.conftest import Catchers, Worker, wait_until
from tests.unit.test_policy import RULES

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(worker_with: Callable[..., Worker]) -> Worker:
    return worker_with()


def outbox_record(ticket: str) -> dict[str, Any]:
    """The acknowledgment the policy decides for a new ticket, with an address no event could
    carry (a NUL: aiosmtplib refuses the command, which no channel error maps)."""
    created = parse_event(
        stories.dumps(
            stories.created(
                ticket,
                datetime.now(UTC),
                urgent=True,
                customer=stories.customer(phone="+15005550006", consent={"email": True, "sms": True}),
            )
        )
    )
    [notification] = decide(None, created, created.occurred_at, RULES).notifications
    assert notification.fallback == ["sms"]
    return {**notification.model_dump(mode="json"), "recipient": "amara\u0000@example.net"}


async def test_an_unforeseen_delivery_failure_is_reported_dead_lettered_and_falls_back(
    worker: Worker, kafka_bootstrap: str, catchers: Catchers, topic_prefix: str
) -> None:
    ticket = f"DF-{topic_prefix.rstrip('.')}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            f"{topic_prefix}notifications-outbound",
            json.dumps(outbox_record(ticket)).encode(),
            key=ticket.encode(),
        )
    finally:
        await producer.stop()
    engine = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)

    async def outcomes() -> list[dict[str, Any]]:
        return [
            json.loads(v)
            for _, v, _ in await read_topic(engine, f"{topic_prefix}notification-events", key=ticket.encode())
        ]

    seen = await wait_until(
        outcomes,
        lambda got: {o["channel"] for o in got} >= {"email", "sms"},
        60,
        "the failed email's outcome and the SMS fallback's",
    )
    email = next(o for o in seen if o["channel"] == "email")
    assert email["status"] == "failed" and "delivery could not handle the record" in email["reason"]
    assert "amara" not in email["reason"]  # the address is redacted
    assert next(o for o in seen if o["channel"] == "sms")["status"] == "sent"
    letters = await wait_until(
        lambda: read_topic(engine, f"{topic_prefix}heard-dead-letters", key=ticket.encode()),
        bool,
        60,
        "the email's dead letter",
    )
    assert [headers["heard-stage"] for _, _, headers in letters] == [b"delivery"]
    log = worker.log.read_text()
    assert "Crashed reason=" not in log and worker.process is not None
    assert worker.process.poll() is None
