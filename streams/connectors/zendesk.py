"""Zendesk: a webhook connected to triggers, signed with X-Zendesk-Webhook-Signature =
base64(HMAC-SHA256(signing secret, timestamp + body)).

Signing: https://developer.zendesk.com/documentation/webhooks/verifying/
Zendesk's own ticket event payloads carry ids, not names or addresses, so
heard asks the triggers to send the body in docs/connectors.md (see
`streams/connectors/templated.py`); Zendesk fills the placeholders.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from heard.streams.connectors import templated
from heard.streams.connectors.base import Activity, Request, body_digest, hmac_b64, same


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
        return templated.activities(payload, "Zendesk")
