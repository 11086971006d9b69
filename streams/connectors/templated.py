"""The webhook body heard asks Zendesk triggers and Freshdesk automations to send.

Both help desks let a rule POST a JSON body built from placeholders
(`{{ticket.id}}`, `{{ticket.requester.email}}`, ...). docs/connectors.md gives
the exact body per vendor; it always has this shape:

    {"heard_event": "created | customer_message | agent_reply | internal_note |
                     status | assigned | reopened | closed",
     "ticket": {"id", "subject", "status", "tags", "updated_at",
                "requester": {"name", "email", "phone", "id"},
                "assignee": {"name", "email", "id"}, "group",
                "comment": {"body"}}}

Unfilled placeholders and empty strings count as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heard.streams.connectors.base import Activity, Person, Unmappable, dig, event_time, text

KINDS = (
    "created",
    "customer_message",
    "agent_reply",
    "internal_note",
    "status",
    "assigned",
    "reopened",
    "closed",
)


def _person(data: Any) -> Person | None:
    name, email = text(dig(data, "name")), text(dig(data, "email"))
    if not name and not email:
        return None
    return Person(name or str(email), email=email, phone=text(dig(data, "phone")), id=text(dig(data, "id")))


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return (text(value) or "").replace(",", " ").split()


def activities(payload: Mapping[str, Any], vendor: str) -> list[Activity]:
    kind = text(payload.get("heard_event"))
    if kind is None:
        raise Unmappable(
            f"unrecognised {vendor} payload: no heard_event (use the body in docs/connectors.md)"
        )
    if kind not in KINDS:
        raise Unmappable(f"unknown heard_event {kind!r}; one of {', '.join(KINDS)}")
    ticket = payload.get("ticket")
    ticket_id = text(dig(ticket, "id"))
    if not isinstance(ticket, Mapping) or ticket_id is None:
        raise Unmappable(f"{vendor} body without ticket.id")
    at = event_time(ticket.get("updated_at"), f"{vendor} body ticket.updated_at")
    group = text(ticket.get("group"))
    return [
        Activity(
            kind,  # type: ignore[arg-type]
            ticket=ticket_id,
            at=at,
            subject=text(ticket.get("subject")),
            customer=_person(ticket.get("requester")),
            agent=_person(ticket.get("assignee")),
            team=group,
            body=text(dig(ticket, "comment.body")),
            status=text(ticket.get("status")),
            tags=_tags(ticket.get("tags")),
            payload=payload,
        )
    ]
