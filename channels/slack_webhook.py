"""The team's messages (agent nudges, lead escalations, an unreachable customer) posted to
Slack through incoming webhooks (https://api.slack.com/messaging/webhooks).

A webhook URL is a secret that names one Slack channel, so the config names environment
variables, one per route (`default`, `lead`, `parcels`, `lead:parcels`, ...), and a
notification carries only the route's name: no URL ever reaches a Kafka topic.

Slack answers 200 `ok`, or a status and a short reason in the body: 400 `invalid_payload`
or `no_text`, 403 `action_prohibited`, 404 `channel_not_found` or `no_service` (the
webhook was removed), 410 `channel_is_archived`, 429 with `Retry-After` when more than
about one message a second goes to a webhook, 500 `rollup_error`. Throttling, 5xx and a
peer that cannot be reached are worth another try; the rest is not.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout
from pydantic import BaseModel, ConfigDict, Field, field_validator

from heard.channels.base import (
    Channel,
    ChannelPlugin,
    OutboundMessage,
    PermanentDeliveryError,
    Receipt,
    RetryableDeliveryError,
    TemplateParts,
    retry_after_seconds,
)
from heard.channels.mime import single_line

# Slack shows the start of a long message and truncates text past 40,000 characters.
MAX_TEXT = 40_000
# `&`, `<` and `>` are Slack's control characters: `<!channel>` pings everyone and `<url|x>`
# is a link; a `>` or `*` opening a line is a quote or a heading. Every value a template
# prints (a customer's name, subject or words) is escaped and kept on one line, so it can
# neither mention anyone nor pass for heard's own quote or heading; the templates' own
# markup is the writers' and is sent as written.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_CONTROL = re.compile(r"[&<>]")


def slack_value(value: str) -> str:
    return _CONTROL.sub(lambda match: _ENTITIES[match.group(0)], single_line(value))


class SlackSettings(BaseModel):
    """`slack:` in config/channels.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: dict[str, str] = Field(
        default_factory=dict,
        validate_default=True,
        description="route -> the environment variable holding that route's webhook URL; "
        "routes as for email's internal_recipients: default, lead, <team>, lead:<team>",
    )
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("webhooks")
    @classmethod
    def _some_route(cls, value: dict[str, str]) -> dict[str, str]:
        if "default" not in value and "lead" not in value:
            raise ValueError(
                "name a webhook for `default` (agents' nudges) or `lead` "
                "(escalations), each the name of an environment variable"
            )
        return value


@dataclass(frozen=True)
class SlackConfig:
    # Each URL is a secret: kept out of the config's repr, so no log line can show one.
    webhook_urls: Mapping[str, str] = field(repr=False)
    timeout: float = 10.0
    routes: tuple[str, ...] = field(default=())


def webhook_url(value: str, where: str) -> str:
    """A webhook URL as Slack gives it (https); plain http only to this machine (a local
    peer standing in for Slack). What is wrong is said without the URL, which is a secret."""
    url = value.strip()
    refused = ValueError(f"{where}: not a webhook URL (https://hooks.slack.com/services/...)")
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise refused
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname or "", parts.port  # a port that is not a number raises here
    except ValueError:
        raise refused from None
    if parts.scheme.lower() == "https" and host:
        return url
    try:
        loopback = ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parts.scheme.lower() == "http" and loopback:
        return url
    raise refused


def configure(settings: SlackSettings, environ: Mapping[str, str] | None = None) -> SlackConfig:
    env = os.environ if environ is None else environ
    urls = {}
    for route, variable in settings.webhooks.items():
        value = env.get(variable, "")
        if not value:
            raise ValueError(
                f"slack.webhooks.{route}: the environment variable {variable} "
                "is not set (it holds the route's webhook URL)"
            )
        urls[route] = webhook_url(value, f"slack.webhooks.{route} ({variable})")
    return SlackConfig(urls, settings.timeout_seconds, tuple(settings.webhooks))


class SlackWebhookChannel:
    name = "slack"

    def __init__(self, config: SlackConfig) -> None:
        self.config = config
        self._session: ClientSession | None = None

    async def send(self, message: OutboundMessage) -> Receipt:
        url = self.config.webhook_urls.get(message.to)
        if url is None:
            raise PermanentDeliveryError(
                f"Slack: no webhook for the route {message.to!r} (config/channels.yaml slack.webhooks)"
            )
        if self._session is None or self._session.closed:
            # Created on first use inside the running loop, and again after aclose.
            self._session = ClientSession(timeout=ClientTimeout(total=self.config.timeout))
        body = json.dumps({"text": message.text[:MAX_TEXT]}, ensure_ascii=False).encode()
        try:
            async with self._session.post(
                url, data=body, headers={"Content-Type": "application/json; charset=utf-8"}
            ) as response:
                answer = (await response.text(errors="replace"))[:200]
                status, retry_after = response.status, response.headers.get("Retry-After")
        except (ClientError, TimeoutError, OSError) as exc:
            # `from None`: aiohttp's own errors may quote the URL, which is a secret.
            raise RetryableDeliveryError(f"Slack unreachable: {type(exc).__name__}") from None
        if status == 200:
            return Receipt(
                message.notification_id,
                self.name,
                f"slack-{uuid.uuid4().hex}",
                datetime.now(UTC),
                detail=answer,
            )
        reason = f"Slack {status}: {answer.strip() or 'no reason given'}"
        if status == 429 or status >= 500:
            raise RetryableDeliveryError(
                reason, code=str(status), retry_after=retry_after_seconds(retry_after)
            )
        raise PermanentDeliveryError(reason, code=str(status))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _build(settings: SlackSettings, environ: Mapping[str, str]) -> Channel:
    return SlackWebhookChannel(configure(settings, environ))


PLUGIN = ChannelPlugin(
    name="slack",
    parts=TemplateParts(text="slack.txt", escape=slack_value),
    audiences=frozenset({"team"}),
    settings_model=SlackSettings,
    build=_build,
    team_routes=lambda settings: {route: route for route in settings.webhooks},
)
