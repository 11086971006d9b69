"""The surface heard shows the internet, attacked through the real processes: a guessable
secret stops start-up, and a slowloris against the worker's public listener is cut off while
the ops listener keeps answering."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest

from bench.slowloris import attack
from heard.devstack.kafka import free_port
from tests.conftest import Catchers, Worker, wait_until
from tests.integration.conftest import public_worker
from tests.peers import REPO

pytestmark = pytest.mark.integration

# Shorter than the shipped 10 s so the test waits less; the mechanism is the same.
HEADER_SECONDS = 3
MAX_CONNECTIONS = 200
ATTACK = 3000


def heard(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run the heard command as an operator would, with this environment added; no Kafka
    listens at the address given, so only what comes before Kafka can pass."""
    environment = {**os.environ, "HEARD_CONFIG_DIR": str(REPO / "config"),
                   "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                   "HEARD_INGEST_PORT": str(free_port()), "HEARD_INGEST_OPS_PORT": str(free_port()),
                   "HEARD_DATA_DIR": str(REPO / "build" / "surface-data"), **env}
    return subprocess.run([sys.executable, "-m", "heard.streams.cli", *args], env=environment,
                          capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


@pytest.mark.parametrize(("token", "said"), [
    ("change-me", "holds a published placeholder"),
    ("CHANGE_ME", "holds a published placeholder"),
    ("s3cr3t-but-short", "holds 16 characters; a secret needs at least 32"),
    ("a" * 40, "repeats 1 distinct characters"),
], ids=["compose's old default", "the default shouted", "short", "not random"])
def test_a_guessable_events_token_stops_ingest(token: str, said: str) -> None:
    done = heard(["ingest"], HEARD_EVENTS_TOKEN=token)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("heard: config/connectors.yaml: events_token_env: "
                                  f"HEARD_EVENTS_TOKEN {said}"), done.stderr
    assert "secrets.token_urlsafe(32)" in done.stderr and "Traceback" not in done.stderr


def test_a_placeholder_twilio_token_stops_a_worker_that_takes_callbacks() -> None:
    done = heard(["worker"], HEARD_PUBLIC_URL="https://heard.example.test",
                 TWILIO_AUTH_TOKEN="change-me")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("heard: config/channels.yaml: sms.auth_token_env: "
                                  "TWILIO_AUTH_TOKEN holds a published placeholder"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_short_link_secret_stops_the_worker() -> None:
    done = heard(["worker"], HEARD_PUBLIC_URL="https://heard.example.test",
                 TWILIO_AUTH_TOKEN="3c9f1a7e5b2d8c4f6a0e9b1d7c3f5a2e", HEARD_LINK_SECRET="hunter2")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "email.reply_links_secret_env: HEARD_LINK_SECRET holds 7 characters" in done.stderr


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"surface{os.getpid()}."


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, catchers: Catchers, prefix: str, web_port: int, ops_port: int,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    yield from public_worker(kafka_bootstrap, catchers, prefix, web_port, ops_port,
                             tmp_path_factory, HEARD_WEB_HEADER_SECONDS=str(HEADER_SECONDS),
                             HEARD_WEB_MAX_CONNECTIONS=str(MAX_CONNECTIONS))


async def status_of(port: int, path: str, method: str = "GET") -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session, \
            session.request(method, f"http://127.0.0.1:{port}{path}") as answer:
        return answer.status


async def test_a_slowloris_is_cut_off_and_the_ops_listener_keeps_answering(
        worker: Worker, web_port: int, ops_port: int) -> None:
    await wait_until(lambda: status_of(ops_port, "/readyz"), lambda status: status == 200, 90,
                     "the worker to be ready")
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
