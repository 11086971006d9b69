"""One-click unsubscribe (RFC 8058): the List-Unsubscribe headers of a customer's email,
the link that seals the address, and its page through HTTP (aiohttp's test server, no
Kafka): a GET shows and changes nothing, a POST refuses the address in the consent ledger."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heard.channels.recording import RecordingChannel
from heard.streams.base.settings import RetrySettings
from heard.streams.content.rendering import Renderer
from heard.streams.contract.stories import T0
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate
from heard.streams.delivery.links import BadLink, LinkAnswer, ReplyLinks
from heard.streams.delivery.sender import Delivery
from heard.streams.worker.answer_pages import AnswerPages
from heard.streams.worker.answer_pages import add_routes as add_answer_routes
from heard.streams.worker.delivery_agent import withdrawn_reason
from heard.streams.worker.unsubscribe_pages import UnsubscribePages, add_routes
from tests.peers import REPO
from tests.unit.test_worker_agents import customer_message

LINKS = ReplyLinks("https://heard.example.com", b"k" * 40, 30)
NOW = T0 + timedelta(minutes=5)


def token_of(url: str) -> str:
    return url.split("/u/", 1)[1]


def test_the_link_seals_the_address_and_names_its_ticket_and_reader() -> None:
    note = customer_message().model_copy(update={"locale": "fr", "contact": "c-7"})
    url = LINKS.unsubscribe_url(note, NOW)
    assert url.startswith("https://heard.example.com/u/")
    token = token_of(url)
    visible = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert b"amara" not in visible and b"example.net" not in visible
    found = LINKS.read_unsubscribe(token, NOW)
    assert (found.ticket_id, found.address, found.locale, found.contact) == (
        "T-1",
        "amara@example.net",
        "fr",
        "c-7",
    )
    assert found.expires_at > NOW + timedelta(days=364)
    with pytest.raises(BadLink, match="expired"):
        LINKS.read_unsubscribe(token, NOW + timedelta(days=366))


def test_an_altered_foreign_or_answer_link_is_no_unsubscribe_and_the_other_way_round() -> None:
    token = token_of(LINKS.unsubscribe_url(customer_message(), NOW))
    body, _, signature = token.partition(".")
    # A signature changed in its first character: every bit of it counts (a last base64
    # character carries unused bits, and a fixed "AA" ending is now and then the real one).
    altered = ("B" if signature[0] == "A" else "A") + signature[1:]
    for bad in (f"{body}x.{signature}", f"{body}.{altered}", "nothing", f"{body}"):
        with pytest.raises(BadLink):
            LINKS.read_unsubscribe(bad, NOW)
    other = ReplyLinks("https://heard.example.com", b"o" * 40, 30)
    with pytest.raises(BadLink):
        other.read_unsubscribe(token, NOW)
    answer = LINKS.token(LinkAnswer("T-1", "feedback", 5, None, "en", NOW + timedelta(days=1)))
    with pytest.raises(BadLink):
        LINKS.read_unsubscribe(answer, NOW)
    with pytest.raises(BadLink):
        LINKS.read(token, NOW)


async def test_a_customers_email_carries_one_click_unsubscribe_and_a_team_email_does_not() -> None:
    email = RecordingChannel("email")
    delivery = Delivery(
        Renderer(REPO / "templates"), {"email": email}, RetrySettings(attempts=1), links=LINKS
    )
    note = customer_message()
    await delivery.deliver(note)
    await delivery.deliver(note.model_copy(update={"audience": "agent", "notification_id": "n-team"}))
    to_customer, to_team = email.sent
    assert to_customer.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    value = to_customer.headers["List-Unsubscribe"]
    assert value.startswith("<https://heard.example.com/u/") and value.endswith(">")
    assert (
        LINKS.read_unsubscribe(token_of(value[1:-1]), T0 + timedelta(days=1)).address == "amara@example.net"
    )
    assert "List-Unsubscribe" not in to_team.headers
    without = RecordingChannel("email")
    await Delivery(Renderer(REPO / "templates"), {"email": without}, RetrySettings(attempts=1)).deliver(note)
    assert "List-Unsubscribe" not in without.sent[0].headers


@dataclass
class Site:
    client: TestClient
    ledger: ConsentLedger = field(default_factory=ConsentLedger)
    published: list[ConsentUpdate] = field(default_factory=list)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    published: list[ConsentUpdate] = []
    ledger = ConsentLedger()

    async def consent(key: bytes, value: bytes) -> None:
        published.append(ConsentUpdate.from_json(value))

    async def event(key: bytes, value: bytes) -> None:
        raise AssertionError("an unsubscribe is no ticket event")

    pages = AnswerPages(LINKS, Renderer(REPO / "templates"), "en", event, clock=lambda: NOW)
    app = web.Application()
    add_answer_routes(app, pages)
    add_routes(app, UnsubscribePages(pages, ledger, consent, clock=lambda: NOW))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield Site(client, ledger, published)
    await client.close()


async def test_opening_the_link_shows_a_button_in_the_readers_language_and_changes_nothing(
    site: Site,
) -> None:
    path = LINKS.unsubscribe_url(customer_message().model_copy(update={"locale": "de"}), NOW)
    async with site.client.get(path.removeprefix(LINKS.base)) as page:
        status, text = page.status, await page.text()
    assert status == 200
    assert "Keine E-Mails mehr" in text and '<form method="post">' in text
    assert site.published == [] and len(site.ledger) == 0


async def test_one_click_refuses_the_address_once_and_later_messages_say_why(site: Site) -> None:
    path = LINKS.unsubscribe_url(customer_message(), NOW).removeprefix(LINKS.base)
    for _ in range(2):  # the mail client's one-click, then the reader's own click
        async with site.client.post(path, data={"List-Unsubscribe": "One-Click"}) as answer:
            status, text = answer.status, await answer.text()
        assert status == 200 and "We will not email this address again" in text
    [update] = site.published
    assert (update.channel, update.address, update.allowed) == ("email", "amara@example.net", False)
    assert site.ledger.refusal("email", "amara@example.net") == update
    assert withdrawn_reason("email", update.at, update.source) == (
        "they unsubscribed from our emails on 20 Nov 2026, 10:05 UTC"
    )


async def test_a_forged_or_expired_unsubscribe_is_refused_with_a_page(site: Site) -> None:
    token = token_of(LINKS.unsubscribe_url(customer_message(), NOW - timedelta(days=400)))
    async with site.client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}) as answer:
        assert answer.status == 410
    async with site.client.post("/u/eyJrIjoidSJ9.AAAA", data={}) as answer:
        assert answer.status == 404
    assert site.published == []


def unsubscribes(result: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("heard_unsubscribes_total", {"result": result}) or 0.0


async def test_opening_a_foreign_link_shows_the_unknown_page_and_each_post_is_counted(site: Site) -> None:
    async with site.client.get("/u/eyJrIjoidSJ9.AAAA") as page:
        assert page.status == 404 and "not one we recognise" in await page.text()
    before = {r: unsubscribes(r) for r in ("refused", "recorded", "again")}
    path = LINKS.unsubscribe_url(customer_message(), NOW).removeprefix(LINKS.base)
    for target in ("/u/eyJrIjoidSJ9.AAAA", path, path):
        async with site.client.post(target, data={"List-Unsubscribe": "One-Click"}):
            pass  # only what the posts did to the counters is read, below
    assert {r: unsubscribes(r) - before[r] for r in before} == {"refused": 1, "recorded": 1, "again": 1}


async def test_a_trickling_unsubscribe_is_answered_408(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from heard.streams.worker import unsubscribe_pages

    monkeypatch.setattr(unsubscribe_pages, "BODY_TIMEOUT_SECONDS", 0.2)
    path = LINKS.unsubscribe_url(customer_message(), NOW).removeprefix(LINKS.base)
    reader, writer = await asyncio.open_connection("127.0.0.1", site.client.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 100\r\n\r\nList-".encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 30)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert answer.split(b"\r\n\r\n", 1)[1] == b"the form did not arrive in time"
    assert site.published == []
