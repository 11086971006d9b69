"""Fixtures the integration tests share beyond the services in tests/conftest.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from heard.devstack.kafka import free_port
from tests.conftest import Catchers, Worker, worker_env

# Where Twilio (and customers' browsers) reach the public listener, as it signs requests.
PUBLIC = "https://heard.example.test"
TOKEN = "3c9f1a7e5b2d8c4f6a0e9b1d7c3f5a2e"  # as long as a Twilio auth token


def chromium() -> str:
    """The system's Chromium: Playwright's own browser download is not used."""
    for candidate in (os.environ.get("HEARD_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    pytest.fail("no Chromium found: install Debian's `chromium` or set HEARD_CHROMIUM")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
        launched = await playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def ops_port() -> int:
    return free_port()


def public_worker(
    kafka_bootstrap: str,
    catchers: Catchers,
    prefix: str,
    web_port: int,
    ops_port: int,
    tmp_path_factory: pytest.TempPathFactory,
    **extra: str,
) -> Iterator[Worker]:
    """A worker whose public listener Twilio and browsers reach at PUBLIC, for a module."""
    env = worker_env(
        kafka_bootstrap,
        catchers,
        prefix,
        HEARD_WEB_ENABLED="true",
        HEARD_WEB_PORT=str(web_port),
        HEARD_OPS_PORT=str(ops_port),
        HEARD_PUBLIC_URL=PUBLIC,
        TWILIO_AUTH_TOKEN=TOKEN,
        HEARD_ACK_HOLD_SECONDS="0",
        **extra,
    )
    running = Worker(env, tmp_path_factory.mktemp("worker") / "worker.log")
    running.start()
    yield running
    running.stop()
