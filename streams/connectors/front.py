"""Front: application webhooks and rule webhooks.

Application webhooks (https://dev.frontapp.com/docs/application-webhooks) wrap the event as
`{type, authorization, payload}` and are signed with X-Front-Signature = base64(HMAC-SHA256 of
`<X-Front-Request-Timestamp>:<raw body>`) with the app's signing key. Rule webhooks
(https://dev.frontapp.com/docs/rule-webhooks) send the event itself, `{id, type, emitted_at,
conversation, source, target}`, with short type names (inbound, outbound, out_reply, comment,
assign, archive, reopen), signed with X-Front-Signature = base64(HMAC-SHA1 of the raw body)
with the company's API secret. `secret_env` names whichever secret the operator uses.

Payloads: https://dev.frontapp.com/reference/events
Events: inbound_received (a new conversation when its first message, else a
customer message), outbound_sent (public reply), new_comment_added (internal),
assignee_changed, conversation_archived, conversation_reopened.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from heard.streams.connectors.base import (
    Activity,
    Person,
    Request,
    Unmappable,
    body_digest,
    event_time,
    hmac_b64,
    parse_time,
    same,
)

# A conversation whose first message arrived within this of its creation is new.
NEW_CONVERSATION_SECONDS = 5.0


def teammate(data: Any) -> Person | None:
    if not isinstance(data, Mapping):
        return None
    name = " ".join(str(data.get(k) or "") for k in ("first_name", "last_name")).strip()
    if not name and not data.get("email"):
        return None
    return Person(
        name or str(data.get("email")), email=data.get("email"), id=str(data.get("id") or "") or None
    )


# The other event types Front documents (https://dev.frontapp.com/reference/events): a
# teammate's mention, moves, tags, links, deletions, sending errors, reminders and merges
# tell the customer nothing.
UNUSED_RULE_TYPES = frozenset(
    {
        "unassign",
        "trash",
        "restore",
        "mention",
        "move",
        "forward",
        "tag",
        "untag",
        "link_added",
        "link_removed",
        "sending_error",
        "message_bounce_error",
        "reminder",
        "conversations_merged",
    }
)

# Rule webhooks name events as Front's event resource does; application webhooks add a verb.
RULE_EVENT_TYPES = {
    "inbound": "inbound_received",
    "outbound": "outbound_sent",
    "out_reply": "outbound_sent",
    "comment": "new_comment_added",
    "assign": "assignee_changed",
    "archive": "conversation_archived",
    "reopen": "conversation_reopened",
}


class Front:
    name = "front"

    def __init__(self, max_skew_seconds: float = 300) -> None:
        self.max_skew_seconds = max_skew_seconds

    def authentic(self, request: Request) -> bool:
        stamp = request.headers.get("X-Front-Request-Timestamp", "")
        if not request.secret:
            return False
        if not stamp:  # a rule webhook: no timestamp, SHA-1 over the body alone
            expected = hmac_b64(request.secret, request.body, "sha1")
            return same(expected, request.headers.get("X-Front-Signature"))
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 16):
            return False
        seconds = int(stamp) / 1000 if len(stamp) > 11 else int(stamp)
        if abs(time.time() - seconds) > self.max_skew_seconds:
            return False  # an old signed request replayed
        expected = hmac_b64(request.secret, stamp.encode() + b":" + request.body)
        return same(expected, request.headers.get("X-Front-Signature"))

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str:
        inner = payload.get("payload") or {}
        return str(inner.get("id") or body_digest(request.body))

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]:
        now = datetime.now(UTC)
        rule_kind = str(payload.get("type", ""))
        if (
            rule_kind in UNUSED_RULE_TYPES
            and not isinstance(payload.get("payload"), Mapping)
            and isinstance(payload.get("conversation"), Mapping)
        ):
            return [Activity("ignored", "-", now, why_ignored=f"Front event {rule_kind!r}")]
        kind, inner = kind_and_event(payload)
        conversation = inner.get("conversation")
        if not isinstance(conversation, Mapping) or not conversation.get("id"):
            if kind == "sync":
                return [Activity("ignored", "-", now, why_ignored="Front's subscription check")]
            raise Unmappable(f"Front {kind!r} event without a conversation id")
        at = event_time(inner.get("emitted_at"), f"Front {kind} event emitted_at")
        message = (inner.get("target") or {}).get("data") or {}
        tags = [str(t.get("name")) for t in conversation.get("tags") or []]
        common: dict[str, Any] = {
            "ticket": str(conversation["id"]),
            "at": at,
            "tags": tags,
            "payload": payload,
            "subject": conversation.get("subject"),
        }
        if kind == "inbound_received":
            return [inbound(conversation, message, at, common)]
        return [conversation_activity(kind, conversation, message, common, now)]


def kind_and_event(payload: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The event's kind and the object holding its conversation, from either of Front's
    webhook shapes: an application webhook, or a rule webhook's event."""
    if isinstance(payload.get("payload"), Mapping) and "type" in payload:
        return str(payload["type"]), payload["payload"]
    if isinstance(payload.get("conversation"), Mapping) and "type" in payload:
        rule_kind = str(payload["type"])
        if rule_kind not in RULE_EVENT_TYPES:
            raise Unmappable(
                f"unrecognised Front event type {rule_kind[:64]!r}: not one "
                "Front documents (dev.frontapp.com/reference/events)"
            )
        return RULE_EVENT_TYPES[rule_kind], payload
    raise Unmappable(
        "unrecognised Front payload: neither an application webhook "
        "{type, authorization, payload} nor a rule webhook event "
        "{id, type, conversation, ...}"
    )


def inbound(
    conversation: Mapping[str, Any], message: Mapping[str, Any], at: datetime, common: dict[str, Any]
) -> Activity:
    """A customer's message: a new conversation if it is the conversation's first, else a
    message on an open one."""
    body = message.get("text") or message.get("blurb")
    if conversation.get("created_at") is None or message.get("created_at") is None:
        # Without both times a first message cannot be told from a reply.
        raise Unmappable(
            "Front inbound event without conversation.created_at and "
            "target.data.created_at: a new conversation cannot be told "
            "from a reply"
        )
    created = parse_time(conversation.get("created_at"), at)
    sent = parse_time(message.get("created_at"), at)
    if abs((sent - created).total_seconds()) > NEW_CONVERSATION_SECONDS:
        return Activity("customer_message", body=body, **common)
    sender = next((r for r in message.get("recipients") or [] if r.get("role") == "from"), None)
    if sender is None:
        raise Unmappable("inbound message without a sender")
    handle = str(sender.get("handle"))
    return Activity(
        "created",
        customer=Person(
            str(sender.get("name") or handle),
            email=handle if "@" in handle else None,
            phone=handle if handle.startswith("+") else None,
        ),
        body=body,
        **common,
    )


def conversation_activity(
    kind: str,
    conversation: Mapping[str, Any],
    message: Mapping[str, Any],
    common: dict[str, Any],
    now: datetime,
) -> Activity:
    """What the team did on a conversation; a kind heard does not read is ignored."""
    if kind == "outbound_sent":
        return Activity(
            "agent_reply",
            agent=teammate(message.get("author")),
            body=message.get("text") or message.get("blurb"),
            **common,
        )
    if kind == "new_comment_added":
        return Activity(
            "internal_note", agent=teammate(message.get("author")), body=message.get("body"), **common
        )
    if kind == "assignee_changed":
        return Activity("assigned", agent=teammate(conversation.get("assignee")), **common)
    if kind == "conversation_archived":
        return Activity("status", status="archived", **common)
    if kind == "conversation_reopened":
        return Activity("reopened", **common)
    return Activity("ignored", common["ticket"], now, why_ignored=f"Front event {kind!r}")
