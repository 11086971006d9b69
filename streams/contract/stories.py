"""Builders for canonical events used across tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def customer(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Amara Okafor",
        "preferred_name": "Amara",
        "pronouns": "she/her",
        "email": "amara@example.net",
        "language": "en",
        "timezone": "Europe/London",
        "preferred_channel": "email",
        "consent": {"email": True, "sms": False},
    }
    base.update(overrides)
    return base


AGENT = {"name": "Sam Reyes", "team": "parcels", "email": "sam@example.com"}


def event(kind: str, ticket: str, at: datetime, eid: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "schema": "heard.event/v1",
        "id": eid or f"{ticket}-{kind}-{at.timestamp():.0f}",
        "type": kind,
        "occurred_at": iso(at),
        "ticket_id": ticket,
        **fields,
    }


def created(ticket: str, at: datetime = T0, **fields: Any) -> dict[str, Any]:
    fields.setdefault("customer", customer())
    fields.setdefault("subject", "My parcel is late")
    return event("ticket.created", ticket, at, **fields)


def reply(ticket: str, at: datetime, public: bool = True, **fields: Any) -> dict[str, Any]:
    return event("ticket.agent_reply", ticket, at, agent=AGENT, public=public, **fields)


def resolved(ticket: str, at: datetime, **fields: Any) -> dict[str, Any]:
    fields.setdefault(
        "summary",
        {
            "what_happened": "The parcel was mis-sorted.",
            "what_changed": "It was re-routed with priority.",
            "prevention": "Missed sorts are now rescanned within hours.",
        },
    )
    return event("ticket.resolved", ticket, at, **fields)


def promised(ticket: str, at: datetime, due: datetime, pid: str = "P1", **fields: Any) -> dict[str, Any]:
    fields.setdefault("what", "Confirm the delivery slot")
    fields.setdefault("agent", AGENT)
    return event("ticket.checkpoint_promised", ticket, at, promise_id=pid, due_at=iso(due), **fields)


def dumps(item: dict[str, Any]) -> bytes:
    return json.dumps(item).encode()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


OPTIONS = [
    {"label": "Wait for the same model", "tradeoff": "no extra cost", "timeline": "ships on the 12th"},
    {
        "label": "Take the newer model now",
        "tradeoff": "a different colour",
        "timeline": "arrives in two days",
    },
    {"label": "A full refund", "timeline": "3 to 5 working days"},
]


def offered(
    ticket: str, at: datetime, offer: str = "O1", choose_by: datetime | None = None, **fields: Any
) -> dict[str, Any]:
    fields.setdefault("options", OPTIONS)
    if choose_by is not None:
        fields["choose_by"] = iso(choose_by)
    agent = fields.pop("agent", AGENT)  # None: an offer without an agent on it
    if agent is not None:
        fields["agent"] = agent
    return event("ticket.options_offered", ticket, at, offer_id=offer, **fields)


def chosen(
    ticket: str, at: datetime, option: int, offer: str = "O1", via: str = "sms", **fields: Any
) -> dict[str, Any]:
    return event("ticket.option_chosen", ticket, at, offer_id=offer, option=option, via=via, **fields)
