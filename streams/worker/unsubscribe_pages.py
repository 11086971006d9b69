"""`/u/<token>`: an email's List-Unsubscribe link (RFC 8058 one-click).

`POST` stops emails to the address the link seals, in the consent ledger, before it
answers: a mail client's one-click (`List-Unsubscribe=One-Click`) needs no confirmation.
`GET` only shows a page with the button, since mail scanners open every link. Later
messages go by the customer's other consented channel, as after a bounce; the reason reads
"they unsubscribed from our emails on …". The same link posted again changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from aiohttp.web import Request, Response
from prometheus_client import Counter

from heard.streams.delivery.consent import ConsentLedger, change_consent
from heard.streams.delivery.links import UNSUBSCRIBE_PATH, BadLink, Unsubscribe
from heard.streams.worker.answer_pages import BODY_TIMEOUT_SECONDS, AnswerPages

log = logging.getLogger("heard.web")
UNSUBSCRIBES = Counter("heard_unsubscribes_total", "List-Unsubscribe posts", ["result"])

Publish = Callable[[bytes, bytes], Awaitable[None]]
# How the ledger names the refusal: read as "they unsubscribed from our emails on …".
SOURCE = "mail-unsubscribe:list-unsubscribe:"


class UnsubscribePages:
    def __init__(
        self,
        pages: AnswerPages,
        ledger: ConsentLedger,
        publish_consent: Publish,
        clock: Callable[[], datetime],
    ) -> None:
        self.pages = pages
        self.ledger = ledger
        self.publish_consent = publish_consent
        self.clock = clock

    def _read(self, request: Request) -> Unsubscribe | Response:
        try:
            return self.pages.links.read_unsubscribe(request.match_info["token"], self.clock())
        except (BadLink, ValueError, KeyError, TypeError) as exc:  # any malformed token is a 404
            expired = isinstance(exc, BadLink) and "expired" in str(exc)
            state = "expired" if expired else "unknown"
            return self.pages.page(
                410 if expired else 404, self.pages.default_locale, state=state, answer=None
            )

    async def show(self, request: Request) -> Response:
        found = self._read(request)
        if isinstance(found, Response):
            return found
        return self.pages.page(200, found.locale, state="unsubscribe", answer=None)

    async def unsubscribe(self, request: Request) -> Response:
        found = self._read(request)
        if isinstance(found, Response):
            UNSUBSCRIBES.labels("refused").inc()
            return found
        try:
            await asyncio.wait_for(request.read(), BODY_TIMEOUT_SECONDS)
        except TimeoutError:
            return Response(status=408, text="the form did not arrive in time")
        signature = request.match_info["token"].rpartition(".")[2]
        changed = await change_consent(
            self.ledger,
            self.publish_consent,
            self.clock,
            "email",
            found.address,
            False,
            SOURCE,
            (f"unsubscribe:{signature}",),
        )
        UNSUBSCRIBES.labels("recorded" if changed else "again").inc()
        if changed:
            log.info("email unsubscribed by its List-Unsubscribe link on %s", found.ticket_id)
        return self.pages.page(200, found.locale, state="unsubscribed", answer=None)


def add_routes(app: web.Application, pages: UnsubscribePages) -> None:
    app.router.add_get(UNSUBSCRIBE_PATH + "{token}", pages.show)
    app.router.add_post(UNSUBSCRIBE_PATH + "{token}", pages.unsubscribe)
