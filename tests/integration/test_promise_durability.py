"""Promises survive a SIGKILL: after a restart every due promise fires exactly once in effect,
kept ones stay quiet, and none is lost, also when the restarted worker writes its tables in
the other value form."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.kafka.readback import read_topic
from tests.conftest import Catchers, Worker, wait_for, wait_until, worker_env
from tests.integration.test_end_to_end import send

pytestmark = pytest.mark.integration


def mails_of(folder: Path, tickets: list[str]) -> list[EmailMessage]:
    found = []
    for path in folder.glob("*.eml"):
        mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        ticket = str(mail["In-Reply-To"] or "").removeprefix("<ticket-").split("@")[0]
        if ticket in tickets:
            found.append(mail)  # type: ignore[arg-type]
    return found


def kinds_by_ticket(folder: Path, tickets: list[str]) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for path in folder.glob("*.eml"):
        mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        ticket = str(mail["In-Reply-To"] or "").removeprefix("<ticket-").split("@")[0]
        if ticket in tickets:
            found[(ticket, str(mail["X-Heard-Kind"]))] += 1
    return found


# Both stores: memory:// rebuilds the tables from their changelogs; rocksdb:// keeps them on
# disk in the data dir and reads back only what changed.
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_pending_promises_fire_once_after_a_sigkill_and_restart(
    kafka_bootstrap: str, catchers: Catchers, topic_prefix: str, tmp_path: Path, store: str
) -> None:
    run = store.split(":")[0][:3]
    TICKETS = [f"PK{run}-{n}" for n in range(1, 7)]
    KEPT = set(TICKETS[::2])
    env = worker_env(
        kafka_bootstrap, catchers, topic_prefix, HEARD_STORE=store, HEARD_DATA_DIR=str(tmp_path / "data")
    )
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    start = datetime.now(UTC)
    # After the kill, with room for a slow machine to record the promises first (the test
    # checks it did); whether the restarted worker is up before or after this time, each due
    # promise must fire once.
    due = start + timedelta(seconds=30)
    events = []
    for ticket in TICKETS:
        events += [
            stories.created(ticket, start, eid=f"{ticket}-c"),
            stories.promised(ticket, start + timedelta(seconds=1), due, eid=f"{ticket}-p"),
        ]
        if ticket in KEPT:
            events.append(stories.reply(ticket, start + timedelta(seconds=2), eid=f"{ticket}-r"))
    try:
        await send(kafka_bootstrap, topic_prefix, events)
        settings = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)

        async def promise_statuses() -> dict[str, str]:
            latest: dict[str, str] = {}
            for _, value, _ in await read_topic(settings, f"{topic_prefix}heard-promises"):
                record = json.loads(value)
                if record["record"] == "promise":
                    latest[record["ticket_id"]] = record["status"]
            return latest

        before = await wait_until(
            promise_statuses,
            lambda s: len(s) == len(TICKETS) and all(s[t] == "kept" for t in KEPT),
            60,
            "every promise recorded",
        )
        assert {t for t, status in before.items() if status == "pending"} == set(TICKETS) - KEPT
        assert datetime.now(UTC) < due, "the kill must come before the promises are due"
        worker.stop(kill=True)  # SIGKILL: no shutdown, no final commit

        # The restart is also step two of the tables' upgrade (docs/operations.md): the
        # worker that comes back writes `text` and must recover what was written as JSON.
        restarted = Worker({**env, "HEARD_TABLE_VALUES": "text"}, tmp_path / "worker-restarted.log")
        restarted.start()
        try:
            broken = set(TICKETS) - KEPT
            expected = {(t, kind) for t in broken for kind in ("checkpoint_escalation", "checkpoint_holding")}
            await wait_for(
                lambda: expected <= set(kinds_by_ticket(catchers.mail_dir, TICKETS)),
                150,
                "every due promise's escalation and holding update",
            )
            after = await wait_until(
                promise_statuses,
                lambda s: all(s[t] == "broken" for t in broken),
                60,
                "broken promises recorded",
            )
            assert all(after[t] == "kept" for t in KEPT)
            # An absence means something once a timer recheck (5 s) has passed: a marker
            # ticket's promise, due later than that, is broken and escalated first.
            marker = f"PK{run}-marker"
            marker_due = datetime.now(UTC) + timedelta(seconds=7)
            await send(
                kafka_bootstrap,
                topic_prefix,
                [
                    stories.created(marker, datetime.now(UTC), eid=f"{marker}-c"),
                    stories.promised(marker, datetime.now(UTC), marker_due, eid=f"{marker}-p"),
                ],
            )
            await wait_for(
                lambda: (marker, "checkpoint_escalation") in kinds_by_ticket(catchers.mail_dir, [marker]),
                120,
                "the marker ticket's escalation",
            )
            sent = kinds_by_ticket(catchers.mail_dir, TICKETS)
            fired = {
                key: n
                for key, n in sent.items()
                if key[1].startswith("checkpoint_e") or key[1] == "checkpoint_holding"
            }
            assert fired == dict.fromkeys(expected, 1), "exactly once, only for broken promises"
            # The lead's escalation answers to the team, never to the customer's ticket.
            replies_to = {
                (str(mail["X-Heard-Kind"]), str(mail["Reply-To"]))
                for mail in mails_of(catchers.mail_dir, TICKETS)
            }
            assert ("checkpoint_escalation", "team@example.com") in replies_to
            assert not [
                pair
                for pair in replies_to
                if pair[0] == "checkpoint_escalation" and pair[1].startswith("support+")
            ], replies_to
        finally:
            restarted.stop()
    finally:
        worker.stop(kill=True)
    # The tables on disk hold personal data: nothing in the data dir is open to others.
    data = tmp_path / "data"
    shared = [str(path) for path in (data, *data.rglob("*")) if path.stat().st_mode & 0o077]
    assert not shared, shared[:5]
