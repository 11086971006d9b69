"""What Twilio sends back: delivery status callbacks and inbound messages.

Pure parsing and signature checking with the twilio SDK's own validator; the
HTTP routes live in `streams/worker/web.py`. Twilio signs the exact public URL it
called (with its query string) plus the POST fields, with the account's auth
token, so the URL is rebuilt from the configured public origin, never from the
Host header a caller controls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twilio.request_validator import RequestValidator, get_signature_algorithm

# The paths of the public routes Twilio calls (the worker serves them; the SMS channel
# names the status one in each message it sends).
STATUS_CALLBACK_PATH = "/twilio/status"
INBOUND_PATH = "/twilio/inbound"
SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

# Progress of one message. A report never moves a message backwards: an
# out-of-order "sent" after "delivered" is ignored. Final states share a rank,
# so the first final answer stands.
STATUS_RANK: dict[str, int] = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
    "read": 4,
}


class BadCallback(ValueError):
    """A callback that is well signed but not one heard understands."""


def signature_valid(auth_token: str, url: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    signature = headers.get(SIGNATURE_HEADER)
    if not auth_token or not signature:
        return False
    algorithm = get_signature_algorithm(headers.get(SETTINGS_HEADER))
    return bool(RequestValidator(auth_token).validate(url, params, signature, algorithm=algorithm))


@dataclass(frozen=True)
class StatusReport:
    message_sid: str
    status: str
    error_code: str | None
    to: str | None = None

    @property
    def rank(self) -> int:
        return STATUS_RANK[self.status]


# Twilio's message ids: SM (text) or MM (media) and 32 hex digits. Twilio signs the URL and
# the fields run together without separators, so a field's boundary is not signed: a value
# shaped like no real id is refused, which keeps a captured request from being re-cut into
# a "new" message with the same signature.
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")


def _sid(params: Mapping[str, str]) -> str:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not MESSAGE_SID.fullmatch(sid):
        raise BadCallback("MessageSid is missing or not a Twilio message id")
    return sid


def parse_status(params: Mapping[str, str]) -> StatusReport:
    sid = _sid(params)
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if status not in STATUS_RANK:
        raise BadCallback(f"unknown message status {status!r}")
    return StatusReport(sid, status, params.get("ErrorCode") or None, params.get("To") or None)


@dataclass(frozen=True)
class InboundMessage:
    message_sid: str
    from_number: str
    to_number: str
    body: str


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    sid = _sid(params)
    sender = params.get("From")
    if not sender:
        raise BadCallback("inbound message without From")
    return InboundMessage(sid, sender, params.get("To", ""), params.get("Body", ""))


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
