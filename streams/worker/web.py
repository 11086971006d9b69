"""The worker's public HTTP listener (127.0.0.1 unless configured), the only one behind the
reverse proxy, and nothing else on it:
- `POST /twilio/status`: delivery reports for the SMS heard sent.
- `POST /twilio/inbound`: messages customers text to heard's number; STOP-family
  keywords withdraw SMS consent, START-family restore it.

The internal ops listener (metrics, liveness, readiness) is `heard.streams.base.http`.

A Twilio request is answered 2xx only after what it says is durably in Kafka,
so Twilio's own retries cover a broker outage; a bad signature gets 403 and is
counted, and nothing from it is published.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from aiohttp import web
from aiohttp.web import Request, Response
from prometheus_client import Counter

from heard.channels.twilio_webhooks import (
    EMPTY_TWIML,
    INBOUND_PATH,
    STATUS_CALLBACK_PATH,
    BadCallback,
    parse_inbound,
    parse_status,
    signature_valid,
)
from heard.streams.base.rate import RateLimit
from heard.streams.delivery.consent import ConsentLedger, change_consent, keyword_of

Parsed = TypeVar("Parsed")
log = logging.getLogger("heard.web")

CALLBACKS = Counter("heard_twilio_callbacks_total", "Twilio callbacks received", ["route", "result"])

Publish = Callable[[bytes, bytes], Awaitable[None]]
BODY_TIMEOUT_SECONDS = 10.0


class TwilioRoutes:
    def __init__(
        self,
        *,
        public_base_url: str | None,
        auth_token: str,
        ledger: ConsentLedger,
        publish_status: Publish,
        publish_consent: Publish,
        publish_inbound: Publish,
        clock: Callable[[], datetime],
        texts_limit: RateLimit | None = None,
    ) -> None:
        self.public_base_url = public_base_url
        self.auth_token = auth_token
        self.ledger = ledger
        self.publish_status = publish_status
        self.publish_consent = publish_consent
        self.publish_inbound = publish_inbound
        self.clock = clock
        # A person texts a few times a minute at most; a number flooding heard's inbound
        # topic is refused past this (STOP and START never are: consent always counts).
        self.texts_limit = texts_limit or RateLimit(burst=10, per_minute=6)

    async def _read(
        self, route: str, request: Request, parse: Callable[[dict[str, str]], Parsed]
    ) -> Parsed | Response:
        """The callback's fields, checked and parsed; or the answer that refuses it."""
        verified = await self._verified(route, request)
        if not isinstance(verified, dict):
            return verified
        try:
            return parse(verified)
        except BadCallback as exc:
            CALLBACKS.labels(route, "bad_request").inc()
            return _text(400, str(exc))

    async def _verified(self, route: str, request: Request) -> dict[str, str] | Response:
        try:
            # A sender trickling its body must not hold a connection open for ever.
            form = await asyncio.wait_for(request.post(), BODY_TIMEOUT_SECONDS)
        except TimeoutError:
            CALLBACKS.labels(route, "slow_body").inc()
            return _text(408, "the body did not arrive in time")
        params = {key: str(value) for key, value in form.items()}
        if self.public_base_url is None:
            CALLBACKS.labels(route, "not_configured").inc()
            return _text(403, "sms.public_base_url is not configured; callbacks are refused")
        url = f"{self.public_base_url}{request.path_qs}"
        if not signature_valid(self.auth_token, url, form, request.headers):
            CALLBACKS.labels(route, "bad_signature").inc()
            log.warning("%s: rejected a request with a missing or invalid X-Twilio-Signature", route)
            return _text(403, "invalid X-Twilio-Signature")
        return params

    async def status(self, request: Request) -> Response:
        report = await self._read("status", request, parse_status)
        if isinstance(report, Response):
            return report
        query = request.query
        record = {
            "message_sid": report.message_sid,
            "status": report.status,
            "error_code": report.error_code,
            "to": report.to,
            "notification_id": query.get("notification_id"),
            "ticket_id": query.get("ticket_id"),
            "at": self.clock().isoformat(),
        }
        await self.publish_status(report.message_sid.encode(), json.dumps(record).encode())
        CALLBACKS.labels("status", "accepted").inc()
        return _text(204, "")

    async def inbound(self, request: Request) -> Response:
        message = await self._read("inbound", request, parse_inbound)
        if isinstance(message, Response):
            return message
        keyword = keyword_of(message.body)
        # The signature too: the same signed bytes, however their fields are cut, are one
        # request Twilio made once.
        signed = (
            "sig:" + hashlib.sha256(request.headers.get("X-Twilio-Signature", "").encode()).hexdigest()[:24]
        )
        if keyword is not None:
            changed = await change_consent(
                self.ledger,
                self.publish_consent,
                self.clock,
                "sms",
                message.from_number,
                keyword == "start",
                f"twilio-inbound:{message.message_sid}",
                (message.message_sid, signed),
            )
            # None: Twilio's retry, or a captured request replayed: a START from before a
            # newer STOP must never undo it. Answered as Twilio expects; nothing changes.
            CALLBACKS.labels("inbound", keyword if changed else "replayed").inc()
        elif not self.texts_limit.allow(message.from_number):
            CALLBACKS.labels("inbound", "rate_limited").inc()
            log.warning(
                "inbound: a number texted more often than %.0f a minute; a text was not taken",
                self.texts_limit.per_second * 60,
            )
        else:
            await self.publish_inbound(
                message.from_number.encode(),
                json.dumps(
                    {
                        "message_sid": message.message_sid,
                        "from": message.from_number,
                        "to": message.to_number,
                        "body": message.body,
                        "at": self.clock().isoformat(),
                    }
                ).encode(),
            )
            CALLBACKS.labels("inbound", "message").inc()
        return Response(text=EMPTY_TWIML, content_type="text/xml")


def _text(status: int, text: str) -> Response:
    return Response(status=status, text=text or None)


def public_app(routes: TwilioRoutes, max_body_bytes: int = 65536) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post(STATUS_CALLBACK_PATH, routes.status)
    app.router.add_post(INBOUND_PATH, routes.inbound)
    return app
