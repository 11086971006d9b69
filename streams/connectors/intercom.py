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
    hub_signature_valid,
    parse_time,
)

TAGS = re.compile(r"<[^>]+>")


def plain(html: Any) -> str | None:
    """Intercom bodies are HTML; keep the words."""
    return TAGS.sub(" ", str(html)).strip() if html else None


class Intercom:
    name = "intercom"

    def authentic(self, request: Request) -> bool:
        return hub_signature_valid(request, "X-Hub-Signature", "sha1")

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str:
        return str(payload.get("id") or body_digest(request.body))

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]:
        topic = str(payload.get("topic", ""))
        now = datetime.now(UTC)
        item = (payload.get("data") or {}).get("item")
        if not topic.startswith("conversation.") or not isinstance(item, Mapping):
            return [Activity("ignored", "-", now, why_ignored=f"Intercom topic {topic!r}")]
        conversation = str(item.get("id") or "")
        if not conversation:
            raise Unmappable("conversation without an id")
        at = parse_time(payload.get("created_at"), now)
        tags = [str(t.get("name")) for t in (item.get("tags") or {}).get("tags", [])]
        parts = (item.get("conversation_parts") or {}).get("conversation_parts") or []
        last = parts[-1] if parts else {}
        author = last.get("author") or {}
        admin = Person(str(author.get("name") or "Support"), email=author.get("email"),
                       id=str(author.get("id") or "") or None)
        common: dict[str, Any] = {"ticket": conversation, "at": at, "tags": tags,
                                  "payload": payload}
        if topic == "conversation.user.created":
            source = item.get("source") or {}
            person = source.get("author") or {}
            if not person.get("name") and not person.get("email"):
                raise Unmappable("new conversation without the customer's name or email")
            name = str(person.get("name") or person.get("email"))
            return [Activity("created", subject=plain(source.get("subject")) or
                             plain(source.get("body")), body=plain(source.get("body")),
                             customer=Person(name, email=person.get("email"),
                                             id=str(person.get("id") or "") or None),
                             **common)]
        if topic == "conversation.user.replied":
            return [Activity("customer_message", body=plain(last.get("body")), **common)]
        if topic == "conversation.admin.replied":
            return [Activity("agent_reply", agent=admin, body=plain(last.get("body")),
                             **common)]
        if topic == "conversation.admin.noted":
            return [Activity("internal_note", agent=admin, body=plain(last.get("body")),
                             **common)]
        if topic == "conversation.admin.assigned":
            assignee = last.get("assigned_to") or {}
            name = assignee.get("name") or admin.name
            return [Activity("assigned", agent=Person(str(name), id=str(assignee.get("id") or "")
                                                      or None), **common)]
        if topic == "conversation.admin.closed":
            return [Activity("status", status="closed", agent=admin, body=plain(last.get("body")),
                             **common)]
        if topic == "conversation.admin.opened":
            return [Activity("reopened", **common)]
        if topic == "conversation.admin.snoozed":
            return [Activity("status", status="snoozed", **common)]
        return [Activity("ignored", conversation, now, why_ignored=topic)]
