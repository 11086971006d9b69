"""Sign webhook bodies the way each vendor documents it — written from the vendors'
docs, independently of heard's verification code, so a test compares the two."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "connectors"
SECRETS = {
    "ZENDESK_WEBHOOK_SECRET": "zd-signing-secret",
    "JIRA_WEBHOOK_SECRET": "jira-secret",
    "INTERCOM_CLIENT_SECRET": "ic-client-secret",
    "FRONT_APP_SECRET": "front-app-secret",
    "GITHUB_WEBHOOK_SECRET": "gh-secret",
    "FRESHDESK_WEBHOOK_USER": "heard",
    "FRESHDESK_WEBHOOK_PASSWORD": "fd-password",
    "HEARD_EVENTS_TOKEN": "Vq3n8ZkR2pW7xLc5Hj9TgB4mYd6sFa1E-events",
}
GITHUB_EVENTS = {
    "issues_opened": "issues",
    "issues_closed": "issues",
    "public_issues_opened": "issues",
    "public_issues_reopened": "issues",
    "public_issues_assigned": "issues",
    "public_comment_by_owner": "issue_comment",
    "issue_comment_created": "issue_comment",
}


def body_of(source: str, name: str) -> bytes:
    """The fixture as compact JSON bytes, as a vendor would send it."""
    data: Any = json.loads((FIXTURES / source / f"{name}.json").read_text())
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def signed_headers(
    source: str, name: str, body: bytes, *, wrong: bool = False, delivery: str = "d-1"
) -> dict[str, str]:
    def key(env: str) -> bytes:
        return (SECRETS[env] + ("-wrong" if wrong else "")).encode()

    headers = {"Content-Type": "application/json"}
    if source == "github":
        digest = hmac.new(key("GITHUB_WEBHOOK_SECRET"), body, hashlib.sha256).hexdigest()
        headers.update(
            {
                "X-Hub-Signature-256": f"sha256={digest}",
                "X-GitHub-Event": GITHUB_EVENTS[name],
                "X-GitHub-Delivery": delivery,
            }
        )
    elif source == "jira":
        digest = hmac.new(key("JIRA_WEBHOOK_SECRET"), body, hashlib.sha256).hexdigest()
        headers.update({"X-Hub-Signature": f"sha256={digest}", "X-Atlassian-Webhook-Identifier": delivery})
    elif source == "intercom":
        digest = hmac.new(key("INTERCOM_CLIENT_SECRET"), body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature"] = f"sha1={digest}"
    elif source == "front":
        stamp = str(int(time.time() * 1000))
        mac = hmac.new(key("FRONT_APP_SECRET"), stamp.encode() + b":" + body, hashlib.sha256)
        headers.update(
            {"X-Front-Request-Timestamp": stamp, "X-Front-Signature": base64.b64encode(mac.digest()).decode()}
        )
    elif source == "zendesk":
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        mac = hmac.new(key("ZENDESK_WEBHOOK_SECRET"), stamp.encode() + body, hashlib.sha256)
        headers.update(
            {
                "X-Zendesk-Webhook-Signature": base64.b64encode(mac.digest()).decode(),
                "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                "X-Zendesk-Webhook-Invocation-Id": delivery,
            }
        )
    elif source == "freshdesk":
        password = SECRETS["FRESHDESK_WEBHOOK_PASSWORD"] + ("-wrong" if wrong else "")
        token = base64.b64encode(f"{SECRETS['FRESHDESK_WEBHOOK_USER']}:{password}".encode())
        headers["Authorization"] = f"Basic {token.decode()}"
    return headers
