"""The page a signed email link opens: confirm a choice or a rating, then it is recorded.

`GET /r/<token>` only shows what the link would record, with a button: mail scanners and
link previews open every link in a message, and must never choose for the customer.
`POST /r/<token>` records it (a rating may carry a few words) as a `ticket.option_chosen`
or `ticket.feedback` event, answered only once Kafka has it. The same click twice is the
same event id, so the ticket applies it once. Pages are templates in the reader's language
(`templates/_pages/answer/<locale>.html`), like every other word heard shows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.web import Request, Response
from jinja2 import TemplateNotFound
from prometheus_client import Counter

from heard.streams.base.rate import RateLimit
from heard.streams.content.rendering import Renderer
from heard.streams.contract.records import clean_text
from heard.streams.delivery.links import REPLY_PATH, BadLink, LinkAnswer, ReplyLinks

log = logging.getLogger("heard.web")
LINK_ANSWERS_LIMITED = Counter(
    "heard_link_answers_limited_total", "Answer-link posts refused because one link was posted too often"
)

Publish = Callable[[bytes, bytes], Awaitable[None]]
BODY_TIMEOUT_SECONDS = 10.0
MAX_WORDS = 2000
HEADERS = {
    # The token is in the address: never pass it on, never keep it, never index it.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Brand:
    """The company the pages speak for (`email.pages` in config/channels.yaml)."""

    name: str
    accent: str


class AnswerPages:
    def __init__(
        self,
        links: ReplyLinks,
        renderer: Renderer,
        default_locale: str,
        publish_event: Publish,
        clock: Callable[[], datetime],
        limit: RateLimit | None = None,
        brand: Brand | None = None,
    ) -> None:
        self.links = links
        self.brand = brand or Brand("", "#1f1f1f")
        self.renderer = renderer
        self.default_locale = default_locale
        self.publish_event = publish_event
        self.clock = clock
        # A person answers a link a few times at most (a rating, then its words changed);
        # a script posting it in a loop gets 429 and writes nothing.
        self.limit = limit or RateLimit(burst=5, per_minute=2)

    def use(self, renderer: Renderer) -> None:
        """Show pages with these templates from the next request on (a published version)."""
        self.renderer = renderer

    def page(self, status: int, locale: str, folder: str = "answer", **context: Any) -> Response:
        """The page `_pages/<folder>/<locale>.html` (else the language's, else the default)."""
        language = locale.replace("_", "-").split("-")[0]
        for candidate in dict.fromkeys([locale, language, self.default_locale]):
            try:
                template = self.renderer.env.get_template(f"_pages/{folder}/{candidate}.html")
                break
            except TemplateNotFound:
                continue
        else:
            return Response(status=status, text=context.get("state", ""), headers=HEADERS)
        html = template.render(_locale=locale, brand=self.brand, **context)
        return Response(status=status, text=html, content_type="text/html", headers=HEADERS)

    def _read(self, request: Request) -> LinkAnswer | Response:
        try:
            return self.links.read(request.match_info["token"], self.clock())
        except (BadLink, ValueError, KeyError, TypeError) as exc:  # any malformed token is a 404
            expired = isinstance(exc, BadLink) and "expired" in str(exc)
            return self.page(
                410 if expired else 404,
                self.default_locale,
                state="expired" if expired else "unknown",
                answer=None,
            )

    async def show(self, request: Request) -> Response:
        answer = self._read(request)
        if isinstance(answer, Response):
            return answer
        return self.page(200, answer.locale, state="confirm", answer=answer)

    async def record(self, request: Request) -> Response:
        answer = self._read(request)
        if isinstance(answer, Response):
            return answer
        try:
            form = await asyncio.wait_for(request.post(), BODY_TIMEOUT_SECONDS)
        except TimeoutError:
            return Response(status=408, text="the form did not arrive in time")
        signature = request.match_info["token"].rpartition(".")[2]
        if not self.limit.allow(signature):
            LINK_ANSWERS_LIMITED.inc()
            return self.page(429, answer.locale, state="too_many", answer=answer)
        words = readable(str(form.get("words") or "")) if answer.asks == "feedback" else None
        # A rating: one event per link and wording, so a second press is the same event and
        # counts once. A choice: one event per press, so a change of mind back to an earlier
        # option (1, then 2, then 1) is a new event; pressing the option already chosen again
        # changes nothing in the ticket (no second confirmation).
        said = signature + (
            ":" + hashlib.sha256(words.encode()).hexdigest()[:16]
            if words
            else f":{time.time_ns()}"
            if answer.asks == "option"
            else ""
        )
        event: dict[str, Any] = {
            "schema": "heard.event/v1",
            "id": f"link:{said}",
            "ticket_id": answer.ticket_id,
            "occurred_at": self.clock().isoformat(),
            "source": "email-link",
            "via": "email",
        }
        if answer.asks == "option":
            event.update(type="ticket.option_chosen", offer_id=answer.offer_id, option=answer.value)
        else:
            event.update(type="ticket.feedback", score=answer.value)
        if words:
            event["text"] = words
        if answer.contact:
            event["contact"] = answer.contact
        await self.publish_event(answer.ticket_id.encode(), json.dumps(event).encode())
        log.info("answer link recorded: %s on %s", event["type"], answer.ticket_id)
        return self.page(200, answer.locale, state="done", answer=answer, words=words)


def readable(words: str) -> str | None:
    """The reader's words as the event contract keeps them, or None when nothing readable
    is left (a rating is never lost for an invisible character in its comment)."""
    try:
        cleaned = " ".join(clean_text(words).split())[:MAX_WORDS]
    except ValueError:
        return None
    return cleaned or None


def add_routes(app: web.Application, pages: AnswerPages) -> None:
    app.router.add_get(REPLY_PATH + "{token}", pages.show)
    app.router.add_post(REPLY_PATH + "{token}", pages.record)
