"""Timer scale: memory per pending promise, restore time, and firing lateness.

    python -m bench.promises --count 1000000 --store rocksdb://

1. Starts Apache Kafka on 127.0.0.1 (a fresh broker), a mail catcher and an SMS
   capture in this process.
2. Seeds the worker's own changelog topics with `count` tickets that each hold a
   pending promise due in two days. Each state is what `decide()` produces for
   created -> public reply -> promise (computed once, then given each ticket's
   id), serialised and partitioned exactly as the worker does. Publishing the
   2 x count events through the worker would take far longer and measure event
   throughput, which `bench/throughput.py` measures instead.
3. Starts a worker on an empty table first (baseline memory and start time),
   then on the seeded one: restore time = process start -> timers restored,
   memory per pending promise = (RSS seeded - RSS empty) / count.
4. With the table loaded, publishes `firing` real tickets whose promises fall
   due over the next minute, lets them break, and reads the decision log:
   lateness = escalation decided at - promise due at.

Writes JSON to build/bench/ and prints a table. Bounded in time; stops what it
started, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from bench.common import REPO, LocalStack, WorkerProcess, rss_mib, worker_env
from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import decision_lines
from heard.streams.delivery.config import load_settings
from heard.streams.kafka.readback import read_topic
from heard.streams.kafka.topics import ensure_topics
from heard.streams.policy.decide import decide
from heard.streams.policy.step import Rules

PLACEHOLDER = "BENCHTICKET"
PARTITIONS = 4


def template_state(now: datetime) -> tuple[str, float]:
    """The state `decide` builds for a ticket with one pending promise, and its next due time."""
    rules = Rules(policy=load_settings(REPO / "config").policy)
    due = (now + timedelta(days=2)).replace(hour=13, minute=0, second=0, microsecond=0)
    while due.weekday() >= 5:  # a working day, so the promise is inside team hours
        due += timedelta(days=1)
    state = None
    story = [
        (
            stories.created(PLACEHOLDER, now - timedelta(minutes=3), eid=f"{PLACEHOLDER}-c"),
            now - timedelta(minutes=3),
        ),
        (
            stories.reply(PLACEHOLDER, now - timedelta(minutes=2), eid=f"{PLACEHOLDER}-r"),
            now - timedelta(minutes=2),
        ),
        (
            stories.promised(PLACEHOLDER, now - timedelta(minutes=1), due, eid=f"{PLACEHOLDER}-p"),
            now - timedelta(minutes=1),
        ),
    ]
    for event, at in story:
        state = decide(state, parse_event(stories.dumps(event)), at, rules).state
    assert state is not None and state.promises["P1"].status == "pending"
    assert not state.sent, "the template must not carry ids derived from the placeholder"
    next_due = state.next_due()
    assert next_due is not None
    return state.to_json().decode(), next_due.timestamp()


async def seed_changelogs(bootstrap: str, group_id: str, count: int, now: datetime) -> float:
    """Write `count` ticket states and due-index entries the way the worker's tables do
    (`group_id`: the worker's topic prefix and app id, its changelogs' first part)."""
    state_json, next_due = template_state(now)
    tickets_topic, due_topic = f"{group_id}-tickets-changelog", f"{group_id}-due-index-changelog"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(name, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"})
                for name in (tickets_topic, due_topic)
            ]
        )
    finally:
        await admin.close()
    partitioner = DefaultPartitioner()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, acks=1)
    await producer.start()
    started = time.monotonic()
    try:
        pending: list[Any] = []
        due_value = json.dumps(next_due).encode()
        for n in range(count):
            ticket = f"S-{n:07d}"
            # Faust's table codec is JSON for str keys and values; the partition is the
            # one the ticket's events land on (murmur2 of the raw ticket id).
            partition = partitioner(ticket.encode(), list(range(PARTITIONS)), None)
            key = json.dumps(ticket).encode()
            state = json.dumps(state_json.replace(PLACEHOLDER, ticket)).encode()
            pending.append(await producer.send(tickets_topic, state, key=key, partition=partition))
            pending.append(await producer.send(due_topic, due_value, key=key, partition=partition))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


async def fire(bootstrap: str, prefix: str, firing: int, spread: float) -> dict[str, datetime]:
    """Real tickets whose promises fall due from 20 s on, spread over `spread` seconds."""
    start = datetime.now(UTC)
    first_due = start + timedelta(seconds=20)
    dues: dict[str, datetime] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        for n in range(firing):
            ticket = f"F-{n:05d}"
            due = first_due + timedelta(seconds=spread * n / max(1, firing))
            dues[ticket] = due
            for event in (
                stories.created(ticket, start, eid=f"{ticket}-c"),
                stories.reply(ticket, start, eid=f"{ticket}-r"),
                stories.promised(ticket, start, due, eid=f"{ticket}-p"),
            ):
                await producer.send(f"{prefix}ticket-events", stories.dumps(event), key=ticket.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return dues


async def lateness(engine: EngineSettings, dues: dict[str, datetime], within_seconds: float) -> list[float]:
    """Escalation decision time minus due time, per firing promise (seconds)."""
    deadline = time.monotonic() + within_seconds
    found: dict[str, float] = {}
    while time.monotonic() < deadline and len(found) < len(dues):
        lines = [
            line
            for _, value, _ in await read_topic(engine, engine.topic("decisions"))
            for line in decision_lines(value)
        ]
        for line in lines:
            if (
                line["kind"] == "checkpoint_escalation"
                and line["outcome"] == "send"
                and line["ticket_id"] in dues
            ):
                decided = datetime.fromisoformat(line["at"])
                found[line["ticket_id"]] = (decided - dues[line["ticket_id"]]).total_seconds()
        await asyncio.sleep(2)  # polls the decision log; bounded by the deadline
    return sorted(found.values())


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def run(
    count: int, store: str, firing: int, spread: float, work: Path, stack: LocalStack
) -> dict[str, Any]:
    mail_port, sms_port, bootstrap = stack.mail_port, stack.sms_port, stack.bootstrap
    result: dict[str, Any] = {"count": count, "store": store, "firing": firing, "partitions": PARTITIONS}

    async def measure(label: str, app_id: str, seeded: int) -> tuple[WorkerProcess, float, float, str]:
        prefix = f"{label}."
        engine = EngineSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=PARTITIONS)
        await ensure_topics(engine, [30, 300, 1800])
        env = worker_env(
            bootstrap,
            prefix,
            app_id,
            mail_port,
            sms_port,
            HEARD_STORE=store,
            HEARD_DATA_DIR=str(work / f"data-{label}"),
            HEARD_ACK_HOLD_SECONDS="0",
        )
        worker = WorkerProcess(env, work / f"{label}.log")
        worker.start()
        ready, _ = worker.wait_for_restored(seeded, 1800)
        await asyncio.sleep(3)  # let start-up garbage settle before reading RSS
        assert worker.process is not None
        return worker, ready, rss_mib(worker.process.pid), prefix

    empty, empty_ready, empty_rss, _ = await measure("empty", "heard-bench-empty", 0)
    empty.stop()
    now = datetime.now(UTC)
    seed_seconds = await seed_changelogs(bootstrap, "seeded.heard-bench", count, now)
    result["seed_seconds"] = round(seed_seconds, 1)
    worker, ready, rss, prefix = await measure("seeded", "heard-bench", count)
    result.update(
        {
            "empty_start_seconds": round(empty_ready, 1),
            "empty_rss_mib": round(empty_rss, 1),
            "restore_seconds": round(ready, 1),
            "rss_mib": round(rss, 1),
            "bytes_per_pending_promise": round((rss - empty_rss) * 1024 * 1024 / max(1, count)),
        }
    )
    try:
        result.update(await fired_lateness(bootstrap, prefix, firing, spread))
        if store == "rocksdb://":
            worker.stop()
            result.update(warm_restart(worker, work, count))
    finally:
        worker.stop()
    return result


async def fired_lateness(bootstrap: str, prefix: str, firing: int, spread: float) -> dict[str, Any]:
    """`firing` promises made due over `spread` seconds: how late each fired."""
    engine = EngineSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    dues = await fire(bootstrap, prefix, firing, spread)
    late = await lateness(engine, dues, within_seconds=20 + spread + 120)
    return {
        "fired": len(late),
        "lateness_p50_s": round(pct(late, 50), 3),
        "lateness_p99_s": round(pct(late, 99), 3),
        "lateness_max_s": round(max(late), 3) if late else None,
    }


def warm_restart(worker: WorkerProcess, work: Path, count: int) -> dict[str, Any]:
    """The same worker started again on its RocksDB data: how long until its timers are back."""
    restart = WorkerProcess(worker.env, work / "seeded-restart.log")
    restart.start()
    warm, restored = restart.wait_for_restored(count, 1800)
    restart.stop()
    return {"warm_restart_seconds": round(warm, 1), "warm_restart_timers": restored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--store", choices=["memory://", "rocksdb://"], default="memory://")
    parser.add_argument("--firing", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="heard-bench-") as work, LocalStack(Path(work)) as stack:
        result = asyncio.run(run(args.count, args.store, args.firing, args.spread, Path(work), stack))
    name = f"promises-{args.count}-{args.store.split(':')[0]}.json"
    (args.out / name).write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(f"written to {args.out / name}")


if __name__ == "__main__":
    main()
