"""The reader's preference page: the footer link in every email heard sends a customer, the
link itself, and the page through HTTP (aiohttp's test server, no Kafka): a GET shows the
form and records nothing, a POST records what changed as one event the contract accepts."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heard.channels.recording import RecordingChannel
from heard.streams.base.settings import RetrySettings
from heard.streams.content.rendering import Renderer
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Notification
from heard.streams.contract.stories import T0
from heard.streams.delivery.links import ReplyLinks
from heard.streams.delivery.sender import Delivery
from heard.streams.worker.answer_pages import AnswerPages
from heard.streams.worker.preference_pages import PreferencePages, add_routes
from tests.peers import REPO
from tests.unit.test_worker_agents import customer_message

LINKS = ReplyLinks("https://heard.example.com", b"k" * 40, 30)
NOW = T0 + timedelta(minutes=5)


def texting(locale: str = "en") -> Notification:
    note = customer_message(phone="+14155550123", consent={"email": True, "sms": True})
    return note.model_copy(update={"locale": locale})


async def test_every_email_to_a_customer_ends_with_their_preference_link_in_their_language() -> None:
    email = RecordingChannel("email")
    delivery = Delivery(
        Renderer(REPO / "templates"), {"email": email}, RetrySettings(attempts=1), links=LINKS
    )
    await delivery.deliver(texting())
    await delivery.deliver(texting("fr").model_copy(update={"notification_id": "n-fr"}))
    await delivery.deliver(texting().model_copy(update={"audience": "agent", "notification_id": "n-team"}))
    english, french, team = email.sent
    last = english.text.rstrip().splitlines()[-1]
    assert last.startswith("Change how and when we keep you posted: https://heard.example.com/p/")
    assert (
        french.text.rstrip()
        .splitlines()[-1]
        .startswith("Choisir comment et quand nous vous tenons informé: ")
    )
    assert english.html is not None and english.html.index("</main>") < english.html.index("/p/")
    assert "/p/" not in team.text
    plain = RecordingChannel("email")
    await Delivery(Renderer(REPO / "templates"), {"email": plain}, RetrySettings(attempts=1)).deliver(
        texting()
    )
    assert "/p/" not in plain.sent[0].text


def test_the_link_names_the_ticket_the_reader_and_their_channels_and_seals_the_address() -> None:
    url = LINKS.preferences_url(texting("de").model_copy(update={"contact": "c-7"}), NOW)
    token = url.split("/p/", 1)[1]
    assert b"amara" not in base64.urlsafe_b64decode(token.split(".")[0] + "==")
    page = LINKS.read_preferences(token, NOW)
    assert (page.ticket_id, page.locale, page.channel, page.can_text, page.contact, page.address) == (
        "T-1",
        "de",
        "email",
        True,
        "c-7",
        "amara@example.net",
    )
    stop = LINKS.unsubscribe_from_page(page, NOW)
    assert (
        stop is not None
        and LINKS.read_unsubscribe(stop.removeprefix("/u/"), NOW).address == "amara@example.net"
    )
    email_only = LINKS.read_preferences(LINKS.preferences_url(customer_message(), NOW).split("/p/")[1], NOW)
    assert not email_only.can_text


@dataclass
class Site:
    client: TestClient
    published: list[dict[str, Any]] = field(default_factory=list)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.client.get(path) as reply:
            return reply.status, await reply.text()

    async def post(self, path: str, **form: str) -> tuple[int, str]:
        async with self.client.post(path, data=form) as reply:
            return reply.status, await reply.text()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    published: list[dict[str, Any]] = []

    async def publish(key: bytes, value: bytes) -> None:
        event = json.loads(value)
        assert key == event["ticket_id"].encode()
        published.append(event)

    pages = AnswerPages(LINKS, Renderer(REPO / "templates"), "en", publish, clock=lambda: NOW)
    app = web.Application()
    add_routes(app, PreferencePages(pages, publish, clock=lambda: NOW))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield Site(client, published)
    await client.close()


def path_for(note: Notification) -> str:
    return LINKS.preferences_url(note, NOW).removeprefix(LINKS.base)


async def test_the_page_shows_the_readers_choices_in_their_language_and_records_nothing(site: Site) -> None:
    status, html = await site.get(path_for(texting("fr")))
    assert status == 200 and "Me tenir informé par" in html
    assert 'value="email" checked' in html and 'value="sms"' in html
    assert '<option value="fr" selected>Français</option>' in html and 'href="/u/' in html
    assert all(f">{name}</option>" in html for name in ("English", "Español", "Deutsch"))
    status, html = await site.get(path_for(customer_message()))
    assert status == 200 and 'value="sms"' not in html, "no texts offered without a number"
    assert site.published == []
    assert (await site.get("/p/eyJrIjoicCJ9.AAAA"))[0] == 404


async def test_what_the_reader_changes_is_one_event_the_contract_accepts(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="heard.web")
    assert (await site.post("/p/eyJrIjoicCJ9.AAAA", channel="sms"))[0] == 404
    path = path_for(texting())
    form = {"channel": "sms", "language": "es", "quiet_from": "21:00", "quiet_to": "07:00"}
    status, html = await site.post(path, **form)
    assert status == 200 and "The next update follows your choice" in html
    await site.post(path, **form)  # the same form again: the same event
    first, again = site.published
    assert first == again
    assert first["changes"] == {
        "preferred_channel": "sms",
        "language": "es",
        "quiet_hours": {"start": "21:00", "end": "07:00"},
    }
    assert "preferences changed on T-1: language, preferred_channel, quiet_hours" in caplog.text
    assert first["source"] == "preference-page" and first["id"].startswith("prefs:")
    parsed = parse_event(json.dumps(first).encode())
    assert parsed.type == "customer.preferences_updated" and parsed.ticket_id == "T-1"


async def test_a_contacts_page_changes_theirs_and_dropping_quiet_hours_is_a_change(site: Site) -> None:
    status, _ = await site.post(path_for(texting().model_copy(update={"contact": "c-7"})), no_quiet="on")
    assert status == 200
    [event] = site.published
    assert event["changes"] == {"no_quiet_hours": True, "contact": "c-7"}


async def test_pausing_and_resuming_this_requests_updates_are_changes_and_the_default_is_neither(
    site: Site,
) -> None:
    path = path_for(texting("de"))
    status, html = await site.get(path)
    assert (
        status == 200
        and 'name="updates" value="" checked' in html
        and "Pausieren, bis ich sie wieder aufnehme" in html
    )
    assert (await site.post(path, updates=""))[0] == 200
    assert site.published == [], "leaving the choice as it is changes nothing"
    await site.post(path, updates="pause")
    await site.post(path_for(texting().model_copy(update={"contact": "c-7"})), updates="resume")
    paused, resumed = site.published
    assert paused["changes"] == {"updates_paused": True}
    assert resumed["changes"] == {"updates_paused": False, "contact": "c-7"}
    assert parse_event(json.dumps(resumed).encode()).type == "customer.preferences_updated"


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"quiet_from": "21:00"}, "Please check this: quiet hours need a start and an end time"),
        ({"quiet_from": "25:00", "quiet_to": "07:00"}, "quiet hours need a start and an end time"),
        ({"quiet_from": "08:00", "quiet_to": "08:00"}, "different ones"),
        ({"channel": "fax"}, "no channel &#39;fax&#39; to choose here"),
        ({"language": "tlh"}, "no language &#39;tlh&#39; to choose here"),
        ({"updates": "forever"}, "no choice &#39;forever&#39; for this request&#39;s updates"),
    ],
)
async def test_a_form_the_page_did_not_make_is_refused_with_its_reason(
    site: Site, form: dict[str, str], problem: str
) -> None:
    status, html = await site.post(path_for(texting()), **form)
    assert status == 400 and problem in html
    assert site.published == []


async def test_texts_cannot_be_chosen_without_a_number_and_an_unchanged_form_records_nothing(
    site: Site,
) -> None:
    status, _ = await site.post(path_for(customer_message()), channel="sms")
    assert status == 400
    status, html = await site.post(path_for(texting()), channel="email", language="en")
    assert status == 200 and "Nothing was changed" in html
    assert site.published == []


async def test_a_regional_locale_reads_as_its_language(site: Site) -> None:
    status, html = await site.post(path_for(texting("es_MX")), channel="email", language="es")
    assert status == 200 and "No se ha cambiado nada." in html  # unchanged: es_MX reads as es
    assert site.published == []
    status, _ = await site.post(path_for(texting("es_MX")), channel="email", language="fr")
    assert status == 200
    [event] = site.published
    assert event["changes"] == {"language": "fr"}


@pytest.mark.parametrize("locale", ["es_MX", "es-MX"])
async def test_a_form_without_a_language_keeps_the_readers_own_whatever_its_region(
    site: Site, locale: str
) -> None:
    status, _ = await site.post(path_for(texting(locale)), channel="sms")
    assert status == 200
    [event] = site.published
    assert event["changes"] == {"preferred_channel": "sms"}, "no language change from a regional locale"
    status, _ = await site.post(path_for(texting(locale)), channel="email", language="es")
    assert status == 200 and len(site.published) == 1


async def test_an_expired_preference_link_is_410_and_an_altered_one_404(site: Site) -> None:
    expired = LINKS.preferences_url(texting(), NOW - timedelta(days=400)).removeprefix(LINKS.base)
    for send in (site.get, lambda path: site.post(path, channel="sms")):
        assert (await send(expired))[0] == 410
        assert (await send(expired[:-3] + "AAA"))[0] == 404
    assert site.published == []


async def test_a_trickling_form_is_answered_408(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from heard.streams.worker import preference_pages

    monkeypatch.setattr(preference_pages, "BODY_TIMEOUT_SECONDS", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", site.client.port)
    writer.write(
        f"POST {path_for(texting())} HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nchannel=".encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 30)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert answer.split(b"\r\n\r\n", 1)[1] == b"the form did not arrive in time"
    assert site.published == []


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "your page for"), ("es", "tu enlace para"), ("fr", "votre lien pour"), ("de", "Ihr Link zu")],
)
async def test_a_reader_who_texts_the_keyword_gets_their_page_by_text_whole_and_short(
    site: Site, language: str, words: str
) -> None:
    """The whole path after the keyword: the event, the policy's decision (by text, though
    they prefer email, at once though their quiet hours hold), the link added as it goes, the
    text composed whole, and the page it opens in their language."""
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide
    from tests.unit.test_worker_agents import RULES

    quiet = {"start": "00:00", "end": "23:59"}
    reader = stories.customer(
        phone="+14155550123", consent={"email": True, "sms": True}, language=language, quiet_hours=quiet
    )
    created = parse_event(stories.dumps(stories.created("T-1", urgent=True, customer=reader)))
    state = decide(None, created, created.occurred_at, RULES).state
    asked = stories.event("customer.preferences_requested", "T-1", T0 + timedelta(minutes=1), via="sms")
    event = parse_event(stories.dumps(asked))
    [link] = decide(state, event, event.occurred_at, RULES).notifications
    assert (link.kind, link.channel, link.recipient) == ("preferences_link", "sms", "+14155550123")
    sms = RecordingChannel("sms")
    await Delivery(
        Renderer(REPO / "templates"), {"sms": sms}, RetrySettings(attempts=1), links=LINKS
    ).deliver(link)
    [text] = sms.sent
    url = text.text.split()[-1]
    assert words in text.text and url.startswith("https://heard.example.com/p/")
    page = LINKS.read_preferences(url.removeprefix("https://heard.example.com/p/"), NOW)
    assert (page.channel, page.can_text, page.address, page.locale) == ("sms", True, None, language)
    status, html = await site.get(url.removeprefix(LINKS.base))
    assert status == 200 and 'value="sms" checked' in html and 'href="/u/' not in html
