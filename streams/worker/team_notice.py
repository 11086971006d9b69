"""The team's email when a customer's message could not reach them by any channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from heard.streams.base.redaction import redact
from heard.streams.contract.pronouns import object_pronouns
from heard.streams.contract.state import Audience, Notification, notification_id


@dataclass(frozen=True)
class TeamInbox:
    """Where the team's messages go: per channel carrying them, its routes (route ->
    recipient: `default` for the team, `lead` for the lead), in the team's language and zone."""

    routes: Mapping[str, Mapping[str, str]]
    locale: str
    timezone: str


def unreachable_notices(
    n: Notification,
    reason: str,
    inbox: TeamInbox,
    now: datetime,
    missed: str | None = None,
    instead: str | None = None,
) -> list[Notification]:
    """No customer message is lost in silence: when none of the customer's consented channels
    can carry it, the team, the lead and the ticket's owner are told what it said (`missed`,
    so they can pass it on) and why it did not go. With `instead` (a bounce found after the
    send), it went by that channel after all and the notice says so. A template's fault is
    heard's own, not the customer's reachability: its dead letter names the file and line, and
    a replay after the fix sends the message, so nobody is told of it."""
    if n.audience != "customer" or reason.startswith("template:"):
        return []
    customer = n.context.get("customer") or {}
    owner = n.context.get("owner") or {}
    context = {
        "ticket": {"id": n.ticket_id, "subject": (n.context.get("ticket") or {}).get("subject", "")},
        "customer": {
            "greeting_name": customer.get("greeting_name", ""),
            **object_pronouns(customer.get("pronouns")),  # "please contact her", as she asked
        },
        "undelivered": {
            "kind": n.kind,
            "channel": n.channel,
            "reason": redact(reason),
            "text": missed,
            "instead": instead,
        },
        "owner": {"name": owner["name"]} if owner.get("name") else None,
        "sent_at": now.isoformat(),
    }
    notices = []
    for channel, audience, recipient, reader in _readers(n, inbox):
        notices.append(
            Notification(
                notification_id=notification_id(
                    n.ticket_id, "customer_unreachable", n.notification_id, channel, reader
                ),
                ticket_id=n.ticket_id,
                kind="customer_unreachable",
                audience=audience,
                channel=channel,
                recipient=recipient,
                locale=inbox.locale,
                timezone=inbox.timezone,
                trigger_event_id=n.notification_id,
                decided_at=now,
                context=context,
            )
        )
    return notices


def _readers(n: Notification, inbox: TeamInbox) -> list[tuple[str, Audience, str, str]]:
    """(channel, audience, recipient, reader) for the team, the lead and, by email, the owner
    when they are someone else: the one who looks after the customer hears first-hand."""
    readers: list[tuple[str, Audience, str, str]] = []
    for channel, routes in inbox.routes.items():
        for audience, route in (("agent", "default"), ("lead", "lead")):
            recipient = routes.get(route)
            if recipient:
                readers.append((channel, cast(Audience, audience), recipient, audience))
    owner_email = n.owner_email
    email_routes = inbox.routes.get("email")
    if owner_email and email_routes is not None and owner_email not in email_routes.values():
        readers.append(("email", "agent", owner_email, "owner"))
    return readers
