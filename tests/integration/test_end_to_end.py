"""Event produced to a real Kafka -> heard worker process -> message received by real peers."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.contract.state import decision_lines, notification_id
from heard.streams.kafka.readback import read_topic
from tests.conftest import Catchers, Worker, wait_for, wait_until, worker_env
from tests.peers import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"e2e{random.randrange(10**8)}."


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, catchers: Catchers, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    # This module's worker writes one decision record per event (the other modules' the
    # default, a record per line): every reader here reads both.
    running = Worker(worker_env(kafka_bootstrap, catchers, prefix, HEARD_DECISION_RECORDS="per_event"), log)
    running.start()
    yield running
    running.stop()


def engine(bootstrap: str, prefix: str) -> EngineSettings:
    return EngineSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def send(bootstrap: str, prefix: str, events: list[dict[str, object]]) -> None:
    await produce(
        bootstrap,
        f"{prefix}ticket-events",
        [(str(e["ticket_id"]).encode(), stories.dumps(e)) for e in events],
    )


def mails_for(folder: Path, ticket: str) -> list[EmailMessage]:
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        # Every email of a ticket references its root (after the customer's own, if known).
        if f"<ticket-{ticket}@heard.example.com>" in str(message["References"] or "").split():
            found.append(message)  # type: ignore[arg-type]
    return found


async def decisions_of(bootstrap: str, prefix: str, ticket: str) -> list[dict[str, str]]:
    return [
        line
        for _, v, _ in await read_topic(
            engine(bootstrap, prefix), f"{prefix}heard-decisions", key=ticket.encode()
        )
        for line in decision_lines(v)
    ]


async def closure_sent_after(bootstrap: str, prefix: str, catchers: Catchers, sentinel: str) -> None:
    """A marker for absence checks: a ticket created and resolved now, whose closure summary
    is waited for. Timers fire in due order, so a closure held earlier than this one has
    been decided by the time this one is sent."""
    await send(
        bootstrap,
        prefix,
        [
            stories.created(sentinel, now(), eid=f"{sentinel}-1"),
            stories.resolved(sentinel, now(), eid=f"{sentinel}-2"),
        ],
    )
    await wait_for(
        lambda: any(m["X-Heard-Kind"] == "closure_summary" for m in mails_for(catchers.mail_dir, sentinel)),
        60,
        f"the closure summary of the marker ticket {sentinel}",
    )


CUSTOMERS_EMAIL = "<CAF=original.1@mail.example.net>"


def now() -> datetime:
    return datetime.now(UTC)


async def test_acknowledgment_email_reaches_a_real_smtp_server(
    worker: Worker, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    start = now()
    event = stories.created(
        "E2E-1",
        start,
        eid="e2e-1-created",
        customer=stories.customer(name="Zoë <b>Brontë</b>", preferred_name="Zoë"),
        message_id=CUSTOMERS_EMAIL,
    )
    await send(kafka_bootstrap, prefix, [event])
    await wait_for(lambda: mails_for(catchers.mail_dir, "E2E-1"), 60, "the acknowledgment")

    [mail] = mails_for(catchers.mail_dir, "E2E-1")
    assert not mail.defects
    # One conversation in the customer's inbox: her own subject, under her own email.
    assert mail["Subject"] == "Re: My parcel is late"
    assert mail["In-Reply-To"] == CUSTOMERS_EMAIL
    assert mail["Auto-Submitted"] == "auto-replied"  # it answers her message (RFC 3834)
    assert mail["To"].addresses[0].addr_spec == "amara@example.net"
    assert mail["To"].addresses[0].display_name == "Zoë <b>Brontë</b>"
    nid = notification_id("E2E-1", "acknowledgment", "e2e-1-created", "email")
    assert mail["Message-ID"] == f"<{nid}.RTJFLTE@heard.example.com>"  # base64url of the ticket id
    assert mail["References"] == f"{CUSTOMERS_EMAIL} <ticket-E2E-1@heard.example.com>"
    assert mail["Reply-To"] == "support+E2E-1@example.com"
    assert mail.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in mail.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Hi Zoë,")
    assert "a first reply from our team, by" in text
    assert "reply to this email" in text
    assert "Hi Zoë," in html and "<b>" not in html.split("<body")[1].split("Hi Zoë")[0]


async def test_invalid_events_are_dead_lettered_and_the_worker_keeps_going(
    worker: Worker, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    bad = [
        (b"E2E-2", b"{not json"),
        (b"E2E-2", json.dumps({"type": "ticket.exploded", "ticket_id": "E2E-2"}).encode()),
        (
            b"E2E-2",
            stories.dumps(
                stories.created("E2E-2", now(), eid="bad-tz", customer=stories.customer(timezone="Mars/Base"))
            ),
        ),
    ]
    await produce(kafka_bootstrap, f"{prefix}ticket-events", bad)
    await send(kafka_bootstrap, prefix, [stories.created("E2E-2", now(), eid="good")])
    await wait_for(lambda: mails_for(catchers.mail_dir, "E2E-2"), 60, "the valid event's mail")

    async def dead_letters() -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
        return await read_topic(engine(kafka_bootstrap, prefix), f"{prefix}heard-dead-letters", key=b"E2E-2")

    letters = await wait_until(
        dead_letters, lambda found: len(found) >= len(bad), 60, "the three dead letters"
    )
    reasons = [headers["heard-reason"].decode() for _, _, headers in letters]
    assert [value for _, value, _ in letters] == [value for _, value in bad]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "unknown event type 'ticket.exploded'"
    assert "unknown IANA timezone 'Mars/Base'" in reasons[2]
    assert worker.process is not None and worker.process.poll() is None


async def test_replay_with_duplicates_and_reordering_sends_each_message_once(
    worker: Worker, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    start = now() - timedelta(minutes=30)
    story = [
        stories.created("E2E-3", start, eid="s3-1"),
        stories.reply(
            "E2E-3", start + timedelta(minutes=5), eid="s3-2", milestone={"text": "Found at the depot."}
        ),
        stories.resolved("E2E-3", start + timedelta(minutes=10), eid="s3-3"),
    ]
    replay = [*story, story[1], story[0], story[2], story[1]]
    await send(kafka_bootstrap, prefix, replay)
    await wait_for(
        lambda: any(m["X-Heard-Kind"] == "closure_summary" for m in mails_for(catchers.mail_dir, "E2E-3")),
        60,
        "the closure summary",
    )
    await send(kafka_bootstrap, prefix, [story[2], story[0]])
    # The decisions topic shows the worker consumed the late duplicates too.
    settings = engine(kafka_bootstrap, prefix)

    async def duplicates_seen() -> int:
        lines = [
            line
            for _, v, _ in await read_topic(settings, f"{prefix}heard-decisions", key=b"E2E-3")
            for line in decision_lines(v)
        ]
        return sum(1 for line in lines if line["reason"].startswith("duplicate event"))

    assert await wait_until(duplicates_seen, lambda n: n >= 6, 60, "six duplicates") == 6
    # Had the late duplicate of `resolved` counted, its closure would wait out the grace
    # first. A ticket resolved after it was decided has its closure due later, and the
    # worker sweeps its timers in due order: once that closure is sent, E2E-3's would be too.
    await closure_sent_after(kafka_bootstrap, prefix, catchers, "E2E-3S")
    closures = [
        d
        for d in await decisions_of(kafka_bootstrap, prefix, "E2E-3")
        if d["kind"] == "closure_summary" and d["outcome"] == "send"
    ]
    assert len(closures) == 1, closures
    explained = subprocess.run(
        [sys.executable, "-m", "heard.streams.cli", "explain", "E2E-3"],
        env=worker_env(kafka_bootstrap, catchers, prefix),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert explained.returncode == 0, explained.stderr[-2000:]
    assert "ticket.resolved" in explained.stdout and "delivery" in explained.stdout
    assert sum("duplicate event" in line for line in explained.stdout.splitlines()) == 6
    sent = mails_for(catchers.mail_dir, "E2E-3")
    assert sorted(str(m["X-Heard-Kind"]) for m in sent) == [
        "acknowledgment",
        "closure_summary",
        "milestone_update",
    ]
    # One conversation: one subject, one root, whatever each message says in its heading.
    assert {m["Subject"] for m in sent} == {"Re: My parcel is late"}
    assert {m["References"] for m in sent} == {"<ticket-E2E-3@heard.example.com>"}


async def test_reopen_during_grace_cancels_the_closure_and_sms_goes_by_consent(
    worker: Worker, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    start = now()
    sms_customer = stories.customer(
        name="Łukasz Nowak",
        preferred_name="Łukasz",
        phone="+48 512 345 678",
        preferred_channel="sms",
        consent={"email": True, "sms": True},
    )
    await send(
        kafka_bootstrap,
        prefix,
        [
            stories.created("E2E-4", start - timedelta(minutes=20), eid="s4-1", customer=sms_customer),
            stories.resolved("E2E-4", start, eid="s4-2"),
            stories.event("ticket.reopened", "E2E-4", start + timedelta(seconds=1), eid="s4-3"),
        ],
    )

    def sms_bodies() -> list[str]:
        bodies = []
        for path in sorted(catchers.sms_dir.glob("*.json")):
            record = json.loads(path.read_text())
            if "E2E-4" in record["Body"]:
                bodies.append(record["Body"])
        return bodies

    await wait_for(lambda: sms_bodies(), 60, "the acknowledgment SMS")

    async def decisions() -> list[dict[str, str]]:
        return await decisions_of(kafka_bootstrap, prefix, "E2E-4")

    lines = await wait_until(
        decisions, lambda found: any(d["outcome"] == "cancel" for d in found), 60, "the cancelled closure"
    )
    cancels = [d for d in lines if d["outcome"] == "cancel"]
    assert cancels and cancels[0]["kind"] == "closure_summary"
    assert cancels[0]["reason"] == "ticket reopened during the closure grace period"
    # The absence below means something only once a closure held by E2E-4's resolve would
    # have gone: a ticket resolved later has its closure due later, and timers fire in order.
    await closure_sent_after(kafka_bootstrap, prefix, catchers, "E2E-4S")
    assert not [
        d
        for d in await decisions_of(kafka_bootstrap, prefix, "E2E-4")
        if d["kind"] == "closure_summary" and d["outcome"] == "send"
    ]
    bodies = sms_bodies()
    assert bodies == [bodies[0]] and bodies[0].startswith("Hi Łukasz, we have your message")
    assert not mails_for(catchers.mail_dir, "E2E-4")
