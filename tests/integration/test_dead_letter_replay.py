"""A broken template dead-letters a message; after the fix, `heard dead-letters replay`
sends it exactly once, and replaying again sends nothing (real Kafka, worker, SMTP)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heard.streams.base.settings import EngineSettings
from heard.streams.cli import main as heard
from heard.streams.contract import stories
from heard.streams.kafka.readback import read_positioned
from tests.conftest import Catchers, Worker, wait_for, wait_until, worker_env
from tests.integration.test_end_to_end import mails_for, send
from tests.peers import REPO

pytestmark = pytest.mark.integration

BROKEN = "Hi {{ customer.nmae }},\n"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(REPO / "templates", target)
    return target


@pytest.fixture
def worker(
    kafka_bootstrap: str, catchers: Catchers, topic_prefix: str, templates: Path, tmp_path: Path
) -> Iterator[Worker]:
    running = Worker(
        worker_env(kafka_bootstrap, catchers, topic_prefix, HEARD_TEMPLATES_DIR=str(templates)),
        tmp_path / "worker.log",
    )
    running.start()
    yield running
    running.stop()


async def cli(argv: list[str]) -> int:
    """`heard ...` in-process; it runs its own event loop, so in a thread of its own."""
    return await asyncio.to_thread(heard, argv)


def write(path: Path, text: str) -> None:
    """Write and move the mtime forward, so the template loader's reload check sees it."""
    path.write_text(text)
    later = time.time() + 2
    os.utime(path, (later, later))


async def test_fixed_template_then_replay_sends_once(
    worker: Worker,
    kafka_bootstrap: str,
    catchers: Catchers,
    topic_prefix: str,
    templates: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    email_txt = templates / "acknowledgment" / "en" / "email.txt"
    good = email_txt.read_text()
    write(email_txt, BROKEN)
    await send(
        kafka_bootstrap, topic_prefix, [stories.created("DLR-1", datetime.now(UTC), eid="dlr-1-created")]
    )
    engine = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    [letter] = await wait_until(
        lambda: read_positioned(engine, engine.topic("dead_letters")),
        lambda found: len(found) == 1,
        30,
        "the acknowledgment's dead letter",
    )
    reason = letter.headers["heard-reason"].decode()
    assert "acknowledgment/en/email.txt line 1" in reason and "nmae" in reason
    assert mails_for(catchers.mail_dir, "DLR-1") == []

    monkeypatch.setenv("HEARD_CONFIG_DIR", str(REPO / "config"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("HEARD_TOPIC_PREFIX", topic_prefix)
    assert await cli(["dead-letters", "list", "--stage", "delivery"]) == 0
    listed = capsys.readouterr().out
    assert "DLR-1" in listed and "nmae" in listed and "1 dead letter(s)" in listed
    position = f"{letter.partition}:{letter.offset}"
    assert await cli(["dead-letters", "show", position]) == 0
    shown = capsys.readouterr().out
    assert f"position:        {position}" in shown and reason.split()[0] in shown
    assert '"kind": "acknowledgment"' in shown  # the body, indented
    assert await cli(["dead-letters", "show", "9:999999"]) == 1
    assert await cli(["dead-letters", "replay"]) == 2, "replay without --stage is refused"

    write(email_txt, good)
    assert await cli(["dead-letters", "replay", "--stage", "delivery", "--key", "DLR-1"]) == 0
    assert "1 replayed, 0 skipped" in capsys.readouterr().out
    await wait_for(lambda: mails_for(catchers.mail_dir, "DLR-1"), 120, "the replayed email")
    [mail] = mails_for(catchers.mail_dir, "DLR-1")
    assert mail["X-Heard-Kind"] == "acknowledgment"
    assert mail.get_body(("plain",)).get_content().startswith("Hi Amara,")  # type: ignore[union-attr]

    # The same dead letter again: the receipt stops a second send.
    assert await cli(["dead-letters", "replay", "--stage", "delivery", "--key", "DLR-1"]) == 0
    await wait_for(
        lambda: "already delivered; not sending again" in worker.log.read_text(),
        30,
        "the worker to see the receipt",
    )
    assert len(mails_for(catchers.mail_dir, "DLR-1")) == 1
