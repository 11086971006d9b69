"""How many Kafka records heard writes per message, topic by topic (issue: messages at the
cost of their parts). Every record is a produce and, for a changelog, a write that recovery
reads back: the count is what the hot path costs beyond the send itself.

    python -m bench.records [--messages 200] [--decision-records line|per_event]

On a fresh local stack it runs acknowledgment emails and acknowledgment texts through one
worker (the acknowledgment's hold at 0 s) and, once every outcome is in, counts the records
on each of heard's topics and changelogs, divided by the messages sent. The input events
(`ticket-events`) are the help desk's and are not counted. Prints one table per channel.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from bench.common import LocalStack, produce
from bench.throughput import PARTITIONS, created_events, heard_workers, topic_size, watch_rate
from heard.streams.base.settings import EngineSettings
from heard.streams.kafka.topics import ensure_topics


async def records_by_topic(bootstrap: str, prefix: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
    finally:
        await admin.close()
    return {name.removeprefix(prefix): await topic_size(bootstrap, name) for name in sorted(names)}


def count(stack: LocalStack, work: Path, channel: str, messages: int, decisions: str) -> dict[str, int]:
    prefix = f"rec{channel}{decisions.replace('_', '')}."
    engine = EngineSettings(bootstrap_servers=stack.bootstrap, topic_prefix=prefix, partitions=PARTITIONS)
    asyncio.run(ensure_topics(engine, [30, 300, 1800]))
    running = heard_workers(stack, work, prefix, 1, HEARD_DECISION_RECORDS=decisions)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731 - the events' time
    try:
        asyncio.run(
            produce(
                stack.bootstrap,
                engine.topic("ticket_events"),
                created_events(f"r{channel}-", messages, channel, clock),
            )
        )
        asyncio.run(watch_rate(stack.bootstrap, engine.topic("notification_events"), messages, 600))
    finally:
        for worker in running:
            worker.stop()
    return asyncio.run(records_by_topic(stack.bootstrap, prefix))


def table(channel: str, messages: int, found: dict[str, int]) -> str:
    written = {topic: n for topic, n in found.items() if topic != "ticket-events" and n}
    lines = [f"{channel}: {messages} acknowledgments", "| topic | records | per message |", "|---|---|---|"]
    lines += [
        f"| {topic} | {n} | {n / messages:.2f} |"
        for topic, n in sorted(written.items(), key=lambda kv: -kv[1])
    ]
    lines.append(f"| **all** | {sum(written.values())} | **{sum(written.values()) / messages:.2f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--decision-records", choices=["line", "per_event"], default="per_event")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="heard-records-") as folder, LocalStack(Path(folder)) as stack:
        for channel in ("email", "sms"):
            found = count(stack, Path(folder), channel, args.messages, args.decision_records)
            print(table(f"{channel} (decision records: {args.decision_records})", args.messages, found))
            print()


if __name__ == "__main__":
    main()
