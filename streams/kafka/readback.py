"""Read a topic from the beginning to its current end: for `explain`, reports, dead
letters, the demo and tests."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from heard.streams.base.settings import EngineSettings
from heard.streams.kafka.client import client_options

Record = tuple[bytes | None, bytes, dict[str, bytes]]


class Positioned(NamedTuple):
    """A record with where it sits, so it can be named (and replayed) precisely."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


async def partition_ids(engine: EngineSettings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(**client_options(engine))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for item in described:
        if item.get("topic") == topic and not item.get("error_code"):
            return sorted(int(p["partition"]) for p in item.get("partitions", []))
    return []


# How long a read may take to reach the end it measured at its start before it gives up: a
# loaded broker can pause a fetch for seconds, and a short read would pass for a whole one.
READ_DEADLINE_SECONDS = 60.0


class ReadIncomplete(TimeoutError):
    """A topic could not be read to the end it had when the read began."""


async def read_topic(
    engine: EngineSettings,
    topic: str,
    key: bytes | None = None,
    timeout_ms: int = 2000,
    deadline_s: float = READ_DEADLINE_SECONDS,
) -> list[Record]:
    return [
        (record.key, record.value, record.headers)
        for record in await read_positioned(engine, topic, key, timeout_ms, deadline_s)
    ]


async def read_positioned(
    engine: EngineSettings,
    topic: str,
    key: bytes | None = None,
    timeout_ms: int = 2000,
    deadline_s: float = READ_DEADLINE_SECONDS,
) -> list[Positioned]:
    """Every record of `topic` (of `key` only, when given) up to the end offsets the topic
    had when the read began. A poll that brings nothing does not end the read: only having
    reached every partition's end does (the consumer's position, which steps over offsets
    compaction removed), or the deadline, which raises `ReadIncomplete`."""
    consumer = AIOKafkaConsumer(
        **client_options(engine), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        await consumer.start()
        partitions = await partition_ids(engine, topic)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        records: list[Positioned] = []
        remaining = {tp for tp in assigned if ends[tp] > 0}
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline_s
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=timeout_ms)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        break
                    if key is None or message.key == key:
                        records.append(
                            Positioned(
                                tp.partition,
                                message.offset,
                                message.timestamp,
                                message.key,
                                message.value or b"",
                                dict(message.headers or ()),
                            )
                        )
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
            if remaining and loop.time() > give_up:
                left = ", ".join(str(tp.partition) for tp in sorted(remaining))
                raise ReadIncomplete(
                    f"{topic}: partition(s) {left} not read to their end "
                    f"within {deadline_s:.0f} s; is Kafka overloaded?"
                )
        return records
    finally:
        await consumer.stop()
