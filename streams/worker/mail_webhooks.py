"""`POST /email/events/<provider>` on the public listener: a mail provider's signed report
that an email heard sent bounced, was marked as spam, or was unsubscribed from.

What it says about the address is recorded in the consent ledger before the provider gets
its 2xx (a hard bounce, a complaint or an unsubscribe refuses the address at once; soft
bounces are counted), so the provider's own retries cover a broker outage. Each event about
an email heard sent then goes, keyed by its ticket, to the mail-events topic, where the
worker tells the team and sends the message by the customer's other channel. A request
without the provider's valid signature gets 401 and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from aiohttp import web
from aiohttp.web import Request, Response
from prometheus_client import Counter

from heard.channels.email_events import PROVIDERS
from heard.channels.email_events.base import BadMailEvents, MailEvent
from heard.channels.email_smtp import EmailSettings, sent_ids
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate, change_consent, count_soft_bounce

log = logging.getLogger("heard.web")

MAIL_EVENTS = Counter("heard_mail_events_total", "Mail provider events received", ["provider", "result"])
PATH = "/email/events/{provider}"
BODY_TIMEOUT_SECONDS = 10.0
Publish = Callable[[bytes, bytes], Awaitable[None]]


def consent_source(event: MailEvent) -> str:
    """How the ledger names this refusal: `mail-<kind>:<provider>:<the server's words>`."""
    return f"mail-{event.kind}:{event.provider}:{event.detail}"


class MailEventRoutes:
    def __init__(
        self,
        *,
        keys: Mapping[str, str],
        email: EmailSettings,
        ledger: ConsentLedger,
        publish_consent: Publish,
        publish_event: Publish,
        clock: Callable[[], datetime],
    ) -> None:
        # provider name -> its key, for the providers whose key variable is set.
        self.keys = dict(keys)
        self.email = email
        self.ledger = ledger
        self.publish_consent = publish_consent
        self.publish_event = publish_event
        self.clock = clock

    async def receive(self, request: Request) -> Response:
        name = request.match_info["provider"]
        provider = PROVIDERS.get(name)
        if provider is None:
            return Response(status=404, text=f"no mail provider {name!r}; known: {', '.join(PROVIDERS)}")
        key = self.keys.get(name)
        if key is None:
            MAIL_EVENTS.labels(name, "not_configured").inc()
            return Response(status=403, text=f"{name}'s webhook key is not configured; events are refused")
        try:
            # A sender trickling its body must not hold a connection open for ever.
            body = await asyncio.wait_for(request.read(), BODY_TIMEOUT_SECONDS)
        except TimeoutError:
            MAIL_EVENTS.labels(name, "slow_body").inc()
            return Response(status=408, text="the body did not arrive in time")
        if not provider.authentic(key, body, request.headers):
            MAIL_EVENTS.labels(name, "bad_signature").inc()
            log.warning("email events: rejected a %s request without a valid signature", name)
            return Response(status=401, text=f"invalid {name} signature")
        try:
            events = provider.parse(body)
        except BadMailEvents as exc:
            MAIL_EVENTS.labels(name, "bad_request").inc()
            return Response(status=400, text=str(exc))
        for event in events:
            MAIL_EVENTS.labels(name, await self.apply(event)).inc()
        return Response(status=200, text="ok")

    async def apply(self, event: MailEvent) -> str:
        """Record one event; what became of it, for the metric."""
        ids = sent_ids(self.email, event.message_id) if event.message_id else None
        if ids is None:
            # Another system's email through the same provider account: its bounces and
            # complaints are not about heard's messages, and its readers' consent is not ours.
            return "not_ours"
        notification, ticket = ids
        changed = await self._record(event, notification)
        if changed is None:
            return "replayed"
        record = {
            "provider": event.provider,
            "kind": event.kind,
            "event_id": event.event_id,
            "notification_id": notification,
            "ticket_id": ticket,
            "detail": event.detail,
            "refused": not changed.allowed,
            "strikes": changed.strikes,
            "at": event.at.isoformat(),
        }
        await self.publish_event(ticket.encode(), json.dumps(record).encode())
        return event.kind

    async def _record(self, event: MailEvent, notification: str) -> ConsentUpdate | None:
        source = consent_source(event)
        if event.refuses:
            return await change_consent(
                self.ledger,
                self.publish_consent,
                self.clock,
                "email",
                event.address,
                False,
                source,
                (event.event_id,),
            )
        return await count_soft_bounce(
            self.ledger,
            self.publish_consent,
            self.clock,
            event.address,
            (event.event_id, f"soft:{notification}"),
            self.email.events.soft_bounces_before_hard,
            source,
        )


def add_routes(app: web.Application, routes: MailEventRoutes) -> None:
    app.router.add_post(PATH, routes.receive)
