"""The team's email when a customer's message could not reach them by any channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from heard.streams.base.redaction import redact
from heard.streams.contract.state import Notification, notification_id


@dataclass(frozen=True)
class TeamInbox:
    """Where the team's messages go: per channel carrying them, its routes (route ->
    recipient: `default` for the team, `lead` for the lead), in the team's language and zone."""

    routes: Mapping[str, Mapping[str, str]]
    locale: str
    timezone: str


def unreachable_notices(n: Notification, reason: str, inbox: TeamInbox, now: datetime) -> list[Notification]:
    """No customer message is lost in silence: when none of the customer's consented channels
    can carry it, the team and the lead are told, by each channel carrying the team's
    messages, what and why. A template's fault is heard's own, not the customer's
    reachability: its dead letter names the file and line, and a replay after the fix sends
    the message, so nobody is told of it."""
    if n.audience != "customer" or reason.startswith("template:"):
        return []
    customer = n.context.get("customer") or {}
    context = {
        "ticket": {"id": n.ticket_id, "subject": (n.context.get("ticket") or {}).get("subject", "")},
        "customer": {"greeting_name": customer.get("greeting_name", "")},
        "undelivered": {"kind": n.kind, "channel": n.channel, "reason": redact(reason)},
        "sent_at": now.isoformat(),
    }
    notices = []
    for channel, routes in inbox.routes.items():
        for audience, route in (("agent", "default"), ("lead", "lead")):
            recipient = routes.get(route)
            if not recipient:
                continue
            notices.append(
                Notification(
                    notification_id=notification_id(
                        n.ticket_id, "customer_unreachable", n.notification_id, channel, audience
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
