"""Every answer gets an answer: a text that names none of the options (or several) is asked
again once and the owner reads it; a change of mind by link back to an earlier option is
recorded and confirmed. Through the SMS reader and the answer pages' own HTTP route."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heard.streams.content.rendering import Renderer
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Question, TicketState
from heard.streams.contract.stories import T0, minutes
from heard.streams.delivery.links import LinkAnswer, ReplyLinks
from heard.streams.policy.decide import decide
from heard.streams.policy.replies import event_for_text
from heard.streams.policy.step import Outcome
from heard.streams.worker.answer_pages import AnswerPages, add_routes
from tests.peers import REPO
from tests.unit.test_policy import RULES

LUCIA = stories.customer(
    name="Lucía Ortega",
    preferred_name="Lucía",
    phone="+34612345678",
    preferred_channel="sms",
    language="es",
    consent={"email": True, "sms": True},
)
QUESTION = Question(
    phone="+34612345678",
    ticket_id="T1",
    asks="option",
    offer_id="O1",
    choices=3,
    asked_at=T0 + minutes(2),
    expires_at=T0 + timedelta(days=14),
    locale="es",
)


def offered() -> TicketState:
    state = None
    for raw in [
        stories.created("T1", customer=LUCIA, agent=stories.AGENT),
        stories.offered("T1", T0 + minutes(2)),
    ]:
        event = parse_event(stories.dumps(raw))
        state = decide(state, event, event.occurred_at, RULES).state
    assert state is not None
    return state


def texted(state: TicketState, body: str, at: datetime, sid: str) -> Outcome:
    answer, _ = event_for_text(QUESTION, sid, body, at)
    assert answer is not None
    return decide(state, parse_event(json.dumps(answer)), at, RULES)


def test_an_unclear_answer_is_asked_again_once_and_the_owner_reads_the_words() -> None:
    renderer = Renderer(REPO / "templates")
    first = texted(offered(), "la segunda o la tercera, no sé", T0 + minutes(10), "SM" + "1" * 32)
    sent = {(n.kind, n.audience, n.channel, n.recipient) for n in first.notifications}
    assert sent == {
        ("options_unclear", "customer", "sms", "+34612345678"),
        ("options_answered", "agent", "email", "sam@example.com"),
    }
    question = next(n for n in first.notifications if n.kind == "options_unclear")
    text = renderer.render("options_unclear", "sms", "es", "Europe/Madrid", question.context).text
    assert text.startswith("Lucía, ¿cuál prefieres para T1? 1) ") and "Responde solo con el número" in text
    owner = next(n for n in first.notifications if n.kind == "options_answered")
    mail = renderer.render("options_answered", "email", "en", "UTC", owner.context)
    assert mail.subject == "[T1] Lucía answered the options, but not with one of them"
    assert '"la segunda o la tercera, no sé"' in mail.text and "has asked her to answer" in mail.text
    assert any("names none of the 3 options" in d.reason for d in first.decisions)  # heard explain

    again = texted(first.state, "no sé, la más barata", T0 + minutes(12), "SM" + "2" * 32)
    assert [(n.kind, n.audience) for n in again.notifications] == [("options_answered", "agent")]
    assert any("asked once already" in d.reason for d in again.decisions)

    chose = texted(again.state, "la 2", T0 + minutes(15), "SM" + "3" * 32)
    assert chose.state.offers["O1"].chosen == 2
    assert {n.kind for n in chose.notifications} == {"option_confirmed", "options_answered"}


async def posted(client: TestClient, links: ReplyLinks, option: int) -> str:
    token = links.url(LinkAnswer("T1", "option", option, "O1", "es", T0 + timedelta(days=30)))
    async with client.post(token.removeprefix(links.base), data={}) as answer:
        assert answer.status == 200
        return await answer.text()


async def test_a_change_of_mind_back_by_link_is_recorded_and_confirmed() -> None:
    links = ReplyLinks("https://heard.example.com", b"k" * 40, 30)
    published: list[dict[str, Any]] = []

    async def publish(key: bytes, value: bytes) -> None:
        published.append(json.loads(value))

    pages = AnswerPages(links, Renderer(REPO / "templates"), "en", publish, clock=lambda: datetime.now(UTC))
    app = web.Application()
    add_routes(app, pages)
    async with TestClient(TestServer(app)) as client:
        for option in (1, 2, 1):
            await posted(client, links, option)
    assert len({event["id"] for event in published}) == 3  # each press its own event
    state = offered()
    confirmations = []
    for n, event in enumerate(published):
        at = T0 + minutes(10 + n)
        out = decide(state, parse_event(json.dumps({**event, "occurred_at": at.isoformat()})), at, RULES)
        state = out.state
        confirmations += [
            x.context["chosen"]["number"] for x in out.notifications if x.kind == "option_confirmed"
        ]
    assert state.offers["O1"].chosen == 1 and confirmations == [1, 2, 1]
