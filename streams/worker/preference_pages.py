"""`/p/<token>`: the reader's preference page, linked from every email heard sends them.

`GET` shows what they can change, in their language: the channel heard keeps them posted
by (texts only when heard has their number), the language, quiet hours, pausing progress
updates about this one request, and a link to stop emails. `POST` records what they changed
as a `customer.preferences_updated` event with `changes` (answered once Kafka has it); the
ticket applies it to the next message. The same form sent twice is one event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.web import Request, Response

from heard.streams.delivery.links import PREFERENCES_PATH, BadLink, PreferencePage
from heard.streams.worker.answer_pages import BODY_TIMEOUT_SECONDS, AnswerPages

log = logging.getLogger("heard.web")
Publish = Callable[[bytes, bytes], Awaitable[None]]
# The languages a reader can choose: those heard writes its messages in.
LANGUAGES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch"}
CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class BadForm(ValueError):
    """A form this page did not make (an unknown channel, a time that is not HH:MM)."""


def changes_from(form: dict[str, str], page: PreferencePage) -> dict[str, Any]:
    """What the reader changed: only what differs from how this email reached them."""
    changes: dict[str, Any] = {}
    channel = form.get("channel") or page.channel
    if channel not in ("email", "sms") or (channel == "sms" and not page.can_text):
        raise BadForm(f"no channel {channel!r} to choose here")
    if channel != page.channel:
        changes["preferred_channel"] = channel
    language = form.get("language") or page.locale.split("-")[0].split("_")[0]
    if language not in LANGUAGES:
        raise BadForm(f"no language {language!r} to choose here")
    if language != page.locale.split("-")[0].split("_")[0]:
        changes["language"] = language
    start, end = form.get("quiet_from", "").strip(), form.get("quiet_to", "").strip()
    if form.get("no_quiet") == "on":
        changes["no_quiet_hours"] = True
    elif start or end:
        if not (CLOCK_TIME.match(start) and CLOCK_TIME.match(end)) or start == end:
            raise BadForm("quiet hours need a start and an end time, different ones (HH:MM)")
        changes["quiet_hours"] = {"start": start, "end": end}
    # This ticket's progress updates: left as they are unless the reader picked one.
    updates = form.get("updates", "")
    if updates not in ("", "pause", "resume"):
        raise BadForm(f"no choice {updates!r} for this request's updates")
    if updates:
        changes["updates_paused"] = updates == "pause"
    return changes


class PreferencePages:
    def __init__(self, pages: AnswerPages, publish_event: Publish, clock: Callable[[], datetime]) -> None:
        self.pages = pages
        self.publish_event = publish_event
        self.clock = clock

    def _read(self, request: Request) -> PreferencePage | Response:
        try:
            return self.pages.links.read_preferences(request.match_info["token"], self.clock())
        except (BadLink, ValueError, KeyError, TypeError) as exc:  # any malformed token is a 404
            expired = isinstance(exc, BadLink) and "expired" in str(exc)
            state = "expired" if expired else "unknown"
            return self.pages.page(
                410 if expired else 404, self.pages.default_locale, state=state, answer=None
            )

    def _form_page(self, status: int, page: PreferencePage, state: str, **more: Any) -> Response:
        stop = self.pages.links.unsubscribe_from_page(page, self.clock())
        return self.pages.page(
            status,
            page.locale,
            "preferences",
            state=state,
            prefs=page,
            languages=LANGUAGES,
            stop=stop,
            **{"problem": None, **more},
        )

    async def show(self, request: Request) -> Response:
        page = self._read(request)
        if isinstance(page, Response):
            return page
        return self._form_page(200, page, "form")

    async def change(self, request: Request) -> Response:
        page = self._read(request)
        if isinstance(page, Response):
            return page
        try:
            form = await asyncio.wait_for(request.post(), BODY_TIMEOUT_SECONDS)
        except TimeoutError:
            return Response(status=408, text="the form did not arrive in time")
        try:
            changes = changes_from({key: str(value) for key, value in form.items()}, page)
        except BadForm as exc:
            return self._form_page(400, page, "form", problem=str(exc))
        if not changes:
            return self._form_page(200, page, "unchanged")
        if page.contact:
            changes["contact"] = page.contact
        said = hashlib.sha256(json.dumps(changes, sort_keys=True).encode()).hexdigest()[:16]
        signature = request.match_info["token"].rpartition(".")[2]
        event = {
            "schema": "heard.event/v1",
            "id": f"prefs:{signature}:{said}",
            "type": "customer.preferences_updated",
            "ticket_id": page.ticket_id,
            "occurred_at": self.clock().isoformat(),
            "source": "preference-page",
            "changes": changes,
        }
        await self.publish_event(page.ticket_id.encode(), json.dumps(event).encode())
        log.info("preferences changed on %s: %s", page.ticket_id, ", ".join(sorted(changes)))
        return self._form_page(200, page, "saved")


def add_routes(app: web.Application, pages: PreferencePages) -> None:
    app.router.add_get(PREFERENCES_PATH + "{token}", pages.show)
    app.router.add_post(PREFERENCES_PATH + "{token}", pages.change)
