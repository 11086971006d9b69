"""A broken promise's escalation reaches the lead's Slack channel: a real worker on Kafka,
the Slack channel enabled in config/channels.yaml, and a local peer holding Slack's shape."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from heard.streams.contract import stories
from heard.streams.kafka.readback import read_topic
from tests.conftest import Worker, wait_for, wait_until
from tests.integration.test_end_to_end import engine, send
from tests.peers import REPO
from tests.slack_peer import RunningSlackPeer, SlackPeer

pytestmark = pytest.mark.integration

TEAM, LEAD = "/services/T000/B000/team", "/services/T000/B000/lead"


@pytest.fixture
def peer() -> Iterator[SlackPeer]:
    with RunningSlackPeer(SlackPeer()) as running:
        yield running


def config_with_slack(folder: Path) -> Path:
    """The shipped config, with Slack enabled for the team's messages beside email."""
    shutil.copytree(REPO / "config", folder)
    path = folder / "channels.yaml"
    channels = yaml.safe_load(path.read_text())
    channels["enabled"] = ["email", "sms", "slack"]
    channels["team"] = ["email", "slack"]
    channels["slack"] = {"webhooks": {"default": "SLACK_TEAM_WEBHOOK", "lead": "SLACK_LEAD_WEBHOOK"}}
    path.write_text(yaml.safe_dump(channels))
    return folder


async def test_a_broken_promise_is_escalated_to_the_leads_slack_channel(
    worker_with: Callable[..., Worker],
    peer: SlackPeer,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    worker_with(
        HEARD_CONFIG_DIR=str(config_with_slack(tmp_path / "config")),
        SLACK_TEAM_WEBHOOK=peer.url(TEAM),
        SLACK_LEAD_WEBHOOK=peer.url(LEAD),
    )
    ticket = f"SL-{random.randrange(10**6)}"
    start = datetime.now(UTC)
    await send(
        kafka_bootstrap,
        topic_prefix,
        [
            stories.created(ticket, start, urgent=True, subject="Refund <!channel> now & <b>"),
            stories.promised(
                ticket,
                start + timedelta(seconds=1),
                start + timedelta(seconds=6),
                what="Confirm the refund with billing",
            ),
        ],
    )
    await wait_for(lambda: peer.texts(LEAD), 60, "the escalation on the lead's Slack channel")

    [escalation] = peer.texts(LEAD)
    assert escalation.startswith(f"*[{ticket}] Promise missed: it was due ")
    assert "> Confirm the refund with billing" in escalation
    # The customer's subject is text in Slack: it pings nobody and opens no tag.
    assert '"Refund &lt;!channel&gt; now &amp; &lt;b&gt;"' in escalation
    assert "<!channel>" not in escalation
    assert peer.refused == []

    async def escalation_outcomes() -> list[tuple[str, str]]:
        records = await read_topic(
            engine(kafka_bootstrap, topic_prefix), f"{topic_prefix}notification-events", key=ticket.encode()
        )
        found = [json.loads(value) for _, value, _ in records]
        return sorted((o["channel"], o["status"]) for o in found if o.get("kind") == "checkpoint_escalation")

    # One escalation per channel carrying the team's messages, each with its own outcome.
    assert await wait_until(
        escalation_outcomes, lambda found: len(found) >= 2, 120, "both escalations' outcomes"
    ) == [("email", "sent"), ("slack", "sent")]
