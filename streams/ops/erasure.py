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

from heard.streams.base.settings import EngineSettings
from heard.streams.contract.records import ForgetRequested, event_to_json, normalise_phone
from heard.streams.kafka.client import client_options
from heard.streams.kafka.readback import read_topic


def tickets_changelog(engine: EngineSettings) -> str:
    return engine.changelog("tickets")


def _state(value: bytes | None) -> dict[str, Any] | None:
    if not value:  # a tombstone: this ticket is already erased
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        raise ValueError(
            "a tickets changelog record is not JSON; was it written by heard?"
        ) from None  # Faust's table codec: the state's JSON text, as a JSON string
    state = json.loads(decoded) if isinstance(decoded, str) else decoded
    return state if isinstance(state, dict) else None


def _matches(customer: dict[str, Any], who: str, region: str | None) -> bool:
    try:
        phone = normalise_phone(who, region)
    except ValueError:
        phone = None
    return (
        who.strip().lower() == str(customer.get("email") or "").lower()
        or (phone is not None and phone == customer.get("phone"))
        or who.strip() == customer.get("id")
    )


async def _current_states(engine: EngineSettings) -> list[dict[str, Any]]:
    latest: dict[bytes, bytes | None] = {}
    for record_key, value, _ in await read_topic(engine, tickets_changelog(engine)):
        if record_key is not None:
            latest[record_key] = value
    states = []
    for ticket_key, stored in latest.items():
        state = _state(stored)
        if state:
            state.setdefault("ticket_id", json.loads(ticket_key))
            states.append(state)
    return states


async def tickets_of(engine: EngineSettings, who: str, region: str | None = None) -> list[str]:
    """The tickets whose customer is `who`: an email address, an id, or a phone number (in
    international form, or national in `region`, the connectors' default region)."""
    """The tickets whose current state holds this customer (by email, phone or id)."""
    return sorted(
        str(state["ticket_id"])
        for state in await _current_states(engine)
        if isinstance(state.get("customer"), dict) and _matches(state["customer"], who, region)
    )


def contact_key(contact: dict[str, Any]) -> str:
    """As `records.Contact.key`: their id, else email, else phone, else name."""
    return str(contact.get("id") or contact.get("email") or contact.get("phone") or contact.get("name"))


async def contacts_of(engine: EngineSettings, who: str, region: str | None = None) -> list[tuple[str, str]]:
    """(ticket, contact key) for each ticket that lists this person as one of its other
    contacts: erasing them removes them from the ticket, which stays the customer's."""
    return sorted(
        (str(state["ticket_id"]), contact_key(contact))
        for state in await _current_states(engine)
        for contact in state.get("contacts") or []
        if isinstance(contact, dict) and _matches(contact, who, region)
    )


async def request_forget(
    engine: EngineSettings, tickets: list[str], contacts: list[tuple[str, str]] | None = None
) -> None:
    producer = AIOKafkaProducer(**client_options(engine), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        now = datetime.now(UTC)
        wanted = [(ticket, None) for ticket in tickets] + list(contacts or [])
        for number, (ticket, contact) in enumerate(wanted):
            request = ForgetRequested(
                id=f"forget:{ticket}:{now.timestamp():.0f}:{number}",
                type="heard.forget",
                occurred_at=now,
                ticket_id=ticket,
                contact=contact,
            )
            await producer.send_and_wait(engine.topic("timers"), event_to_json(request), key=ticket.encode())
    finally:
        await producer.stop()
