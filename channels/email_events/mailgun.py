"""Mailgun's webhooks: one JSON object per event, `event-data` beside a `signature` object
whose `signature` is the hex HMAC-SHA256 of `timestamp` + `token` under the account's
HTTP webhook signing key.

https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks/
https://documentation.mailgun.com/docs/mailgun/user-manual/events/
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from heard.channels.email_events.base import BadMailEvents, MailEvent, MailEventKind, bare_message_id, text_of

NAME = "mailgun"


def key_problem(key: str) -> str | None:
    """Mailgun's signing keys are long random strings; a short one is a placeholder."""
    return None if len(key) >= 24 else f"has {len(key)} characters; Mailgun's signing key has more than 24"


def authentic(key: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the body's signature object was made with the account's signing key."""
    del headers  # Mailgun signs inside the body
    try:
        signed = json.loads(body)["signature"]
        timestamp, token, signature = signed["timestamp"], signed["token"], signed["signature"]
    except (ValueError, KeyError, TypeError):
        return False
    if not all(isinstance(part, str) and part for part in (timestamp, token, signature)):
        return False
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def parse(body: bytes) -> list[MailEvent]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadMailEvents(f"not JSON: {exc}") from None
    item = data.get("event-data") if isinstance(data, dict) else None
    if not isinstance(item, dict):
        raise BadMailEvents("no event-data object")
    kind = _kind(item)
    if kind is None:
        return []
    address, event_id, stamp = item.get("recipient"), item.get("id"), item.get("timestamp")
    if not isinstance(address, str) or "@" not in address:
        raise BadMailEvents("event-data: no recipient")
    if not isinstance(event_id, str) or not event_id:
        raise BadMailEvents("event-data: no id")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        raise BadMailEvents("event-data: no timestamp")
    message = item.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    return [
        MailEvent(
            provider=NAME,
            kind=kind,
            address=address.strip(),
            event_id=event_id,
            at=datetime.fromtimestamp(stamp, UTC),
            detail=_detail(item),
            message_id=bare_message_id(headers.get("message-id")) if isinstance(headers, dict) else None,
        )
    ]


def _kind(item: Mapping[str, Any]) -> MailEventKind | None:
    name = item.get("event")
    if name == "failed":
        # One event name for both: Mailgun retries a temporary failure itself.
        return "soft_bounce" if item.get("severity") == "temporary" else "hard_bounce"
    if name == "complained":
        return "complaint"
    if name == "unsubscribed":
        return "unsubscribe"
    return None


def _detail(item: Mapping[str, Any]) -> str:
    status = item.get("delivery-status")
    if not isinstance(status, dict):
        return text_of(item.get("reason")) or str(item.get("event"))
    parts = [status.get("code"), status.get("message") or status.get("description")]
    return text_of(" ".join(str(part) for part in parts if part)) or text_of(item.get("reason"))
