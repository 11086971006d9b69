"""Logs an operator can ship: with HEARD_LOG_FORMAT=json the worker writes one JSON object
per line, and no line carries a customer's address, phone number or name."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from heard.streams.cli.event_files import read_events
from heard.streams.contract import stories
from tests.conftest import Catchers, Worker, wait_for
from tests.integration.test_end_to_end import mails_for, send
from tests.peers import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(worker_with: Callable[..., Worker]) -> Worker:
    return worker_with(HEARD_LOG_FORMAT="json")


async def test_json_logs_without_personal_data(
    worker: Worker, kafka_bootstrap: str, topic_prefix: str, catchers: Catchers
) -> None:
    valid, _ = read_events(REPO / "examples" / "events.jsonl")
    now = datetime.now(UTC)
    customers = [
        json.loads(raw)["customer"] for _, _, raw in valid if json.loads(raw)["type"] == "ticket.created"
    ]
    events = [
        stories.created(f"LOG-{n}", now, urgent=True, eid=f"log-{n}", customer=customer)
        for n, customer in enumerate(customers)
    ]
    # One that fails validation (its reason is logged) and one SMTP refusal (ditto).
    bad = stories.created("LOG-bad", now, customer=stories.customer(email="not an address"))
    await send(kafka_bootstrap, topic_prefix, [*events, bad])
    emailed = [n for n, c in enumerate(customers) if c.get("preferred_channel") != "sms"]
    await wait_for(
        lambda: all(mails_for(catchers.mail_dir, f"LOG-{n}") for n in emailed), 60, "the acknowledgments"
    )
    texted = [n for n, c in enumerate(customers) if c.get("preferred_channel") == "sms"]
    await wait_for(
        lambda: all(
            any(f"LOG-{n}" in path.read_text() for path in catchers.sms_dir.glob("*.json")) for n in texted
        ),
        60,
        "the acknowledgments by SMS",
    )
    await wait_for(lambda: "dead letter" in worker.log.read_text(), 60, "the dead letter's log line")

    lines = [line for line in worker.log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in parsed)
    text = worker.log.read_text()
    for customer in customers:
        phone = customer.get("phone")
        # The phone as written and as heard keeps it (E.164, no spaces or dashes).
        normalised = "".join(c for c in phone if c.isdigit() or c == "+") if phone else None
        for value in (
            customer.get("email"),
            phone,
            normalised,
            customer.get("name"),
            customer.get("preferred_name"),
        ):
            assert not value or value not in text, f"{value!r} is in the log"
    assert "not an address" not in text
