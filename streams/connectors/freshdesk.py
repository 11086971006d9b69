"""Freshdesk: an automation rule's "Trigger webhook" action with basic authentication
(Freshdesk offers no request signing), sending the body in docs/connectors.md.

Automation webhooks: https://support.freshdesk.com/support/solutions/articles/132589
Freshdesk sends no delivery id; the body (which includes the ticket's update
time) is the identity, so a retried delivery maps to the same event ids.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from heard.streams.connectors import templated
from heard.streams.connectors.base import Activity, Request, body_digest, same


class Freshdesk:
    name = "freshdesk"

    def authentic(self, request: Request) -> bool:
        if not request.username or not request.password:
            return False
        token = base64.b64encode(f"{request.username}:{request.password}".encode()).decode()
        return same(f"Basic {token}", request.headers.get("Authorization"))

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str:
        return body_digest(request.body)

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]:
        return templated.activities(payload, "Freshdesk")
