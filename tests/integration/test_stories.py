"""The three stories of examples/events.jsonl, replayed through real Kafka and a worker:
exactly which messages went out, when, on which channel, with what content — and
which did not, and why. Replayed with duplicates and reordering, nothing doubles."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaProducer

from heard.streams.base.settings import EngineSettings, load_file
from heard.streams.cli.event_files import read_events, rebase
from heard.streams.content.lint import LintSettings, foreign_words
from heard.streams.contract.state import decision_lines
from heard.streams.delivery.config import load_settings
from heard.streams.kafka.readback import read_topic
from heard.streams.policy.routing import within_team_hours
from tests.conftest import Catchers, Worker, wait_until, worker_env
from tests.peers import REPO

pytestmark = pytest.mark.integration

# The acknowledgment hold and the closure grace, in seconds: the grace is long enough that a
# reopen published just after its resolve is decided before the closure it cancels is due,
# on a slow, busy machine too.
HOLD, GRACE = 2, 15


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"st{random.randrange(10**8)}."


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, catchers: Catchers, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    env = worker_env(
        kafka_bootstrap,
        catchers,
        prefix,
        HEARD_ACK_HOLD_SECONDS=str(HOLD),
        HEARD_CLOSURE_GRACE_SECONDS=str(GRACE),
    )
    running = Worker(env, tmp_path_factory.mktemp("worker") / "worker.log")
    running.start()
    yield running
    running.stop()


class Replay:
    """The example file shifted so its last event happens now, as `heard demo` does."""

    def __init__(self) -> None:
        valid, problems = read_events(REPO / "examples" / "events.jsonl")
        assert not problems
        latest = max(event.occurred_at for _, event, _ in valid)
        self.now = datetime.now(UTC)
        self.delta = (self.now - latest).total_seconds()
        self.events = [(event.ticket_id, rebase(raw, self.delta)) for _, event, raw in valid]

    def at(self, iso: str) -> datetime:
        """Where a time written in the example file lands after the shift."""
        return datetime.fromisoformat(iso) + timedelta(seconds=self.delta)


async def publish(bootstrap: str, topic: str, events: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        # All at once (each partition keeps their order): a story's events reach the worker
        # as close together as they were written.
        sends = [await producer.send(topic, value, key=ticket.encode()) for ticket, value in events]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def by_ticket(records: list[dict[str, Any]], ticket: str, **match: str) -> list[dict[str, Any]]:
    return [r for r in records if r["ticket_id"] == ticket and all(r.get(k) == v for k, v in match.items())]


def mails(folder: Any, ticket: str) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for path in folder.glob("*.eml"):
        mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if f"<ticket-{ticket}@heard.example.com>" in str(mail["References"] or "").split():
            found[str(mail["X-Heard-Notification-Id"])] = mail  # type: ignore[assignment]
    return found


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


async def test_three_stories_send_exactly_the_expected_messages(
    worker: Worker, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    replay = Replay()
    engine = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    # Duplicates and reordering: every event again, shuffled, after the originals.
    again = replay.events[:]
    random.Random(7).shuffle(again)
    await publish(kafka_bootstrap, f"{prefix}ticket-events", replay.events + again)

    holding_due = replay.at("2026-11-20T11:00:06+00:00")
    final_closure_due = replay.at("2026-11-20T11:00:00+00:00") + timedelta(seconds=GRACE)

    async def outcomes() -> list[dict[str, Any]]:
        return [json.loads(v) for _, v, _ in await read_topic(engine, f"{prefix}notification-events")]

    def settled(found: list[dict[str, Any]]) -> bool:
        return bool(
            by_ticket(found, "T-1002", kind="checkpoint_holding")
            and by_ticket(found, "T-1003", kind="closure_summary")
        )

    sent = await wait_until(outcomes, settled, 120, "the holding SMS and the final closure")

    async def all_decisions() -> list[dict[str, Any]]:
        found = await read_topic(engine, f"{prefix}heard-decisions")
        return [line for _, v, _ in found for line in decision_lines(v)]

    # Every event was decided, its replayed copy too (each a duplicate).
    decisions = await wait_until(
        all_decisions,
        lambda found: sum(d["reason"].startswith("duplicate event id") for d in found) >= len(replay.events),
        60,
        "a decision for every replayed event",
    )
    policy_settings = load_settings(REPO / "config").policy

    # Nudges go out at once when the promise falls outside team hours (time of day dependent).
    def nudge(due_iso: str) -> list[tuple[str, str, str]]:
        outside = not within_team_hours(replay.at(due_iso), policy_settings)
        return [("checkpoint_nudge", "email", "agent")] if outside else []

    def shape(ticket: str) -> list[tuple[str, str, str]]:
        return sorted(
            (r["kind"], r["channel"], r["audience"]) for r in by_ticket(sent, ticket, status="sent")
        )

    # 1. The delayed birthday gift: acknowledged, two milestones, promise kept, closed.
    assert shape("T-1001") == sorted(
        [
            ("acknowledgment", "email", "customer"),
            ("milestone_update", "email", "customer"),
            ("milestone_update", "email", "customer"),
            ("closure_summary", "email", "customer"),
            *nudge("2026-11-20T13:00:00+00:00"),
        ]
    )
    kept = by_ticket(decisions, "T-1001", outcome="record")
    assert any(d["reason"] == "promise P-1001-1 kept" for d in kept)
    amara = mails(catchers.mail_dir, "T-1001")
    closure = next(m for m in amara.values() if m["X-Heard-Kind"] == "closure_summary")
    closure_text = text_of(closure)
    assert closure_text.startswith("Hi Amara,")
    for part in (
        "mis-sorted at the Leeds depot",
        "arrives tomorrow before noon",
        "rescans parcels that miss their first sort",
    ):
        assert part in closure_text
    ack = next(m for m in amara.values() if m["X-Heard-Kind"] == "acknowledgment")
    assert "the courier's confirmed delivery slot" not in text_of(ack)

    # 2. The billing error after three transfers: one SMS acknowledgment (the repeat is
    #    coalesced), a milestone, and at the due time an escalation and a holding update.
    assert shape("T-1002") == sorted(
        [
            ("acknowledgment", "sms", "customer"),
            ("milestone_update", "sms", "customer"),
            ("checkpoint_escalation", "email", "lead"),
            ("checkpoint_holding", "sms", "customer"),
            *nudge("2026-11-20T11:00:06+00:00"),
        ]
    )
    coalesced = [
        d
        for d in by_ticket(decisions, "T-1002", kind="acknowledgment")
        if d["reason"].startswith("coalesced")
    ]
    # The customer's second message (evt-1002-1e) asked for an acknowledgment that is
    # coalesced; it is released (and logged) by whatever comes after its hold: the next
    # event or its timer.
    assert len(coalesced) == 1 and coalesced[0]["event_id"] not in ("evt-1002-1", "evt-1002-1e")
    [holding] = by_ticket(decisions, "T-1002", kind="checkpoint_holding", outcome="send")
    fired = datetime.fromisoformat(holding["at"])
    # Not early, and fired by its own timer, not by some later event of the ticket.
    assert holding_due <= fired, (fired, holding_due)
    assert holding["event_id"].startswith("timer:T-1002:"), holding
    texts = [json.loads(p.read_text()) for p in catchers.sms_dir.glob("*.json")]
    lukasz = [t["Body"] for t in texts if t["To"] == "+48512345678" and "T-1002" in t["Body"]]
    assert len(lukasz) == 3 and all("Łukasz" in body for body in lukasz)
    warsaw = holding_due.astimezone(ZoneInfo("Europe/Warsaw"))
    hour = warsaw.strftime("%-I:%M")
    assert any(hour in body for body in lukasz), (hour, lukasz)

    # 3. The reopened ticket, Spanish, plain text only: the first closure is held and
    #    cancelled by the reopen; the second goes out after its grace period.
    assert shape("T-1003") == [
        ("acknowledgment", "email", "customer"),
        ("closure_summary", "email", "customer"),
    ]
    cancelled = by_ticket(decisions, "T-1003", outcome="cancel", kind="closure_summary")
    assert [d["reason"] for d in cancelled] == ["ticket reopened during the closure grace period"]
    [final] = by_ticket(decisions, "T-1003", outcome="send", kind="closure_summary")
    assert datetime.fromisoformat(final["at"]) >= final_closure_due
    majo = list(mails(catchers.mail_dir, "T-1003").values())
    assert all(m.get_content_type() == "text/plain" for m in majo), "plain text only"
    closing = next(m for m in majo if m["X-Heard-Kind"] == "closure_summary")
    assert text_of(closing).startswith("Hola, Majo:")
    assert "corregimos el foco" in text_of(closing), "the second resolution's summary"

    # 4. French flowers: acknowledged, a milestone, the closure; every message to Anaïs is
    #    French throughout, the engine's own words (defaults, dates) included; Majo's Spanish.
    assert shape("T-1004") == [
        ("acknowledgment", "email", "customer"),
        ("closure_summary", "email", "customer"),
        ("milestone_update", "email", "customer"),
    ]
    markers = load_file(REPO / "config" / "lint.yaml", LintSettings).language_markers
    for ticket, language in (("T-1003", "es"), ("T-1004", "fr")):
        for mail in mails(catchers.mail_dir, ticket).values():
            read = f"{mail['Subject']}\n{text_of(mail)}"
            assert foreign_words(read, language, markers) == {}, (ticket, read)
            assert mail["Content-Language"] == language

    # Nothing doubled: every decided notification was sent once, replays included.
    ids = [r["notification_id"] for r in sent if r["status"] == "sent"]
    assert len(ids) == len(set(ids))
    duplicates = [d for d in decisions if d["reason"].startswith("duplicate event id")]
    assert len(duplicates) == len(replay.events)
