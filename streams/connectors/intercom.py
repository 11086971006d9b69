"""Intercom conversations: webhook notifications signed with X-Hub-Signature (HMAC-SHA1
of the body with the app's client secret).

Payloads: https://developers.intercom.com/docs/references/webhooks/webhook-models
Topics: conversation.user.created, conversation.user.replied,
conversation.admin.replied, conversation.admin.noted (internal),
conversation.admin.assigned, conversation.admin.closed, conversation.admin.opened,
conversation.admin.snoozed.
"""

from __future__ import annotations

import re
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
    hub_signature_valid,
    text,
)

TAGS = re.compile(r"<[^>]+>")


def plain(html: Any) -> str | None:
    """Intercom bodies are HTML; keep the words."""
    return TAGS.sub(" ", str(html)).strip() if html else None


# Intercom's author types: people who write in, and the team. Bots are neither.
CUSTOMER_TYPES = ("user", "lead", "contact")


def requester(item: Mapping[str, Any]) -> Person | None:
    """The customer of a new conversation, wherever this payload version keeps them: the
    contact (`item.user`, older API), the source's author (2.x), the first message's or
    first part's author. Only a customer-type author counts; a bot's address never does."""
    parts = (item.get("conversation_parts") or {}).get("conversation_parts") or []
    candidates = [
        item.get("user"),
        (item.get("source") or {}).get("author"),
        (item.get("conversation_message") or {}).get("author"),
        (parts[0] or {}).get("author") if parts else None,
    ]
    for candidate in candidates:
        if not isinstance(candidate, Mapping):
            continue
        if candidate.get("type") not in CUSTOMER_TYPES:
            continue
        name, email = text(candidate.get("name")), text(candidate.get("email"))
        if name or email:
            return Person(name or str(email), email=email, id=text(candidate.get("id")))
    return None


# The other topic families Intercom documents (https://developers.intercom.com/docs/references/
# webhooks/webhook-models): none is a conversation's, so they are ignored by name.
UNUSED_FAMILIES = (
    "contact.",
    "user.",
    "company.",
    "visitor.",
    "ticket.",
    "event.",
    "content_stat.",
    "admin.",
    "job.",
    "conversation_part.",
    "data_connector.",
    "news_item.",
    "segment.",
)


def assignment(
    last: Mapping[str, Any], item: Mapping[str, Any], common: dict[str, Any], now: datetime
) -> Activity:
    """Who a conversation was assigned to: the part's `assigned_to`, else the conversation's
    `assignee` (never the admin who did the assigning). A team inbox is nobody to name."""
    to = last.get("assigned_to") or {}
    named = to if to.get("name") else item.get("assignee") or {}
    if to.get("type") == "nobody_admin":
        return Activity("ignored", str(common["ticket"]), now, why_ignored="unassigned")
    if to.get("type") == "team" or (not to and named.get("type") == "team"):
        return Activity(
            "ignored", str(common["ticket"]), now, why_ignored="assigned to a team inbox, not a person"
        )
    if not named.get("name"):
        raise Unmappable(
            "Intercom assignment names nobody: assigned_to has no name and the conversation no assignee name"
        )
    return Activity(
        "assigned",
        agent=Person(str(named["name"]), email=named.get("email"), id=str(named.get("id") or "") or None),
        **common,
    )


class Intercom:
    name = "intercom"

    def authentic(self, request: Request) -> bool:
        return hub_signature_valid(request, "X-Hub-Signature", "sha1")

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str:
        return str(payload.get("id") or body_digest(request.body))

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]:
        topic = str(payload.get("topic", ""))
        now = datetime.now(UTC)
        if payload.get("type") != "notification_event" or not topic:
            raise Unmappable("unrecognised Intercom payload: not a notification_event with a topic")
        item = (payload.get("data") or {}).get("item")
        if not topic.startswith("conversation."):
            if topic.startswith(UNUSED_FAMILIES) or topic == "ping":
                return [Activity("ignored", "-", now, why_ignored=f"Intercom topic {topic!r}")]
            raise Unmappable(f"unrecognised Intercom topic {topic[:64]!r}: not one Intercom documents")
        if not isinstance(item, Mapping):
            raise Unmappable(f"unrecognised Intercom payload: {topic} without data.item")
        conversation = str(item.get("id") or "")
        if not conversation:
            raise Unmappable("conversation without an id")
        at = event_time(payload.get("created_at"), f"Intercom {topic} created_at")
        tags = [str(t.get("name")) for t in (item.get("tags") or {}).get("tags", [])]
        parts = (item.get("conversation_parts") or {}).get("conversation_parts") or []
        last = parts[-1] if parts else {}
        common: dict[str, Any] = {"ticket": conversation, "at": at, "tags": tags, "payload": payload}
        if topic == "conversation.user.created":
            source = item.get("source") or item.get("conversation_message") or {}
            customer = requester(item)
            if customer is None:
                raise Unmappable(
                    "new conversation without the customer's name or email (looked "
                    "in item.user, item.source.author, item.conversation_message"
                    ".author and the first part's author)"
                )
            return [
                Activity(
                    "created",
                    subject=plain(source.get("subject")) or plain(source.get("body")),
                    body=plain(source.get("body")),
                    customer=customer,
                    **common,
                )
            ]
        if last and (last.get("author") or {}).get("type") == "bot":
            return [
                Activity(
                    "ignored",
                    conversation,
                    now,
                    why_ignored=f"{topic} by a bot (Fin, operator): not the team's reply",
                )
            ]
        return [conversation_activity(topic, item, last, common, now)]


def conversation_activity(
    topic: str, item: Mapping[str, Any], last: Mapping[str, Any], common: dict[str, Any], now: datetime
) -> Activity:
    """A conversation topic after the new conversation: who did what, by the last part."""
    author = last.get("author") or {}
    admin = Person(
        str(author.get("name") or "Support"),
        email=author.get("email"),
        id=str(author.get("id") or "") or None,
    )
    body = plain(last.get("body"))
    if topic == "conversation.user.replied":
        return Activity("customer_message", body=body, **common)
    if topic == "conversation.admin.replied":
        return Activity("agent_reply", agent=admin, body=body, **common)
    if topic == "conversation.admin.noted":
        return Activity("internal_note", agent=admin, body=body, **common)
    if topic == "conversation.admin.assigned":
        return assignment(last, item, common, now)
    if topic == "conversation.admin.closed":
        return Activity("status", status="closed", agent=admin, body=body, **common)
    if topic == "conversation.admin.opened":
        return Activity("reopened", **common)
    if topic == "conversation.admin.snoozed":
        return Activity("status", status="snoozed", **common)
    return Activity("ignored", common["ticket"], now, why_ignored=topic)
