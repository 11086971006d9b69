"""SMS through the official twilio SDK (async client).

The only module that imports twilio. The SDK is pointed at a configurable base
URL through an `http_client` that swaps scheme and host and keeps the path, so
production and the contract peer run the same code. SDK retries stay off:
retries live in one layer, the delivery agent's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import ClientError, ClientSession, ClientTimeout
from pydantic import BaseModel, ConfigDict, Field, field_validator
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from heard.channels.base import (
    Channel,
    ChannelPlugin,
    OutboundMessage,
    PermanentDeliveryError,
    Receipt,
    RecipientOptedOut,
    RetryableDeliveryError,
    TemplateParts,
    retry_after_seconds,
)
from heard.channels.twilio_webhooks import STATUS_CALLBACK_PATH

OPTED_OUT = 21610


class SmsSettings(BaseModel):
    """`sms:` in config/channels.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["twilio"] = "twilio"
    account_sid_env: str = "TWILIO_ACCOUNT_SID"
    auth_token_env: str = "TWILIO_AUTH_TOKEN"  # noqa: S105 - the variable's name, not a secret
    from_number: str | None = None
    messaging_service_sid: str | None = None
    base_url: str = "https://api.twilio.com"
    public_base_url: str | None = Field(
        None,
        description="the https origin Twilio reaches heard's web server at; when set, "
        "messages ask for status callbacks and callbacks are checked against it",
    )
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("public_base_url")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (Twilio signs the exact URL it calls)")
        return value.rstrip("/")

    def status_callback_url(self) -> str | None:
        return f"{self.public_base_url}{STATUS_CALLBACK_PATH}" if self.public_base_url else None


@dataclass(frozen=True)
class SmsConfig:
    """The section as written, and the account start-up reads from the environment."""

    settings: SmsSettings
    account_sid: str
    # Kept out of the repr, so no log line or traceback can show it.
    auth_token: str = field(repr=False)


def configure(settings: SmsSettings, environ: Mapping[str, str]) -> SmsConfig:
    if not (settings.from_number or settings.messaging_service_sid):
        raise ValueError("sms: set from_number or messaging_service_sid")
    for key, name in (
        ("account_sid_env", settings.account_sid_env),
        ("auth_token_env", settings.auth_token_env),
    ):
        if name not in environ:
            raise ValueError(f"sms.{key}: environment variable {name} is not set")
    return SmsConfig(settings, environ[settings.account_sid_env], environ[settings.auth_token_env])


# The SDK logs every request and response line by line at INFO; at a worker's usual
# level that was a third of its time sending texts. Its own logger stays available for
# debugging one request: set `heard.twilio_http` to INFO.
SDK_HTTP_LOG = logging.getLogger("heard.twilio_http")
SDK_HTTP_LOG.setLevel(logging.WARNING)


class BaseUrlHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Sends every SDK request to `base_url` (same path), with a real timeout."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(pool_connections=False, logger=SDK_HTTP_LOG)
        self.session: ClientSession | None = None
        self._timeout = timeout
        self._base = urlsplit(base_url)
        self.last_headers: dict[str, str] = {}

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's own signature
        allow_redirects: bool = False,
    ) -> Response:
        if self.session is None or self.session.closed:
            # Created on first use, inside the running loop, and again after aclose (a
            # message still in flight at shutdown gets a real answer, not "Session is
            # closed"). The SDK ignores its own timeout argument for aiohttp, so the timeout
            # lives on the session.
            self.session = ClientSession(timeout=ClientTimeout(total=self._timeout))
        parts = urlsplit(url)
        target = urlunsplit(
            (self._base.scheme, self._base.netloc, self._base.path.rstrip("/") + parts.path, parts.query, "")
        )
        response: Response = await super().request(
            method, target, params, data, headers, auth, None, allow_redirects
        )
        self.last_headers = dict(response.headers or {})
        return response


def redact_number(number: str) -> str:
    return f"{number[:3]}***{number[-2:]}" if len(number) > 6 else "***"


class TwilioSmsChannel:
    name = "sms"

    def __init__(self, config: SmsConfig, http_client: BaseUrlHttpClient | None = None) -> None:
        if not (config.settings.from_number or config.settings.messaging_service_sid):
            raise ValueError("SMS needs a from_number or a messaging_service_sid")
        self.config = config
        self._callback_url = config.settings.status_callback_url()
        self._http = http_client or BaseUrlHttpClient(
            config.settings.base_url, config.settings.timeout_seconds
        )
        self._client = Client(config.account_sid, config.auth_token, http_client=self._http)

    async def send(self, message: OutboundMessage) -> Receipt:
        cfg = self.config.settings
        kwargs: dict[str, object] = {"to": message.to, "body": message.text}
        if cfg.messaging_service_sid:
            kwargs["messaging_service_sid"] = cfg.messaging_service_sid
        else:
            kwargs["from_"] = cfg.from_number
        if self._callback_url:
            # The ids ride in the callback URL (Twilio signs it whole), so a status
            # report names its notification without a lookup table.
            query = urlencode({"notification_id": message.notification_id, "ticket_id": message.ticket_id})
            kwargs["status_callback"] = f"{self._callback_url}?{query}"
        try:
            created = await self._client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            raise self._translate(exc) from exc
        except (ClientError, TimeoutError, OSError) as exc:
            raise RetryableDeliveryError(f"Twilio unreachable: {type(exc).__name__}") from exc
        return Receipt(
            message.notification_id,
            self.name,
            str(created.sid or ""),
            datetime.now(UTC),
            detail=str(created.status or ""),
        )

    def _translate(self, exc: TwilioRestException) -> PermanentDeliveryError | RetryableDeliveryError:
        code = str(exc.code) if exc.code is not None else None
        reason = f"Twilio {exc.status}{f'/{code}' if code else ''}: {exc.msg}"
        if exc.status == 429 or exc.status >= 500:
            retry_after = retry_after_seconds(self._http.last_headers.get("Retry-After"))
            return RetryableDeliveryError(reason, code=code, retry_after=retry_after)
        if exc.code == OPTED_OUT:
            return RecipientOptedOut(reason, code=code)
        return PermanentDeliveryError(reason, code=code)

    async def aclose(self) -> None:
        await self._http.close()


def _build(settings: SmsSettings, environ: Mapping[str, str]) -> Channel:
    return TwilioSmsChannel(configure(settings, environ))


PLUGIN = ChannelPlugin(
    name="sms",
    parts=TemplateParts("sms.txt", one_line=True),
    audiences=frozenset({"customer"}),
    settings_model=SmsSettings,
    build=_build,
)
