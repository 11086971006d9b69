"""Zendesk: a webhook connected to triggers, signed with X-Zendesk-Webhook-Signature =
base64(HMAC-SHA256(signing secret, timestamp + body)).

Signing: https://developer.zendesk.com/documentation/webhooks/verifying/

Two bodies are read:
- the trigger body in docs/connectors.md (`streams/connectors/templated.py`), which Zendesk
  fills from placeholders: the way to wire new tickets, because it carries the requester's
  name, address and warm data;
- Zendesk's own event-subscribed webhooks (`zen:event-type:ticket.*`,
  https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/): a
  comment (author `is_staff`, `is_public`) and a status change are mapped; they carry ids,
  not names or addresses, so a new ticket or an assignment from them is refused with that
  reason, and other ticket events are deliberately ignored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from heard.streams.connectors import templated
from heard.streams.connectors.base import (
    Activity,
    Person,
    Request,
    Unmappable,
    body_digest,
    dig,
    event_time,
    hmac_b64,
    same,
    text,
)


class Zendesk:
    name = "zendesk"

    def __init__(self, max_skew_seconds: float = 300) -> None:
        self.max_skew_seconds = max_skew_seconds

    def authentic(self, request: Request) -> bool:
        stamp = request.headers.get("X-Zendesk-Webhook-Signature-Timestamp", "")
        if not request.secret or not stamp:
            return False
        try:
            signed_at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return False
        if abs(time.time() - signed_at) > self.max_skew_seconds:
            return False  # an old signed request replayed
        expected = hmac_b64(request.secret, stamp.encode() + request.body)
        return same(expected, request.headers.get("X-Zendesk-Webhook-Signature"))

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str:
        # The invocation id header is outside the signature (which covers timestamp + body),
        # so a captured request replayed with a fresh id must still be the same event.
        return body_digest(request.body)

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]:
        kind = str(payload.get("type") or "")
        if kind.startswith("zen:event-type:"):
            return native_activities(kind.removeprefix("zen:event-type:"), payload)
        return templated.activities(payload, "Zendesk")


# Zendesk's ticket events that carry ids only: a message needs the requester's name and address.
NEEDS_THE_TRIGGER_BODY = {
    "ticket.created": "new tickets",
    "ticket.agent_assignment_changed": "assignments (the agent's name)",
}


def native_activities(kind: str, payload: Mapping[str, Any]) -> list[Activity]:
    detail = payload.get("detail") or {}
    event = payload.get("event") or {}
    ticket = text(dig(detail, "id")) or str(payload.get("subject", "")).rpartition(":")[2]
    if not ticket:
        raise Unmappable(f"Zendesk {kind} event without detail.id or a zen:ticket subject")
    if kind in NEEDS_THE_TRIGGER_BODY:
        raise Unmappable(
            f"Zendesk's {kind} event carries ids, not names or addresses; send "
            f"{NEEDS_THE_TRIGGER_BODY[kind]} with the trigger body in docs/connectors.md"
        )
    at = event_time(payload.get("time"), f"Zendesk {kind} event time")
    common: dict[str, Any] = {
        "ticket": ticket,
        "at": at,
        "subject": text(detail.get("subject")),
        "tags": [str(t) for t in detail.get("tags") or []],
        "payload": payload,
    }
    if kind == "ticket.comment_added":
        comment = event.get("comment") or {}
        author = comment.get("author") or {}
        body = text(comment.get("body"))
        if author.get("is_staff") is True:
            agent = Person(text(author.get("name")) or "Support", id=text(author.get("id")))
            public = comment.get("is_public") is not False
            return [Activity("agent_reply" if public else "internal_note", agent=agent, body=body, **common)]
        if author.get("is_staff") is False:
            return [Activity("customer_message", body=body, **common)]
        raise Unmappable(
            "Zendesk comment_added event without event.comment.author.is_staff: "
            "whether the customer or the team wrote it is unknown"
        )
    if kind == "ticket.status_changed":
        status = text(event.get("current")) or text(detail.get("status"))
        return [Activity("status", status=(status or "").lower(), **common)]
    if kind.startswith("ticket."):
        # Priority, tags, fields, forms, followers, merges, spam, redactions: nothing a
        # customer is told (https://developer.zendesk.com/api-reference/webhooks/event-types/).
        return [Activity("ignored", ticket, at, why_ignored=f"Zendesk {kind} (not used by heard)")]
    raise Unmappable(f"unrecognised Zendesk event type {kind[:64]!r}: heard reads ticket events")
