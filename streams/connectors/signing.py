"""Sign a webhook body as each help desk does, for `heard ingest post`: a newcomer tries the
wiring with a sample before the vendor sends anything. Each scheme follows the vendor's
documentation (docs/connectors.md names it); the receiving side is each connector's
`authentic`, which the tests check against an independent implementation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from heard.streams.base.settings import SourceSettings

Signer = Callable[[bytes, str, datetime], dict[str, str]]


def _hex(secret: str, body: bytes, algorithm: str) -> str:
    return hmac.new(secret.encode(), body, algorithm).hexdigest()


def _github(body: bytes, secret: str, now: datetime) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": f"sha256={_hex(secret, body, 'sha256')}",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
    }


def _jira(body: bytes, secret: str, now: datetime) -> dict[str, str]:
    return {
        "X-Hub-Signature": f"sha256={_hex(secret, body, 'sha256')}",
        "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
    }


def _intercom(body: bytes, secret: str, now: datetime) -> dict[str, str]:
    return {"X-Hub-Signature": f"sha1={_hex(secret, body, 'sha1')}"}


def _front(body: bytes, secret: str, now: datetime) -> dict[str, str]:
    stamp = str(int(now.timestamp() * 1000))
    mac = hmac.new(secret.encode(), stamp.encode() + b":" + body, hashlib.sha256).digest()
    return {"X-Front-Request-Timestamp": stamp, "X-Front-Signature": base64.b64encode(mac).decode()}


def _zendesk(body: bytes, secret: str, now: datetime) -> dict[str, str]:
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Invocation-Id": str(uuid.uuid4()),
    }


SIGNERS: dict[str, Signer] = {
    "github": _github,
    "jira": _jira,
    "intercom": _intercom,
    "front": _front,
    "zendesk": _zendesk,
}


def signed_headers(
    source: str, settings: SourceSettings, env: dict[str, str], body: bytes, now: datetime
) -> dict[str, str]:
    """The headers that make `body` authentic to heard's `source` connector, from the
    secrets its configuration names. Raises KeyError naming a variable that is not set."""
    headers = {"Content-Type": "application/json"}
    if source == "freshdesk":  # basic auth, as Freshdesk's automation webhooks send it
        user, password = env[settings.username_env or ""], env[settings.password_env or ""]
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return headers
    secret = env[settings.secret_env or ""]
    return {**headers, **SIGNERS[source](body, secret, now)}
