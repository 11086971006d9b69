"""heard on a replicated cluster: three KRaft nodes of Apache Kafka on 127.0.0.1 (combined
broker and controller, default.replication.factor 3, min.insync.replicas 2), as an
operator would run it. A fresh start needs no replication setting; topics with fewer
copies than asked are named; one copy on three brokers is refused; and the command line
rides out a broker's death."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from heard.devstack.kafka import KafkaCluster
from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.kafka.topics import all_topics
from tests.conftest import Catchers, Worker, wait_for, worker_env
from tests.integration.test_end_to_end import mails_for
from tests.peers import REPO

pytestmark = pytest.mark.integration

DEFERRED = [30, 300, 1800]  # config/channels.yaml's deferred_seconds: their retry topics


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    running = KafkaCluster(tmp_path_factory.mktemp("cluster"), size=3)
    try:
        running.start(timeout=120)
    except Exception as exc:  # a cluster that cannot start fails the run, never skips
        pytest.fail(f"the 3-node Kafka cluster could not start: {exc}")
    yield running
    running.stop()


async def copies(bootstrap: str, names: list[str]) -> dict[str, int]:
    """Each topic's copies of a partition (the fewest of any of its partitions)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {
            item["topic"]: min(len(p["replicas"]) for p in item["partitions"])
            for item in await admin.describe_topics(names)
        }
    finally:
        await admin.close()


async def topics_named(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()


def heard(args: list[str], bootstrap: str, prefix: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The heard command as an operator runs it against the cluster; no replication setting
    unless one is given here."""
    environment = {key: value for key, value in os.environ.items() if key != "HEARD_REPLICATION_FACTOR"}
    environment.update(
        {
            "HEARD_CONFIG_DIR": str(REPO / "config"),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "HEARD_TOPIC_PREFIX": prefix,
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "heard.streams.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )


async def test_a_fresh_start_on_three_brokers_keeps_three_copies_of_everything(
    cluster: KafkaCluster, catchers: Catchers, tmp_path: Path
) -> None:
    prefix = "rf3."
    env = worker_env(cluster.bootstrap, catchers, prefix)
    env.pop("HEARD_REPLICATION_FACTOR", None)  # nothing set: the cluster's default
    worker = Worker(env, tmp_path / "worker.log")
    worker.start(timeout=180)
    try:
        ticket = stories.created(
            "RF-1", datetime.now(UTC), eid="rf-1", customer=stories.customer(email="rf-1@example.net")
        )
        done = await asyncio.to_thread(
            heard, ["events", "send", str(write_events(tmp_path, [ticket]))], cluster.bootstrap, prefix
        )
        assert done.returncode == 0, done.stderr
        await wait_for(lambda: mails_for(catchers.mail_dir, "RF-1"), 120, "the acknowledgment")
        names = await topics_named(cluster.bootstrap, prefix)
        engine = EngineSettings(topic_prefix=prefix, app_id=env["HEARD_APP_ID"])
        assert set(all_topics(engine, DEFERRED).values()) <= set(names)
        assert engine.changelog("tickets") in names and engine.changelog("receipts") in names
        assert await copies(cluster.bootstrap, names) == dict.fromkeys(names, 3)
    finally:
        worker.stop()


def write_events(folder: Path, events: list[dict[str, object]]) -> Path:
    path = folder / "events.jsonl"
    path.write_bytes(b"\n".join(stories.dumps(event) for event in events) + b"\n")
    return path


async def test_topics_with_one_copy_are_named_and_one_copy_on_three_brokers_refused(
    cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = "rf1."
    engine = EngineSettings(topic_prefix=prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:  # as an earlier heard created them, with HEARD_REPLICATION_FACTOR defaulting to 1
        await admin.create_topics([NewTopic(name, 4, 1) for name in all_topics(engine, DEFERRED).values()])
    finally:
        await admin.close()
    events = write_events(tmp_path, [stories.created("RF-2", datetime.now(UTC), eid="rf-2")])
    warned = await asyncio.to_thread(heard, ["events", "send", str(events)], cluster.bootstrap, prefix)
    assert warned.returncode == 0, warned.stderr
    assert (
        f"Kafka: topic {prefix}ticket-events has 1 copy of each partition, the settings "
        "ask for 3: Kafka does not add copies to an existing topic"
    ) in warned.stderr
    refused = await asyncio.to_thread(
        heard, ["events", "send", str(events)], cluster.bootstrap, prefix, HEARD_REPLICATION_FACTOR="1"
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (
        "heard: config/engine.yaml: replication_factor: HEARD_REPLICATION_FACTOR is 1 on a "
        "cluster of 3 brokers: every topic and table would have one copy, and losing its "
        "broker would stall heard. Set HEARD_REPLICATION_FACTOR=3 (with min.insync.replicas "
        "2 on the brokers)"
    )


async def test_events_sent_while_a_broker_dies_arrive_or_fail_in_one_line(
    cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = "failover."
    events = write_events(
        tmp_path, [stories.created(f"FO-{n}", datetime.now(UTC), eid=f"fo-{n}") for n in range(20)]
    )
    # A first send creates the topics, so the failover below moves existing leaders.
    assert (
        await asyncio.to_thread(heard, ["events", "send", str(events)], cluster.bootstrap, prefix)
    ).returncode == 0
    cluster.kill(0)  # SIGKILL: a broker (and controller) gone mid-flight
    try:
        during = await asyncio.to_thread(heard, ["events", "send", str(events)], cluster.bootstrap, prefix)
    finally:
        await asyncio.to_thread(cluster.restart, 0)
    assert "Traceback" not in during.stderr, during.stderr[-3000:]
    if during.returncode != 0:
        assert len(during.stderr.strip().splitlines()) == 1, during.stderr
    else:
        assert during.stdout.startswith(f"sent 20 events to {prefix}ticket-events"), during.stdout
