"""Twilio SendGrid's Event Webhook: a JSON array of events, signed with ECDSA (P-256,
SHA-256) over the timestamp header followed by the raw body; the verification key is the
base64 DER public key SendGrid shows under Mail Settings > Signed Event Webhook.

https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from heard.channels.email_events.base import BadMailEvents, MailEvent, MailEventKind, bare_message_id, text_of

NAME = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

# A `dropped` event names why SendGrid did not even try; these reasons are about the address.
DROPPED_FOR: dict[str, MailEventKind] = {
    "Bounced Address": "hard_bounce",
    "Invalid": "hard_bounce",
    "Spam Reporting Address": "complaint",
    "Unsubscribed Address": "unsubscribe",
}


def key_problem(key: str) -> str | None:
    """Why `key` is not a verification key SendGrid could have issued; None when it is."""
    try:
        public_key = load_der_public_key(base64.b64decode(key, validate=True))
    except (ValueError, binascii.Error):
        return "does not hold a base64 DER public key (SendGrid's verification key)"
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return "holds a public key that is not an elliptic-curve one (SendGrid's is P-256)"
    return None


def authentic(key: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether `body` carries SendGrid's signature under the account's verification key."""
    signature = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        return False
    try:
        public_key = load_der_public_key(base64.b64decode(key, validate=True))
        decoded = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    try:
        public_key.verify(decoded, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def parse(body: bytes) -> list[MailEvent]:
    """The events heard acts on; deliveries, opens, clicks and the like are left out."""
    try:
        items = json.loads(body)
    except ValueError as exc:
        raise BadMailEvents(f"not JSON: {exc}") from None
    if not isinstance(items, list):
        raise BadMailEvents("SendGrid posts a JSON array of events")
    events = []
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadMailEvents(f"event {number}: not an object")
        event = _event(item, number)
        if event is not None:
            events.append(event)
    return events


def _event(item: dict[str, Any], number: int) -> MailEvent | None:
    kind = _kind(item)
    if kind is None:
        return None
    address, event_id, stamp = item.get("email"), item.get("sg_event_id"), item.get("timestamp")
    if not isinstance(address, str) or "@" not in address:
        raise BadMailEvents(f"event {number}: no email address")
    if not isinstance(event_id, str) or not event_id:
        raise BadMailEvents(f"event {number}: no sg_event_id")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        raise BadMailEvents(f"event {number}: no timestamp")
    detail = " ".join(
        str(part) for part in (item.get("status"), item.get("reason") or item.get("response")) if part
    )
    return MailEvent(
        provider=NAME,
        kind=kind,
        address=address.strip(),
        event_id=event_id,
        at=datetime.fromtimestamp(stamp, UTC),
        detail=text_of(detail) or str(item["event"]),
        message_id=bare_message_id(item.get("smtp-id")),
    )


def _kind(item: dict[str, Any]) -> MailEventKind | None:
    name = item.get("event")
    if name == "bounce":
        # `blocked`: the receiving server refused this message for now (reputation, content),
        # not the address itself.
        return "soft_bounce" if item.get("type") == "blocked" else "hard_bounce"
    if name == "deferred":
        return "soft_bounce"
    if name == "dropped":
        return DROPPED_FOR.get(str(item.get("reason", "")))
    if name == "spamreport":
        return "complaint"
    if name in ("unsubscribe", "group_unsubscribe"):
        return "unsubscribe"
    return None
