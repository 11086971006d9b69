"""The surface heard shows the internet, attacked through the real processes: a guessable
secret stops start-up, and a slowloris against the worker's public listener is cut off while
the ops listener keeps answering."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bench.slowloris import attack
from heard.devstack.kafka import free_port
from heard.streams.contract import stories
from tests.conftest import Catchers, Worker, wait_for, wait_until
from tests.integration.conftest import public_worker
from tests.integration.test_end_to_end import mails_for, send
from tests.peers import REPO

pytestmark = pytest.mark.integration

# Shorter than the shipped 10 s so the test waits less; the mechanism is the same.
HEADER_SECONDS = 3
MAX_CONNECTIONS = 200
ATTACK = 3000


def heard(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run the heard command as an operator would, with this environment added; no Kafka
    listens at the address given, so only what comes before Kafka can pass."""
    environment = {
        **os.environ,
        "HEARD_CONFIG_DIR": str(REPO / "config"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "HEARD_INGEST_PORT": str(free_port()),
        "HEARD_INGEST_OPS_PORT": str(free_port()),
        "HEARD_DATA_DIR": str(REPO / "build" / "surface-data"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "heard.streams.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("token", "said"),
    [
        ("change-me", "holds a published placeholder"),
        ("CHANGE_ME", "holds a published placeholder"),
        ("s3cr3t-but-short", "holds 16 characters; a secret needs at least 32"),
        ("a" * 40, "repeats 1 distinct characters"),
    ],
    ids=["compose's old default", "the default shouted", "short", "not random"],
)
def test_a_guessable_events_token_stops_ingest(token: str, said: str) -> None:
    done = heard(["ingest"], HEARD_EVENTS_TOKEN=token)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"heard: config/connectors.yaml: events_token_env: HEARD_EVENTS_TOKEN {said}"
    ), done.stderr
    assert "secrets.token_urlsafe(32)" in done.stderr and "Traceback" not in done.stderr


def test_a_placeholder_twilio_token_stops_a_worker_that_takes_callbacks() -> None:
    done = heard(["worker"], HEARD_PUBLIC_URL="https://heard.example.test", TWILIO_AUTH_TOKEN="change-me")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(
        "heard: config/channels.yaml: sms.auth_token_env: TWILIO_AUTH_TOKEN holds a published placeholder"
    ), done.stderr
    assert "Traceback" not in done.stderr


def test_a_short_link_secret_stops_the_worker() -> None:
    done = heard(
        ["worker"],
        HEARD_PUBLIC_URL="https://heard.example.test",
        TWILIO_AUTH_TOKEN="3c9f1a7e5b2d8c4f6a0e9b1d7c3f5a2e",
        HEARD_LINK_SECRET="hunter2",
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "email.reply_links_secret_env: HEARD_LINK_SECRET holds 7 characters" in done.stderr


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"surface{os.getpid()}."


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str,
    catchers: Catchers,
    prefix: str,
    web_port: int,
    ops_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    yield from public_worker(
        kafka_bootstrap,
        catchers,
        prefix,
        web_port,
        ops_port,
        tmp_path_factory,
        HEARD_WEB_HEADER_SECONDS=str(HEADER_SECONDS),
        HEARD_WEB_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )


async def status_of(port: int, path: str, method: str = "GET") -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.request(method, f"http://127.0.0.1:{port}{path}") as answer,
    ):
        return answer.status


async def test_a_slowloris_is_cut_off_and_the_ops_listener_keeps_answering(
    worker: Worker, web_port: int, ops_port: int
) -> None:
    await wait_until(
        lambda: status_of(ops_port, "/readyz"), lambda status: status == 200, 90, "the worker to be ready"
    )
    report = await attack(web_port, ATTACK, probe_port=ops_port, give_up=60)
    print("\n".join(report.lines()))
    # Every connection was closed by the worker, none left for this test to close: those
    # beyond max_connections at once, the rest once their headers were overdue.
    assert report.left_open == 0, report.lines()
    assert report.shed_at_once > 0 and report.held > 0, report.lines()
    assert report.refused + report.shed_at_once + report.held == ATTACK, report.lines()
    # The ops listener answered throughout: an orchestrator would not kill this worker.
    assert report.probe_statuses and set(report.probe_statuses) == {200}, report.lines()
    assert worker.process is not None and worker.process.poll() is None
    # And after it, the public listener serves again.
    assert await status_of(web_port, "/twilio/status") == 405
    assert await status_of(web_port, "/twilio/status", "POST") in (400, 403)


LABEL = re.compile(r'(\w+)="([^"]*)"')
PHONE_LIKE = re.compile(r"\d[\d\s().-]{5,}\d")


async def series(port: int) -> set[str]:
    """Every series on /metrics (name and labels), with its label values."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as answer,
    ):
        text = await answer.text()
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


async def test_metrics_labels_carry_no_personal_data_and_do_not_grow_with_tickets(
    worker: Worker, kafka_bootstrap: str, prefix: str, ops_port: int, catchers: Catchers
) -> None:
    """Help desks send agents' addresses as ids and customers' names as teams: after two
    rounds of such tickets, /metrics names none of them, and the second round added no
    series."""

    async def round_of(tickets: range) -> set[str]:
        now = datetime.now(UTC)
        events = []
        for n in tickets:
            agent = {
                "id": f"sam.private{n}@example.com",
                "name": f"Sam Private {n}",
                "team": f"Lab Customer +1415555{n:04d}",
                "email": "sam@example.com",
            }
            events += [
                stories.created(f"MX-{n}", now, eid=f"mx-{n}-c", urgent=True, agent=agent),
                stories.promised(f"MX-{n}", now, now + timedelta(hours=2), eid=f"mx-{n}-p", agent=agent),
            ]
        await send(kafka_bootstrap, prefix, events)
        await wait_for(
            lambda: all(mails_for(catchers.mail_dir, f"MX-{n}") for n in tickets),
            90,
            "every ticket's acknowledgment",
        )

        def promises_counted(found: set[str]) -> bool:
            return any(s.startswith("heard_promises_total{") for s in found)

        return await wait_until(lambda: series(ops_port), promises_counted, 60, "the promises counted")

    def personal(line: str) -> list[str]:
        return [
            value
            for name, value in LABEL.findall(line)
            if name not in ("le", "quantile") and ("@" in value or PHONE_LIKE.search(value))
        ]

    first = await round_of(range(0, 10))
    assert not [line for line in first if personal(line)]
    second = await round_of(range(10, 30))
    assert not [line for line in second if personal(line)]
    # Twice the tickets, of the same shape: not one series more. (The group's lag has one
    # series a partition, each appearing once the group commits on it: bounded by the
    # partition count, not by tickets.)
    grown = {line for line in second - first if not line.startswith("heard_consumer_lag{")}
    assert grown == set(), sorted(grown)
