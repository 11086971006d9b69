"""A mail server that is down longer than the quick retries: the message waits on a retry
topic and goes out when the server is back — nothing lost, nothing sent twice."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heard.devstack.catchers import start_mail_catcher
from heard.devstack.kafka import free_port
from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.kafka.readback import read_topic
from tests.conftest import Catchers, Worker, wait_for, wait_until, worker_env
from tests.integration.test_end_to_end import mails_for, send
from tests.peers import REPO

pytestmark = pytest.mark.integration


def config_with_waits(folder: Path, waits: str) -> Path:
    shutil.copytree(REPO / "config", folder, dirs_exist_ok=True)
    channels = folder / "channels.yaml"
    text = channels.read_text()
    assert "deferred_seconds: [30, 300, 1800]" in text
    channels.write_text(text.replace("deferred_seconds: [30, 300, 1800]", f"deferred_seconds: {waits}"))
    return folder


async def test_an_smtp_outage_defers_the_message_until_the_server_returns(
    kafka_bootstrap: str, catchers: Catchers, topic_prefix: str, tmp_path: Path
) -> None:
    mail_port = free_port()  # nothing listens here yet
    # Twenty deferred rounds of 3 s: the mail server below starts well inside them, however
    # slow the machine (the test waits for the outcome, not a time).
    env = worker_env(
        kafka_bootstrap,
        catchers,
        topic_prefix,
        SMTP_PORT=str(mail_port),
        HEARD_CONFIG_DIR=str(config_with_waits(tmp_path / "config", str([3] * 20))),
        HEARD_ACK_HOLD_SECONDS="0",
    )
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    mail_dir = tmp_path / "mail"
    server = None
    try:
        await send(
            kafka_bootstrap, topic_prefix, [stories.created("DR-1", datetime.now(UTC), eid="dr-1-created")]
        )
        settings = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)

        async def statuses() -> list[str]:
            return [
                json.loads(v)["status"]
                for _, v, _ in await read_topic(settings, f"{topic_prefix}notification-events", key=b"DR-1")
            ]

        first = await wait_until(statuses, lambda found: bool(found), 60, "a delivery outcome")
        assert first == ["deferred"]
        assert not mail_dir.exists()

        server = await start_mail_catcher(mail_dir, mail_port)
        await wait_for(lambda: mails_for(mail_dir, "DR-1"), 60, "the deferred mail")
        found = await wait_until(statuses, lambda found: "sent" in found, 60, "the sent outcome")
        assert found[-1] == "sent" and found.count("sent") == 1
        assert set(found[:-1]) == {"deferred"}
        assert len(mails_for(mail_dir, "DR-1")) == 1
        assert await read_topic(settings, f"{topic_prefix}heard-dead-letters") == []
    finally:
        worker.stop()
        if server is not None:
            server.close()
            await server.wait_closed()
