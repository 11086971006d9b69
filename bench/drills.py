"""Reliability drills: a seeded workload whose every expected message is known, a fault,
then a reconciliation of what the mail peer received against what was expected.

    python -m bench.drills crash [--tickets 1000] [--kills 5] [--seed 7]
    python -m bench.drills scale-out [--tickets 1000]
    python -m bench.drills smtp-outage [--tickets 1000] [--outage 20]
    python -m bench.drills twilio-throttling [--tickets 1000] [--outage 20]
    python -m bench.drills poison [--tickets 1000]
    python -m bench.drills broker-restart [--tickets 1000] [--outage 20]
    python -m bench.drills bad-deploy [--tickets 1000]
    python -m bench.drills all
    python -m bench.drills broker-kill --nodes 3 [--target leader|controller] [--workers 2]
        [--outage 60]     (a local 3-node KRaft cluster; --bootstrap for one of your own)

Each drill starts its own stack on 127.0.0.1 (Apache Kafka, the mail catcher and
SMS capture in their own process, heard workers as separate processes), is bounded
in time, stops everything it started by PID, prints a table and exits non-zero
when a target is missed: lost = 0 always; duplicated = 0, or at most one per
SIGKILL in the crash drill; no worker exits on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

from bench.common import REPO, LocalStack, WorkerProcess, produce, worker_env
from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.contract.state import decision_lines
from heard.streams.kafka.readback import read_topic
from heard.streams.kafka.topics import ensure_topics

KINDS = ("acknowledgment", "milestone_update", "closure_summary")
GRACE_SECONDS = 2


@dataclass
class Report:
    drill: str
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    # Kafka key of each dead letter -> its full reason (which record, and why).
    dead_letter_reasons: dict[str, str] = field(default_factory=dict)
    recover_seconds: float | None = None
    faults: int = 0
    notes: list[str] = field(default_factory=list)
    allowed_duplicates: int = 0
    expected_dead_letters: int = 0

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated <= self.allowed_duplicates
            and sum(self.dead_lettered.values()) == self.expected_dead_letters
            and not any(n.startswith("FAIL") for n in self.notes)
        )

    def table(self) -> str:
        rows = [
            ("drill", self.drill),
            ("expected", self.expected),
            ("delivered", self.delivered),
            ("lost", self.lost),
            ("duplicated", f"{self.duplicated} (allowed {self.allowed_duplicates})"),
            ("dead-lettered", sum(self.dead_lettered.values())),
            ("faults injected", self.faults),
            ("time to recover", "-" if self.recover_seconds is None else f"{self.recover_seconds:.1f} s"),
            ("result", "PASS" if self.passed else "FAIL"),
        ]
        lines = [f"  {k:<16} {v}" for k, v in rows]
        lines += [f"  dead letter: {n} x {reason}" for reason, n in self.dead_lettered.most_common(8)]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


# ------------------------------------------------------------------ workload
def workload(
    tickets: int,
    seed: int,
    start: datetime,
    channel: str = "email",
) -> tuple[list[tuple[bytes, bytes]], set[tuple[str, str]]]:
    """Per ticket: created (urgent) -> public milestone reply -> resolved; 3 messages each."""
    rng = random.Random(seed)
    events: list[tuple[bytes, bytes]] = []
    for n in range(tickets):
        ticket = f"D{seed}-{n:05d}"
        at = start - timedelta(seconds=rng.randint(30, 600))
        person = stories.customer(name=f"Customer {n}", preferred_name=f"C{n}", email=f"c{n}@example.net")
        if channel == "sms":
            person.update(
                phone="+48 512 345 678", preferred_channel="sms", consent={"email": True, "sms": True}
            )
        story = [
            stories.created(ticket, at, eid=f"{ticket}-c", urgent=True, customer=person),
            stories.reply(
                ticket,
                at + timedelta(seconds=5),
                eid=f"{ticket}-r",
                milestone={"text": "We found the cause."},
            ),
            stories.resolved(ticket, at + timedelta(seconds=10), eid=f"{ticket}-s"),
        ]
        events += [(ticket.encode(), stories.dumps(event)) for event in story]
    expected = {(f"D{seed}-{n:05d}", kind) for n in range(tickets) for kind in KINDS}
    return events, expected


def received(mail_dir: Path, prefix: str) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    parser = BytesParser(policy=policy.default)
    for path in mail_dir.glob("*.eml"):
        mail = parser.parsebytes(path.read_bytes())
        ticket = str(mail["References"] or "").removeprefix("<ticket-").split("@")[0]
        if ticket.startswith(prefix):
            found[(ticket, str(mail["X-Heard-Kind"]))] += 1
    return found


def received_sms(sms_dir: Path, seed: int, tickets: int) -> Counter[tuple[str, str]]:
    """Texts the SMS capture accepted, by (ticket, kind), through the notification id that
    rides in each message's status-callback URL."""
    from urllib.parse import parse_qs, urlsplit

    from heard.streams.contract.state import notification_id

    triggers = {"acknowledgment": "c", "milestone_update": "r", "closure_summary": "s"}
    by_id = {
        notification_id(f"D{seed}-{n:05d}", kind, f"D{seed}-{n:05d}-{suffix}", "sms"): (
            f"D{seed}-{n:05d}",
            kind,
        )
        for n in range(tickets)
        for kind, suffix in triggers.items()
    }
    found: Counter[tuple[str, str]] = Counter()
    for path in sms_dir.glob("*.json"):
        record = json.loads(path.read_text())
        query = parse_qs(urlsplit(record.get("StatusCallback", "")).query)
        nid = (query.get("notification_id") or [""])[0]
        if nid in by_id:
            found[by_id[nid]] += 1
    return found


class Stage:
    """One drill's stack, workers and reconciliation."""

    def __init__(self, work: Path, stack: LocalStack, name: str, **extra_env: str) -> None:
        self.work, self.stack, self.name = work, stack, name
        self.prefix = f"{name}."
        replication = os.environ.get("HEARD_REPLICATION_FACTOR")
        self.engine = EngineSettings(
            bootstrap_servers=stack.bootstrap,
            topic_prefix=self.prefix,
            replication_factor=int(replication) if replication else "cluster",
        )
        config = work / f"config-{name}"
        shutil.copytree(REPO / "config", config)
        channels = config / "channels.yaml"
        # Short waits so a drill's deferred retries happen within its time bound.
        channels.write_text(
            channels.read_text().replace(
                "deferred_seconds: [30, 300, 1800]", "deferred_seconds: [2, 4, 8, 8, 8, 8, 8, 8]"
            )
        )
        self.env = worker_env(
            stack.bootstrap,
            self.prefix,
            f"heard-{name}",
            stack.mail_port,
            stack.sms_port,
            HEARD_CONFIG_DIR=str(config),
            HEARD_ACK_HOLD_SECONDS="0",
            HEARD_CLOSURE_GRACE_SECONDS=str(GRACE_SECONDS),
            **extra_env,
        )
        asyncio.run(ensure_topics(self.engine, [2, 4, 8]))
        self.workers: list[WorkerProcess] = []

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.work / f"{self.name}-{len(self.workers)}.log")
        worker.start()
        worker.wait_for_line("Ready", 180)
        self.workers.append(worker)
        return worker

    def publish(self, items: list[tuple[bytes, bytes]]) -> None:
        asyncio.run(produce(self.stack.bootstrap, self.engine.topic("ticket_events"), items))

    def received(self, prefix: str) -> Counter[tuple[str, str]]:
        return received(self.stack.mail_dir, prefix)

    def settle(self, expected: set[tuple[str, str]], prefix: str, limit: float) -> float:
        """Wait until every expected message arrived (or the limit); return seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if expected <= set(self.received(prefix)):
                break
            time.sleep(0.5)  # polls the mail folder; bounded by the limit
        # A little longer, so a late duplicate has the chance to show itself.
        time.sleep(3)  # a late duplicate gets 3 s to show itself before counting
        return time.monotonic() - started

    def last_decisions(self, missing: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """What the policy last decided about each expected message that never came (from the
        decision log): "send" means it was lost on the way; a skip or a cancel with its reason
        means the fault's timing changed the policy's call. Said in the report, still counted
        as lost: the drill's expectation is the judge."""
        decided: dict[tuple[str, str], str] = {}
        for _, value, _ in asyncio.run(read_topic(self.engine, self.engine.topic("decisions"))):
            for line in decision_lines(value):
                key = (str(line.get("ticket_id")), str(line.get("kind")))
                if key in missing:
                    decided[key] = f"{line.get('outcome')}: {line.get('reason')}"
        return {key: decided.get(key, "no decision recorded") for key in missing}

    def reconcile(self, report: Report, expected: set[tuple[str, str]], prefix: str) -> Report:
        got = self.received(prefix)
        report.expected = len(expected)
        report.delivered = len(expected & set(got))
        report.lost = len(expected - set(got))
        report.duplicated = sum(n - 1 for n in got.values() if n > 1)
        missing = Counter(kind for _, kind in expected - set(got))
        if missing:
            report.notes.append(
                "lost by kind: " + ", ".join(f"{kind} {n}" for kind, n in missing.most_common())
            )
            # Which ones: a ticket id to look for in the kept worker logs and `heard explain`.
            named = sorted(expected - set(got))[:10]
            report.notes.append("lost: " + ", ".join(f"{ticket} {kind}" for ticket, kind in named))
            decided = self.last_decisions(set(named))
            report.notes.append(
                "last decided: "
                + "; ".join(f"{ticket} {kind}: {decided[(ticket, kind)]}" for ticket, kind in named[:3])
            )
        unexpected = set(got) - expected
        if unexpected:
            report.notes.append(f"FAIL: {len(unexpected)} unexpected messages")
        letters = asyncio.run(read_topic(self.engine, self.engine.topic("dead_letters")))
        report.dead_lettered = Counter(
            headers.get("heard-reason", b"").decode()[:90] for _, _, headers in letters
        )
        report.dead_letter_reasons = {
            (key or b"").decode(errors="replace"): headers.get("heard-reason", b"").decode()
            for key, _, headers in letters
        }
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is not None:
                report.notes.append(f"FAIL: a worker exited ({worker.log})")
            # Faust logs an agent that raised as "Crashed"; its record would be lost.
            if "Crashed reason=" in worker.log.read_text(errors="replace"):
                report.notes.append(f"FAIL: an agent crashed ({worker.log})")
        return report

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.stop()


# ------------------------------------------------------------------ drills
def crash(work: Path, stack: LocalStack, tickets: int, kills: int, seed: int) -> Report:
    stage = Stage(work, stack, "crash")
    events, expected = workload(tickets, seed, datetime.now(UTC))
    report = Report("crash", faults=kills, allowed_duplicates=kills)
    try:
        worker = stage.start_worker()
        # Contiguous slices keep each ticket's events in their story order.
        size = -(-len(events) // (kills + 1))
        chunks = [events[i : i + size] for i in range(0, len(events), size)]
        recoveries = []
        published: set[str] = set()
        for number, chunk in enumerate(chunks[:kills], 1):
            sent_before = len(list(stack.mail_dir.glob("*.eml")))
            stage.publish(chunk)
            published |= {key.decode() for key, _ in chunk}
            owed = {item for item in expected if item[0] in published}
            # Kill in the middle of the work: the moment this slice's first message is out
            # (counting files, not reading them, so the kill is not late).
            started = time.monotonic()
            while len(list(stack.mail_dir.glob("*.eml"))) == sent_before:
                if time.monotonic() - started > 60:
                    break
                time.sleep(0.005)  # polls the mail folder; bounded by the 60 s above
            assert worker.process is not None
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait(10)
            # What the killed worker had not sent: in flight at the kill.
            in_flight = len(owed - set(stage.received(f"D{seed}-")))
            report.notes.append(
                f"kill {number}: {in_flight} of {len(owed)} messages owed so far were still to send"
            )
            if in_flight == 0:
                report.notes.append(f"FAIL: kill {number} found nothing in flight; it proves nothing")
            worker.process = None  # killed on purpose: not counted as a worker that exited
            killed_at = time.monotonic()
            worker = stage.start_worker()
            recoveries.append(time.monotonic() - killed_at)
        for chunk in chunks[kills:]:
            stage.publish(chunk)
        stage.settle(expected, f"D{seed}-", 240)
        report.recover_seconds = max(recoveries) if recoveries else None
        return stage.reconcile(report, expected, f"D{seed}-")
    finally:
        stage.stop()


def smtp_outage(work: Path, stack: LocalStack, tickets: int, outage: float, seed: int) -> Report:
    stage = Stage(work, stack, "smtp")
    events, expected = workload(tickets, seed, datetime.now(UTC))
    report = Report("smtp-outage", faults=1)
    try:
        stage.start_worker()
        half = len(events) // 2
        stage.publish(events[:half])
        time.sleep(2)  # deliveries under way when the server goes
        stack.stop_catchers()
        down_at = time.monotonic()
        stage.publish(events[half:])
        time.sleep(outage)  # the mail server stays away this long
        stack.start_catchers()
        report.notes.append(f"mail server down for {time.monotonic() - down_at:.1f} s")
        waited = stage.settle(expected, f"D{seed}-", 240)
        report.recover_seconds = max(0.0, waited - 3)
        return stage.reconcile(report, expected, f"D{seed}-")
    finally:
        stage.stop()


def broker_restart(work: Path, stack: LocalStack, tickets: int, down: float, seed: int) -> Report:
    stage = Stage(work, stack, "broker")
    events, expected = workload(tickets, seed, datetime.now(UTC))
    report = Report("broker-restart", faults=1)
    try:
        stage.start_worker()
        half = len(events) // 2
        stage.publish(events[:half])
        time.sleep(1)  # the worker is busy with the first half
        stack.broker.stop()
        time.sleep(down)  # the broker stays away this long
        stack.broker.start(timeout=90, fresh=False)
        back_at = time.monotonic()
        stage.publish(events[half:])
        stage.settle(expected, f"D{seed}-", 240)
        report.recover_seconds = time.monotonic() - back_at - 3
        report.notes.append(f"broker down for {down:.0f} s, restarted on its own data")
        return stage.reconcile(report, expected, f"D{seed}-")
    finally:
        stage.stop()


def workload_with_promises(
    tickets: int, seed: int, start: datetime, due: datetime
) -> tuple[list[tuple[bytes, bytes]], set[tuple[str, str]], list[tuple[bytes, bytes]]]:
    """The workload, with a fifth of its tickets promised for `due` and left unresolved:
    (events, what must be sent, the promise events to publish after the tickets exist)."""
    from heard.streams.delivery.config import load_settings
    from heard.streams.policy.routing import within_team_hours

    events, expected = workload(tickets, seed, start)
    policy_settings = load_settings(REPO / "config", environ={}).policy
    nudged = not within_team_hours(due, policy_settings)
    promises: list[tuple[bytes, bytes]] = []
    for n in range(0, tickets, 5):
        ticket = f"D{seed}-{n:05d}"
        promises.append(
            (
                ticket.encode(),
                stories.dumps(
                    stories.promised(
                        ticket, start - timedelta(seconds=1), due, pid=f"P{n}", eid=f"{ticket}-p"
                    )
                ),
            )
        )
        expected |= {(ticket, "checkpoint_escalation"), (ticket, "checkpoint_holding")}
        if nudged:  # a promise outside team hours is flagged to the agent at once
            expected.add((ticket, "checkpoint_nudge"))
    # Promises first, so the resolution in the workload does not cancel them: these
    # tickets are created and promised, never resolved.
    promised = {key for key, _ in promises}
    events = [(k, v) for k, v in events if k not in promised or b'"ticket.created"' in v]
    expected -= {
        (t, kind)
        for t, kind in expected
        if t.encode() in promised and kind in ("milestone_update", "closure_summary")
    }
    return events, expected, promises


def scale_out(work: Path, stack: LocalStack, tickets: int, seed: int) -> Report:
    """Three workers share the partitions; one is SIGKILLed, one is added back.

    A fifth of the tickets also carry a promise that falls due after the kill, so
    the promise's ladder must move with its partition and fire on the survivor.
    """
    stage = Stage(work, stack, "scale")
    start = datetime.now(UTC)
    events, expected, promises = workload_with_promises(tickets, seed, start, start + timedelta(seconds=45))
    report = Report("scale-out", faults=2, allowed_duplicates=1)
    try:
        for _ in range(3):
            stage.start_worker()
        time.sleep(12)  # let the three-way rebalance settle before the load
        half = len(events) // 2
        stage.publish(events[:half])
        time.sleep(2)  # the victim is mid-work when it is killed
        victim = stage.workers[1]
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        victim.process = None  # killed on purpose
        killed_at = time.monotonic()
        stage.publish(events[half:] + promises)  # each promise after its ticket's creation
        stage.start_worker()
        stage.settle(expected, f"D{seed}-", 240)
        report.recover_seconds = time.monotonic() - killed_at - 3
        report.notes.append(
            f"3 workers; 1 SIGKILLed, 1 added; {len(promises)} promises due 45 s in, after the kill"
        )
        return stage.reconcile(report, expected, f"D{seed}-")
    finally:
        stage.stop()


def bad_deploy(work: Path, stack: LocalStack, tickets: int, seed: int) -> Report:
    """While the worker runs, one template gets a syntax error and another an undefined
    variable. Nothing broken may be sent; each failure is dead-lettered with file and line."""
    templates = work / "templates"
    shutil.copytree(REPO / "templates", templates)
    stage = Stage(work, stack, "deploy", HEARD_TEMPLATES_DIR=str(templates))
    events, expected = workload(tickets, seed, datetime.now(UTC))
    half = (tickets // 2) * 3
    first = {(t, k) for t, k in expected if int(t.split("-")[1]) < tickets // 2}
    later_tickets = {t for t, _ in expected} - {t for t, _ in first}
    report = Report("bad-deploy", faults=2, expected_dead_letters=2 * len(later_tickets))
    try:
        stage.start_worker()
        stage.publish(events[:half])
        stage.settle(first, f"D{seed}-", 120)
        (templates / "milestone_update" / "en" / "email.txt").write_text(
            "Hi {{ customer.greeting_name }},\n{% if %}\n"
        )
        (templates / "closure_summary" / "en" / "email.txt").write_text(
            "Hi {{ customer.greeting_name }},\n{{ release.notes.missing }}\n"
        )
        stage.publish(events[half:])
        # Later tickets still get their acknowledgment; their milestone and closure fail.
        want = first | {(t, "acknowledgment") for t in later_tickets}
        stage.settle(want, f"D{seed}-", 120)
        time.sleep(GRACE_SECONDS + 3)  # the held closures fall due and must fail, not send
        stage.reconcile(report, want, f"D{seed}-")
        reasons = list(report.dead_lettered)
        if not all("template" in r and ".txt" in r for r in reasons):
            report.notes.append(f"FAIL: a dead letter without the template's file: {reasons}")
        report.notes.append("templates broken while running: a syntax error, an undefined name")
        return report
    finally:
        stage.stop()


def twilio_throttling(work: Path, stack: LocalStack, tickets: int, burst: float, seed: int) -> Report:
    """The SMS provider answers 429 (Retry-After 1) for `burst` seconds from the first
    message, then 503 for half as long, then recovers."""
    bursts = f"429for{burst:g},503for{burst / 2:g}"
    stack.stop_catchers()
    stack.start_catchers(sms_faults=bursts)
    stage = Stage(work, stack, "twilio", HEARD_PUBLIC_URL="https://heard.example.test")
    stage.received = lambda prefix: received_sms(stack.sms_dir, seed, tickets)  # type: ignore[method-assign]
    events, expected = workload(tickets, seed, datetime.now(UTC), channel="sms")
    report = Report("twilio-throttling", faults=1)
    try:
        stage.start_worker()
        started = time.monotonic()
        stage.publish(events)
        stage.settle(expected, f"D{seed}-", 240)
        report.recover_seconds = time.monotonic() - started - 3
        report.notes.append(f"SMS capture answered {bursts} (429 with Retry-After: 1)")
        return stage.reconcile(report, expected, f"D{seed}-")
    finally:
        stage.stop()


HOSTILE_NAMES = [
    "Eve\r\nBcc: victim@example.org",
    "{{ 7 * 7 }}",
    "{% for x in range(9) %}x{% endfor %}",
    "<script>alert(1)</script>",
    "Zoë\u202eevil",
    "Nul\x00Bel\x07Esc\x1bDel\x7f",
    "Invoice\u200b\u2066fdp.exe",
]
# Characters that must never reach a header or a body: controls, bidi and zero-width marks.
UNSEEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b\u200e\u200f\u2060\ufeff]"
)


def malformed_records() -> dict[bytes, tuple[bytes, str]]:
    """Each malformed record, keyed by its own ticket, and what its dead letter must say."""
    return {
        b"P-1": (b"{not json", "not JSON"),
        b"P-2": (b"\xff\xfe\x00garbage", "not JSON"),
        b"P-3": (b"[]", "must be a JSON object"),
        b"P-4": (
            json.dumps({"type": "ticket.exploded", "ticket_id": "P-4"}).encode(),
            "unknown event type 'ticket.exploded'",
        ),
        b"P-5": (stories.dumps(stories.created("P-5", subject="x" * 70000)), "the limit is"),
        b"P-6": (
            stories.dumps(
                stories.created(
                    "P-6", customer=stories.customer(email="a@example.net\r\nBcc: victim@example.org")
                )
            ),
            "customer.email",
        ),
        b"P-7": (
            stories.dumps(stories.created("P-7", customer=stories.customer(timezone="Mars/Olympus"))),
            "unknown IANA timezone",
        ),
        b"wrong-key": (stories.dumps(stories.created("P-8")), "is not the ticket_id"),
        b"P-9": (b'{"type":"ticket.created","x":' + b"[" * 10000 + b"]" * 10000 + b"}", "nested deeper than"),
        b"P-10": (b'{"type":"ticket.created","urgent":' + b"9" * 5000 + b"}", "a number of more than"),
        b"P-11": (
            stories.dumps({**stories.created("P-11"), "occurred_at": "0001-01-01T00:00:00+01:00"}),
            "occurred_at: Value error, outside the accepted window",
        ),
        b"P-12": (
            stories.dumps({**stories.created("P-12"), "occurred_at": "9999-12-31T23:59:59-01:00"}),
            "occurred_at: Value error, outside the accepted window",
        ),
        b"P-13": (
            stories.dumps(
                {**stories.resolved("P-13", datetime.now(UTC)), "occurred_at": "9999-12-31T23:59:59Z"}
            ),
            "outside the accepted window",
        ),
        b"P-14": (
            stories.dumps(stories.created("P-14", customer=stories.customer(email="a\u0000@example.net"))),
            "customer.email",
        ),
        b"P-15": (
            stories.dumps(
                stories.created(
                    "P-15", next_milestone={"text": "A courier update", "due_at": "9999-12-31T23:00:00+14:00"}
                )
            ),
            "next_milestone.due_at",
        ),
        b"P-16": (
            stories.dumps(stories.created("P-16", datetime.now(UTC) + timedelta(days=2))),
            "in the future",
        ),
    }


def check_mail(stack: LocalStack, report: Report) -> None:
    """No header injection, no control or invisible character, no evaluated template in
    any mail the mail catcher holds."""
    parser = BytesParser(policy=policy.default)
    for path in stack.mail_dir.glob("*.eml"):
        raw = path.read_bytes()
        mail = parser.parsebytes(raw)
        header_block = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        recipients = [a.addr_spec for a in mail["To"].addresses] if mail["To"] else []
        if mail.get("Bcc") is not None or b"\nBcc:" in header_block or any("victim" in r for r in recipients):
            report.notes.append(f"FAIL: header injection reached {path.name}")
        body = mail.get_body(("plain",))
        content = str(body.get_content()) if body is not None else ""
        shown = [str(mail["To"] or ""), str(mail["Subject"] or ""), content]
        if any(UNSEEN.search(text) for text in shown) or (mail["To"] is not None and mail["To"].defects):
            report.notes.append(f"FAIL: a control or invisible character reached {path.name}")
        if "Hi 49," in content or "xxxxxxxxx" in content:
            report.notes.append(f"FAIL: template injection evaluated in {path.name}")


def poison(work: Path, stack: LocalStack, tickets: int, seed: int) -> Report:
    stage = Stage(work, stack, "poison")
    events, expected = workload(tickets, seed, datetime.now(UTC))
    malformed = malformed_records()
    bad = [(key, value) for key, (value, _) in malformed.items()]
    hostile: list[tuple[bytes, bytes]] = []
    hostile_expected: set[tuple[str, str]] = set()
    for n, name in enumerate(HOSTILE_NAMES):
        ticket = f"D{seed}-H{n}"
        hostile.append(
            (
                ticket.encode(),
                stories.dumps(
                    stories.created(
                        ticket,
                        eid=f"{ticket}-c",
                        urgent=True,
                        subject=f"Help {name}",
                        customer=stories.customer(name=name, preferred_name=name, email=f"h{n}@example.net"),
                    )
                ),
            )
        )
        hostile_expected.add((ticket, "acknowledgment"))
    report = Report("poison", faults=len(bad) + len(hostile), expected_dead_letters=len(bad))
    try:
        stage.start_worker()
        mixed = events[:]
        for item in bad + hostile:
            mixed.insert(random.Random(seed).randrange(len(mixed)), item)
        published = time.time()
        stage.publish(mixed)
        stage.settle(expected | hostile_expected, f"D{seed}-", 240)
        stage.reconcile(report, expected | hostile_expected, f"D{seed}-")
        check_mail(stack, report)
        report.notes.append("header and template injection attempts: checked in every mail")
        # How long the ordinary tickets waited with the hostile records among them: the
        # slowest acknowledgment's arrival at the mail server after the publish ended.
        arrivals = [
            path.stat().st_mtime
            for path in stack.mail_dir.glob("*.eml")
            if "acknowledgment" in path.read_text(errors="replace")[:2000]
            and f"D{seed}-" in path.read_text(errors="replace")[:2000]
        ]
        if arrivals:
            report.notes.append(
                f"slowest ordinary acknowledgment: {max(arrivals) - published:.1f} s "
                f"after publishing began ({len(arrivals)} acknowledgments)"
            )
        for key, (_, why) in malformed.items():
            reason = report.dead_letter_reasons.get(key.decode(), "(no dead letter)")
            if why not in reason:
                report.notes.append(f"FAIL: {key.decode()} dead-lettered as {reason!r}; expected {why!r}")
        return report
    finally:
        stage.stop()


async def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return int(next(p["leader"] for p in described["partitions"] if p["partition"] == partition))
    finally:
        await admin.close()


def broker_kill(
    work: Path, stack: LocalStack, tickets: int, down: float, seed: int, target: str, workers: int
) -> Report:
    """On a cluster of three brokers: SIGKILL the leader of ticket-events partition 0 (or
    the active KRaft controller) while the work is in flight, keep publishing while it is
    down, restart it on its own data after `down` seconds. Nothing may be lost, and no
    worker is killed, so nothing may be sent twice either."""
    cluster = stack.cluster
    if cluster is None:
        raise SystemExit("broker-kill needs a local cluster: --nodes 3")
    stage = Stage(work, stack, f"kill{target}")
    events, expected = workload(tickets, seed, datetime.now(UTC))
    report = Report(f"broker-kill ({target}, {workers} worker{'s' if workers > 1 else ''})", faults=1)
    try:
        for _ in range(workers):
            stage.start_worker()
        size = -(-len(events) // 4)  # four paced, contiguous slices: each story in order
        chunks = [events[i : i + size] for i in range(0, len(events), size)]
        sent_before = len(list(stack.mail_dir.glob("*.eml")))
        stage.publish(chunks[0])
        started = time.monotonic()
        while len(list(stack.mail_dir.glob("*.eml"))) == sent_before:
            if time.monotonic() - started > 60:
                break
            time.sleep(0.01)  # polls the mail folder; bounded by the 60 s above
        node_id = (
            cluster.active_controller()
            if target == "controller"
            else asyncio.run(leader_of(stack.bootstrap, stage.engine.topic("ticket_events"), 0))
        )
        index = cluster.index_of(node_id)
        cluster.kill(index)
        killed_at = time.monotonic()
        report.notes.append(f"killed node {node_id} ({target}); down {down:.0f} s")
        for chunk in chunks[1:]:
            stage.publish(chunk)
            time.sleep(down / 4)  # paced: the work keeps coming while the broker is away
        remaining = down - (time.monotonic() - killed_at)
        if remaining > 0:
            time.sleep(remaining)  # the rest of the outage
        cluster.restart(index)
        stage.settle(expected, f"D{seed}-", 240)
        report.recover_seconds = time.monotonic() - killed_at - down
        return stage.reconcile(report, expected, f"D{seed}-")
    finally:
        stage.stop()


DRILLS = ("crash", "scale-out", "smtp-outage", "twilio-throttling", "broker-restart", "poison", "bad-deploy")
# Drills that need a local cluster (--nodes 3); run by name, not by `all`.
CLUSTER_DRILLS = ("broker-kill",)


def run(name: str, args: argparse.Namespace) -> Report:
    with tempfile.TemporaryDirectory(prefix=f"heard-drill-{name}-") as folder:
        report = run_in(name, args, Path(folder))
        if not report.passed and args.keep_logs:
            # The workers' logs of a failed run, for the note that explains it.
            kept = Path(args.keep_logs) / f"{name}-{datetime.now(UTC):%H%M%S}"
            kept.mkdir(parents=True, exist_ok=True)
            for log in Path(folder).glob("*.log"):
                shutil.copy2(log, kept / log.name)
            report.notes.append(f"worker logs kept in {kept}")
        return report


def run_in(name: str, args: argparse.Namespace, work: Path) -> Report:
    with LocalStack(work, nodes=args.nodes, bootstrap=args.bootstrap) as stack:
        if name == "broker-kill":
            return broker_kill(work, stack, args.tickets, args.outage, args.seed, args.target, args.workers)
        if name == "crash":
            return crash(work, stack, args.tickets, args.kills, args.seed)
        if name == "smtp-outage":
            return smtp_outage(work, stack, args.tickets, args.outage, args.seed)
        if name == "twilio-throttling":
            return twilio_throttling(work, stack, args.tickets, args.outage, args.seed)
        if name == "bad-deploy":
            return bad_deploy(work, stack, args.tickets, args.seed)
        if name == "scale-out":
            return scale_out(work, stack, args.tickets, args.seed)
        if name == "broker-restart":
            return broker_restart(work, stack, args.tickets, args.outage, args.seed)
        return poison(work, stack, args.tickets, args.seed)


@contextlib.contextmanager
def burning(cores: int) -> Iterator[None]:
    """`cores` busy loops beside the drill (a machine with other work on it), each stopped by
    its PID when the drill ends, however it ends."""
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(cores)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("drill", choices=[*DRILLS, *CLUSTER_DRILLS, "all"])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--outage", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--nodes", type=int, default=1, help="brokers of the local Kafka: 3 starts a KRaft cluster (RF 3)"
    )
    parser.add_argument(
        "--bootstrap",
        help="an existing cluster instead of a local one (its "
        "brokers are not killed: broker-kill needs --nodes)",
    )
    parser.add_argument(
        "--replication-factor",
        dest="replication",
        help="HEARD_REPLICATION_FACTOR for the workers (default: the cluster's)",
    )
    parser.add_argument(
        "--target",
        choices=["leader", "controller"],
        default="leader",
        help="broker-kill: the partition leader or the active controller",
    )
    parser.add_argument("--workers", type=int, default=1, help="broker-kill: workers")
    parser.add_argument("--load", type=int, default=0, help="cores kept busy while the drills run")
    parser.add_argument("--repeat", type=int, default=1, help="run the drill(s) this many times")
    parser.add_argument("--keep-logs", help="a folder where a failed run's worker logs are copied")
    args = parser.parse_args(argv)
    if args.replication:
        os.environ["HEARD_REPLICATION_FACTOR"] = args.replication
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = DRILLS if args.drill == "all" else (args.drill,)
    reports = []
    with burning(args.load):
        for attempt in range(1, args.repeat + 1):
            for name in names:
                report = run(name, args)
                reports.append(report)
                print(f"run {attempt} of {args.repeat}, {args.load} core(s) kept busy:")
                print(report.table())
                print(flush=True)
    if args.repeat > 1:
        print(f"{sum(r.passed for r in reports)} of {len(reports)} runs passed")
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
