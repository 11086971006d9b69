"""Write-back: each help desk's internal-note request as its API documents it, the client's
retries through HTTP (aiohttp's test server as the help desk), and the agent that turns what
heard recorded into one note per ticket per batch."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from heard.streams.base.settings import ConfigError, ConnectorSettings
from heard.streams.delivery.helpdesk import HELPDESKS
from heard.streams.delivery.helpdesk.client import NoteNotWritten, NoteWriter
from heard.streams.delivery.wiring import helpdesk_writer
from heard.streams.worker.helpdesk_notes import HelpdeskNotesAgent
from heard.streams.worker.sink import DeadLetters, RecordingSink
from tests.unit.test_worker_agents import TOPICS, Clock, consumed, customer_message


def test_zendesk_takes_a_private_comment_by_updating_the_ticket() -> None:
    request = HELPDESKS["zendesk"].note(
        "https://acme.zendesk.com/", "4815", "line one\nline two", "a@acme.com"
    )
    assert (request.method, request.url) == ("PUT", "https://acme.zendesk.com/api/v2/tickets/4815.json")
    assert request.json == {"ticket": {"comment": {"body": "line one\nline two", "public": False}}}
    login = HELPDESKS["zendesk"].login("agent@acme.com", "tok")
    assert login == {"Authorization": "Basic " + base64.b64encode(b"agent@acme.com/token:tok").decode()}


def test_jira_takes_an_internal_comment_in_document_format() -> None:
    request = HELPDESKS["jira"].note("https://acme.atlassian.net", "SUP-42", "line one\n\nline two", None)
    assert (request.method, request.url) == (
        "POST",
        "https://acme.atlassian.net/rest/api/3/issue/SUP-42/comment",
    )
    assert request.json["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert request.json["body"] == {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "line one"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "line two"}]},
        ],
    }
    assert (
        HELPDESKS["jira"].note("https://j", "a/b", "x", None).url
        == "https://j/rest/api/3/issue/a%2Fb/comment"
    )


def test_freshdesk_takes_a_private_note_in_html_and_its_key_as_the_user() -> None:
    request = HELPDESKS["freshdesk"].note("https://acme.freshdesk.com", "77", "a < b\nsecond", None)
    assert (request.method, request.url) == ("POST", "https://acme.freshdesk.com/api/v2/tickets/77/notes")
    assert request.json == {"body": "a &lt; b<br>second", "private": True}
    assert HELPDESKS["freshdesk"].login(None, "key") == {
        "Authorization": "Basic " + base64.b64encode(b"key:X").decode()
    }


def test_intercom_takes_a_note_as_an_admin_and_front_a_comment() -> None:
    intercom = HELPDESKS["intercom"].note("https://api.intercom.io", "215", "hello", "814860")
    assert (intercom.method, intercom.url) == ("POST", "https://api.intercom.io/conversations/215/reply")
    assert intercom.json == {"message_type": "note", "type": "admin", "admin_id": "814860", "body": "hello"}
    assert HELPDESKS["intercom"].login("814860", "tok")["Authorization"] == "Bearer tok"
    front = HELPDESKS["front"].note("https://api2.frontapp.com", "cnv_55c8c149", "hello", None)
    assert (front.method, front.url, front.json) == (
        "POST",
        "https://api2.frontapp.com/conversations/cnv_55c8c149/comments",
        {"body": "hello"},
    )
    assert HELPDESKS["front"].login(None, "tok") == {"Authorization": "Bearer tok"}


@dataclass
class Desk:
    """A help desk answering from a script of (status, headers); the requests it got."""

    answers: list[tuple[int, dict[str, str]]]
    got: list[tuple[str, str, str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def any_request(request: web.Request) -> web.Response:
            self.got.append(
                (request.method, request.path, request.headers.get("Authorization", ""), await request.json())
            )
            status, headers = self.answers.pop(0) if self.answers else (200, {})
            return web.json_response({"said": status}, status=status, headers=headers)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", any_request)
        return app


async def writer_for(desk: Desk, waits: list[float]) -> tuple[NoteWriter, TestServer]:
    server = TestServer(desk.app())
    await server.start_server()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    zendesk = HELPDESKS["zendesk"]
    base = f"http://127.0.0.1:{server.port}"
    return NoteWriter(zendesk, base, "a@acme.com", "tok", attempts=3, sleep=sleep), server


async def test_a_note_waits_as_the_help_desk_asks_on_429_and_is_written() -> None:
    desk, waits = Desk([(429, {"Retry-After": "7"}), (503, {}), (201, {})]), []
    writer, server = await writer_for(desk, waits)
    try:
        await writer.post("4815", "heard: hello")
    finally:
        await writer.aclose()
        await server.close()
    assert waits == [7.0, 1.0]
    assert [(m, p) for m, p, _, _ in desk.got] == [("PUT", "/api/v2/tickets/4815.json")] * 3
    expected = "Basic " + base64.b64encode(b"a@acme.com/token:tok").decode()
    assert desk.got[0][2] == expected
    assert desk.got[0][3] == {"ticket": {"comment": {"body": "heard: hello", "public": False}}}


async def test_a_refusal_is_not_asked_again_and_a_desk_down_is_given_up_after_its_attempts() -> None:
    desk, waits = Desk([(404, {})]), []
    writer, server = await writer_for(desk, waits)
    try:
        with pytest.raises(NoteNotWritten, match="zendesk refused the note: 404"):
            await writer.post("4815", "x")
        assert len(desk.got) == 1 and waits == []
        desk.answers = [(503, {})] * 3
        with pytest.raises(NoteNotWritten, match="zendesk did not take the note on 4815: 503"):
            await writer.post("4815", "x")
        assert len(desk.got) == 4 and waits == [1.0, 1.0]
    finally:
        await writer.aclose()
        await server.close()


class Writer:
    def __init__(self, refuse: set[str] | None = None) -> None:
        self.notes: list[tuple[str, str]] = []
        self.refuse = refuse or set()

    async def post(self, ticket_id: str, body: str) -> None:
        if ticket_id in self.refuse:
            raise NoteNotWritten(f"zendesk refused the note: 403 no access to {ticket_id}")
        self.notes.append((ticket_id, body))


def outcome(ticket: str, kind: str, channel: str, status: str, **more: Any) -> Any:
    event = {"ticket_id": ticket, "kind": kind, "channel": channel, "audience": "customer", "status": status}
    event.update({"at": "2026-11-20T10:02:00+00:00", "reason": "", **more})
    return consumed(TOPICS.notification_events, ticket, json.dumps(event).encode())


def reply(ticket: str, **fields: Any) -> Any:
    record = {"ticket_id": ticket, "at": "2026-11-20T10:09:00+00:00", "via": "email", **fields}
    return consumed(TOPICS.replies, ticket, json.dumps(record).encode())


async def test_each_tickets_lines_in_a_batch_are_one_note_in_order() -> None:
    writer = Writer()
    sink = RecordingSink()
    agent = HelpdeskNotesAgent(
        writer=writer, topics=TOPICS, dead_letters=DeadLetters(sink, TOPICS.dead_letters, Clock())
    )
    await agent.handle_batch(
        [
            outcome("4815", "acknowledgment", "email", "sent"),
            outcome("4815", "acknowledgment", "email", "deferred"),  # not news
            outcome("4815", "checkpoint_nudge", "email", "sent", audience="agent"),  # the team's own
            outcome(
                "77", "milestone_update", "sms", "suppressed", reason="the recipient withdrew sms consent"
            ),
            reply("4815", record="option_chosen", option=2, label="A refund to my card"),
            reply("4815", record="feedback", score=2, text="slow", respondent="h-1"),
            consumed(TOPICS.replies, "4815", b"not json"),
        ]
    )
    assert writer.notes == [
        (
            "4815",
            "heard, to and from the customer:\n"
            "20 Nov 10:02 UTC · acknowledgment sent by email\n"
            "20 Nov 10:09 UTC · the customer chose option 2: A refund to my card (by email)\n"
            "20 Nov 10:09 UTC · a contact rated the help 2/5: “slow” (by email)",
        ),
        (
            "77",
            "heard, to and from the customer:\n"
            "20 Nov 10:02 UTC · milestone update not sent by SMS: the recipient withdrew sms consent",
        ),
    ]
    assert sink.on(TOPICS.dead_letters) == []


async def test_a_note_the_help_desk_refuses_leaves_its_records_as_dead_letters_and_others_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = Writer(refuse={"4815"})
    sink = RecordingSink()
    agent = HelpdeskNotesAgent(
        writer=writer, topics=TOPICS, dead_letters=DeadLetters(sink, TOPICS.dead_letters, Clock())
    )
    await agent.handle_batch(
        [outcome("4815", "acknowledgment", "email", "sent"), outcome("77", "acknowledgment", "sms", "sent")]
    )
    assert [ticket for ticket, _ in writer.notes] == ["77"]
    [letter] = sink.on(TOPICS.dead_letters)
    reason = (letter.headers or {})["heard-reason"].decode()
    assert reason == "help desk note not written: zendesk refused the note: 403 no access to 4815"
    assert (letter.headers or {})["heard-stage"] == b"helpdesk-notes"
    # The operator reads it in the log too, with the help desk's answer.
    assert (
        "help desk note on 4815 not written: zendesk refused the note: 403 no access to 4815" in caplog.text
    )


def test_write_back_needs_its_credentials_named_and_set() -> None:
    settings = ConnectorSettings.model_validate(
        {
            "writeback": {
                "helpdesk": "jira",
                "base_url": "https://acme.atlassian.net",
                "user_env": "JIRA_USER",
                "token_env": "JIRA_TOKEN",
            }
        }
    )
    with pytest.raises(
        ConfigError, match=r"writeback\.token_env: environment variable JIRA_TOKEN is not set"
    ):
        helpdesk_writer(settings, {"JIRA_USER": "ops@acme.com"})
    writer = helpdesk_writer(settings, {"JIRA_USER": "ops@acme.com", "JIRA_TOKEN": "t"})
    assert writer is not None and writer.desk.name == "jira"
    assert helpdesk_writer(ConnectorSettings(), {}) is None
    front = ConnectorSettings.model_validate(
        {
            "writeback": {
                "helpdesk": "front",
                "base_url": "https://api2.frontapp.com",
                "token_env": "FRONT_TOKEN",
            }
        }
    )
    assert helpdesk_writer(front, {"FRONT_TOKEN": "t"}) is not None
    zendesk = ConnectorSettings.model_validate(
        {
            "writeback": {
                "helpdesk": "zendesk",
                "base_url": "https://acme.zendesk.com",
                "token_env": "ZD_TOKEN",
            }
        }
    )
    with pytest.raises(ConfigError, match=r"writeback\.user_env: zendesk needs it"):
        helpdesk_writer(zendesk, {"ZD_TOKEN": "t"})


async def test_the_connectors_prefix_is_taken_off_and_another_desks_tickets_are_left_alone() -> None:
    writer = Writer()
    sink = RecordingSink()
    agent = HelpdeskNotesAgent(
        writer=writer,
        topics=TOPICS,
        dead_letters=DeadLetters(sink, TOPICS.dead_letters, Clock()),
        ticket_prefix="zd-",
    )
    await agent.handle_batch(
        [
            outcome("zd-4815", "acknowledgment", "email", "sent"),
            outcome("fd-77", "acknowledgment", "sms", "sent"),
        ]
    )
    assert [ticket for ticket, _ in writer.notes] == ["4815"]


@pytest.mark.parametrize(
    ("status", "extra", "line"),
    [
        (
            "failed",
            {"reason": "550 no such user"},
            "20 Nov 10:02 UTC · acknowledgment not sent by email: 550 no such user",
        ),
        (
            "bounced",
            {"reason": "it bounced"},
            "20 Nov 10:02 UTC · acknowledgment bounced by email: it bounced",
        ),
        ("complained", {}, "20 Nov 10:02 UTC · acknowledgment was marked as spam by email"),
        ("unsubscribed", {}, "20 Nov 10:02 UTC · acknowledgment was unsubscribed from by email"),
        (
            "undelivered",
            {"reason": "30005"},
            "20 Nov 10:02 UTC · acknowledgment was not delivered by email: 30005",
        ),
        ("sent", {"reason": "ignored for a send"}, "20 Nov 10:02 UTC · acknowledgment sent by email"),
        ("sent", {"at": "not a time"}, "? · acknowledgment sent by email"),
    ],
)
def test_each_outcome_reads_as_a_line_for_the_team(status: str, extra: dict[str, Any], line: str) -> None:
    from heard.streams.worker.helpdesk_notes import outcome_line

    event = {
        "kind": "acknowledgment",
        "channel": "email",
        "status": status,
        "at": "2026-11-20T10:02:00+00:00",
    }
    assert outcome_line({**event, **extra}) == line


def test_what_is_not_news_or_not_a_tickets_is_no_line() -> None:
    from heard.streams.worker.helpdesk_notes import outcome_line

    twilio = {
        "status": "sent",
        "channel": "sms",
        "reason": "provider status report",
        "at": "2026-11-20T10:02:00+00:00",
    }
    assert outcome_line(twilio) is None  # Twilio confirming a text already noted as sent
    assert (
        outcome_line({**twilio, "status": "failed"})
        == "20 Nov 10:02 UTC · message not sent by SMS: provider status report"
    )
    agent = HelpdeskNotesAgent(
        writer=Writer(),
        topics=TOPICS,
        dead_letters=DeadLetters(RecordingSink(), TOPICS.dead_letters, Clock()),
    )
    for value in (b"[1, 2]", b'{"status": "sent"}', b'{"ticket_id": "", "status": "sent"}'):
        assert agent.line(consumed(TOPICS.notification_events, "x", value)) is None


async def test_each_note_written_or_not_is_counted() -> None:
    from prometheus_client import REGISTRY

    def counted(result: str) -> float:
        return REGISTRY.get_sample_value("heard_helpdesk_notes_total", {"result": result}) or 0.0

    before = counted("written"), counted("failed")
    agent = HelpdeskNotesAgent(
        writer=Writer(refuse={"77"}),
        topics=TOPICS,
        dead_letters=DeadLetters(RecordingSink(), TOPICS.dead_letters, Clock()),
    )
    await agent.handle_batch(
        [outcome("4815", "acknowledgment", "email", "sent"), outcome("77", "acknowledgment", "sms", "sent")]
    )
    assert (counted("written") - before[0], counted("failed") - before[1]) == (1, 1)


def test_a_sent_line_states_the_promise_the_message_made() -> None:
    from heard.streams.worker.helpdesk_notes import outcome_line

    event = {
        "kind": "acknowledgment",
        "channel": "email",
        "status": "sent",
        "at": "2026-11-20T10:02:00+00:00",
    }
    promised = {"what": "first_reply", "due_at": "2026-11-20T14:00:00+00:00"}
    assert (
        outcome_line({**event, "promised": promised})
        == "20 Nov 10:02 UTC · acknowledgment sent by email; first reply promised by 20 Nov 14:00 UTC"
    )
    refused = {**event, "status": "failed", "reason": "550", "promised": promised}
    assert outcome_line(refused) == "20 Nov 10:02 UTC · acknowledgment not sent by email: 550"
    for unknown in (None, {"what": "soon"}, "first_reply"):
        assert (
            outcome_line({**event, "promised": unknown}) == "20 Nov 10:02 UTC · acknowledgment sent by email"
        )


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("en", "20 Nov 11:02 +0100 · holding update sent by SMS; next update promised by 20 Nov 15:00 +0100"),
        (
            "es",
            "20 nov 11:02 CET · enviado por SMS (aviso de espera); "
            "próxima actualización prometida antes del 20 nov 15:00 CET",
        ),
        (
            "fr",
            "20 nov. 11:02 +0100 · envoyé par SMS (message d’attente); "
            "prochain point promis avant le 20 nov. 15:00 +0100",
        ),
        (
            "de",
            "20 Nov. 11:02 MEZ · Wartehinweis gesendet per SMS; "
            "nächster Stand zugesagt bis 20 Nov. 15:00 MEZ",
        ),
    ],
)
def test_a_note_reads_in_the_teams_language_on_the_teams_clock(language: str, line: str) -> None:
    from zoneinfo import ZoneInfo

    from heard.streams.delivery.helpdesk.wording import NoteWording

    wording = NoteWording(language, ZoneInfo("Europe/Madrid"))
    event = {
        "kind": "checkpoint_holding",
        "channel": "sms",
        "status": "sent",
        "at": "2026-11-20T10:02:00+00:00",
        "promised": {"what": "next_update", "due_at": "2026-11-20T14:00:00+00:00"},
    }
    assert wording.outcome_line(event) == line
    chose = wording.reply_line(
        {"record": "option_chosen", "option": 2, "label": "X", "via": "sms", "at": "x"}
    )
    assert (
        chose is not None
        and chose.startswith("? · ")
        and chose.endswith("X" + wording.phrases.via.format(via="SMS"))
    )


def test_every_language_words_every_status_kind_and_promise_english_does() -> None:
    from heard.streams.delivery.helpdesk.wording import ENGLISH, NOTE_PHRASES

    for language, phrases in NOTE_PHRASES.items():
        for table in ("statuses", "kinds", "promises"):
            assert set(getattr(phrases, table)) == set(getattr(ENGLISH, table)), (language, table)
        assert all("{at}" in words for words in phrases.promises.values()), language


@pytest.mark.parametrize(
    ("context", "promised"),
    [
        (
            {"moved": {"from": "a", "to": "T2"}, "promised": {"due_at": "T1"}},
            {"what": "moved", "due_at": "T2"},
        ),
        (
            {"promised": {"due_at": "T1"}, "next_update": {"due_at": "T3"}},
            {"what": "promise", "due_at": "T1"},
        ),
        (
            {"next_update": {"due_at": "T3"}, "next_milestone": {"due_at": "T4", "first_reply": True}},
            {"what": "next_update", "due_at": "T3"},
        ),
        ({"next_milestone": {"due_at": "T4", "first_reply": True}}, {"what": "first_reply", "due_at": "T4"}),
        (
            {"next_milestone": {"due_at": "T4", "first_reply": True, "follow_up": True}},
            {"what": "follow_up", "due_at": "T4"},
        ),
        ({"next_milestone": {"due_at": "T4", "text": "the courier"}}, {"what": "milestone", "due_at": "T4"}),
        ({"next_milestone": {"text": "soon", "due_at": None}, "moved": None}, None),
        ({}, None),
    ],
)
def test_the_outcome_record_carries_the_promise_the_message_made(
    context: dict[str, Any], promised: dict[str, str] | None
) -> None:
    from heard.channels.base import Receipt
    from heard.streams.delivery.sender import DeliveryOutcome

    note = customer_message().model_copy(update={"context": context})
    receipt = Receipt(note.notification_id, "email", "p-1", datetime(2026, 11, 20, tzinfo=UTC))
    assert DeliveryOutcome(note, "sent", "", receipt).event()["promised"] == promised
    team = note.model_copy(update={"audience": "lead"})
    assert DeliveryOutcome(team, "sent", "", receipt).event()["promised"] is None


def test_the_phrase_books_cannot_be_changed_in_place() -> None:
    """One phrase book serves every note of a worker: a slip that changed it would change
    every note after it."""
    import dataclasses

    from heard.streams.delivery.helpdesk.wording import ENGLISH

    with pytest.raises(dataclasses.FrozenInstanceError):
        ENGLISH.heading = "changed"  # type: ignore[misc]


NOTE_LINES = Path(__file__).resolve().parents[1] / "fixtures" / "helpdesk_notes"


def every_note_line(language: str) -> list[str]:
    """Every line a team can read in a note in `language`, on Madrid's clock: the heading;
    each kind of message with each outcome (with a provider's reason when it was not sent);
    each promise a sent message states; each choice and rating by the customer and a contact."""
    from zoneinfo import ZoneInfo

    from heard.streams.delivery.helpdesk.wording import ENGLISH, NoteWording

    wording = NoteWording(language, ZoneInfo("Europe/Madrid"))
    at, due = "2026-03-28T23:30:00+00:00", "2026-03-29T09:00:00+00:00"  # across the spring change
    lines = [wording.heading]
    for kind in [*ENGLISH.kinds, "custom_kind", ""]:
        for status in ENGLISH.statuses:
            for channel in ("email", "sms"):
                reason = "" if status == "sent" else "550 mailbox unavailable"
                event = {"kind": kind, "channel": channel, "status": status, "at": at, "reason": reason}
                lines.append(str(wording.outcome_line(event)))
    for what in ENGLISH.promises:
        event = {"kind": "acknowledgment", "channel": "email", "status": "sent", "at": at}
        lines.append(str(wording.outcome_line({**event, "promised": {"what": what, "due_at": due}})))
    for respondent in (None, "c-1"):
        for via in ("email", "sms", None):
            reply = {"respondent": respondent, "via": via, "at": at}
            lines.append(
                str(wording.reply_line({**reply, "record": "option_chosen", "option": 2, "label": "Refund"}))
            )
            for score, text in ((4, "Quick"), (2, ""), (None, "Slow")):
                feedback = {**reply, "record": "feedback", "score": score, "text": text}
                lines.append(str(wording.reply_line(feedback)))
    return lines


@pytest.mark.parametrize("language", ["en", "es", "fr", "de"])
def test_every_line_a_team_can_read_is_the_one_reviewed(language: str) -> None:
    """The phrase books' words, word for word, as reviewed in tests/fixtures/helpdesk_notes/.
    A deliberate change of wording: HEARD_UPDATE_NOTE_LINES=1, then review the diff."""
    import os

    expected = NOTE_LINES / f"{language}.txt"
    lines = "\n".join(every_note_line(language)) + "\n"
    if os.environ.get("HEARD_UPDATE_NOTE_LINES"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(lines, encoding="utf-8")
    assert lines == expected.read_text(encoding="utf-8")


def test_a_time_with_its_own_offset_is_read_as_written_and_one_without_as_utc() -> None:
    from zoneinfo import ZoneInfo

    from heard.streams.delivery.helpdesk.wording import NoteWording

    madrid = NoteWording("en", ZoneInfo("Europe/Madrid"))
    assert madrid.when("2026-01-10T09:30:00-05:00").startswith("10 Jan 15:30")
    assert madrid.when("2026-01-10T09:30:00").startswith("10 Jan 10:30"), "no offset: UTC"
    assert madrid.when("not a time") == "?"
