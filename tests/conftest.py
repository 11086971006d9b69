"""Shared fixtures. Integration fixtures start real services; if one cannot start,
the test fails (never skips)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from heard.devstack.catchers import start_mail_catcher, start_sms_capture
from heard.devstack.kafka import KafkaBroker, free_port
from heard.devstack.worker import WorkerProcess
from tests.peers import REPO, Prism

T = TypeVar("T")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Apache Kafka broker: the one in KAFKA_BOOTSTRAP_SERVERS, or one started here."""
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), port=free_port())
    try:
        broker.start(timeout=90)
    except Exception as exc:  # any start failure must fail the test run, not skip it
        pytest.fail(f"Kafka could not start: {exc}")
    yield broker.bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    peer = Prism(tmp_path_factory.mktemp("prism"))
    try:
        peer.start()
    except RuntimeError as exc:
        pytest.fail(f"the Twilio contract peer (Prism) could not start: {exc}")
    yield peer
    peer.stop()


@dataclass
class Catchers:
    mail_port: int
    sms_port: int
    mail_dir: Path
    sms_dir: Path


@pytest.fixture(scope="session")
def catchers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catchers]:
    """The mail catcher and SMS capture serve from a thread of their own, as real servers
    would: they answer between tests and while a test blocks (starting a worker), so a
    worker's send is never left waiting on the test's event loop."""
    root = tmp_path_factory.mktemp("outbox")
    mail_port, sms_port = free_port(), free_port()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="catchers", daemon=True)
    thread.start()

    async def start() -> tuple[asyncio.Server, Any]:
        return (
            await start_mail_catcher(root / "mail", mail_port),
            await start_sms_capture(root / "sms", sms_port),
        )

    async def stop(mail: asyncio.Server, sms: Any) -> None:
        mail.close()
        await mail.wait_closed()
        await sms.cleanup()

    try:
        mail, sms = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    except Exception as exc:  # a catcher that cannot start fails the run, never skips
        pytest.fail(f"the mail catcher or SMS capture could not start: {exc}")
    yield Catchers(mail_port, sms_port, root / "mail", root / "sms")
    asyncio.run_coroutine_threadsafe(stop(mail, sms), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


class Worker(WorkerProcess):
    """A worker for one test, run from the checkout, ready once it says so."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(env, log, cwd=REPO)

    def start(self, timeout: float = 90) -> None:  # type: ignore[override]
        super().start()
        self.wait_for_line("Ready", timeout)


def worker_env(bootstrap: str, catchers: Catchers, prefix: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "HEARD_CONFIG_DIR": str(REPO / "config"),
        "HEARD_TEMPLATES_DIR": str(REPO / "templates"),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HEARD_TOPIC_PREFIX": prefix,
        "HEARD_APP_ID": f"heard-test-{prefix.rstrip('.')}",
        "HEARD_WEB_ENABLED": "false",
        "HEARD_WEB_PORT": str(free_port()),
        "SMTP_PORT": str(catchers.mail_port),
        "TWILIO_BASE_URL": f"http://127.0.0.1:{catchers.sms_port}",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": "test-token",
        "HEARD_ACK_HOLD_SECONDS": "1",
        "HEARD_CLOSURE_GRACE_SECONDS": "2",
        "HEARD_LAG_INTERVAL_SECONDS": "1",
    }
    env.update(extra)
    return env


@pytest.fixture
def worker_with(
    kafka_bootstrap: str, catchers: Catchers, topic_prefix: str, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start a worker process for this test, with extra environment; stopped after it."""
    started: list[Worker] = []

    def start(**extra: str) -> Worker:
        worker = Worker(
            worker_env(kafka_bootstrap, catchers, topic_prefix, **extra),
            tmp_path / f"worker-{len(started)}.log",
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """Each test gets its own topics."""
    return f"t{uuid.uuid4().hex[:10]}."


async def wait_until(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float, what: str
) -> T:
    """Poll an async probe until its answer is accepted; return that answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await probe()
        if accept(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {answer!r}")
        await asyncio.sleep(0.2)  # polls the probe; bounded by the deadline


async def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)  # polls the predicate; bounded by the deadline
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
