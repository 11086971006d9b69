"""`heard forget --customer EMAIL|PHONE|ID`: erase a person's tickets.

The tickets table is the worker's (changelog-backed), so erasure goes through the worker
that owns each ticket: this command finds the person's tickets in the table's changelog
and puts a `heard.forget` request for each on heard's own timers topic. The worker deletes
the ticket's state and timers; the deletions are tombstones in the compacted changelogs,
so compaction removes the data from Kafka too.

What is not erased here, and why: the consent ledger keeps a STOP (an opted-out number must
stay opted out), and the decision, outcome and dead-letter topics age out by their topic
retention (docs/operations.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from heard.streams.kafka_client import client_options
from heard.streams.readback import read_topic
from heard.streams.records import ForgetRequested, event_to_json, normalise_phone
from heard.streams.settings import EngineSettings


def tickets_changelog(engine: EngineSettings) -> str:
    return f"{engine.app_id}-tickets-changelog"


def _state(value: bytes | None) -> dict[str, Any] | None:
    if not value:  # a tombstone: this ticket is already erased
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        raise ValueError("a tickets changelog record is not JSON; was it written by heard?") \
            from None  # Faust's table codec: the state's JSON text, as a JSON string
    state = json.loads(decoded) if isinstance(decoded, str) else decoded
    return state if isinstance(state, dict) else None


def _matches(customer: dict[str, Any], who: str) -> bool:
    try:
        phone = normalise_phone(who)
    except ValueError:
        phone = None
    return (who.strip().lower() == str(customer.get("email") or "").lower()
            or (phone is not None and phone == customer.get("phone"))
            or who.strip() == customer.get("id"))


async def tickets_of(engine: EngineSettings, who: str) -> list[str]:
    """The tickets whose current state holds this customer (by email, phone or id)."""
    latest: dict[bytes, bytes | None] = {}
    for record_key, value, _ in await read_topic(engine, tickets_changelog(engine)):
        if record_key is not None:
            latest[record_key] = value
    found = []
    for ticket_key, stored in latest.items():
        state = _state(stored)
        if state and isinstance(state.get("customer"), dict) and _matches(state["customer"], who):
            found.append(str(state.get("ticket_id") or json.loads(ticket_key)))
    return sorted(found)


async def request_forget(engine: EngineSettings, tickets: list[str]) -> None:
    producer = AIOKafkaProducer(**client_options(engine), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        now = datetime.now(UTC)
        for ticket in tickets:
            request = ForgetRequested(id=f"forget:{ticket}:{now.timestamp():.0f}",
                                      type="heard.forget", occurred_at=now, ticket_id=ticket)
            await producer.send_and_wait(engine.topic("timers"), event_to_json(request),
                                         key=ticket.encode())
    finally:
        await producer.stop()
