"""Read a topic from the beginning to its current end: for `explain`, reports, dead
letters, the demo and tests."""

from __future__ import annotations

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


async def read_topic(engine: EngineSettings, topic: str, key: bytes | None = None,
                     timeout_ms: int = 2000) -> list[Record]:
    return [(record.key, record.value, record.headers)
            for record in await read_positioned(engine, topic, key, timeout_ms)]


async def read_positioned(engine: EngineSettings, topic: str, key: bytes | None = None,
                          timeout_ms: int = 2000) -> list[Positioned]:
    consumer = AIOKafkaConsumer(**client_options(engine), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await partition_ids(engine, topic)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        records: list[Positioned] = []
        remaining = {tp for tp in assigned if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                break
            for tp, messages in batch.items():
                for message in messages:
                    if key is None or message.key == key:
                        records.append(Positioned(
                            tp.partition, message.offset, message.timestamp, message.key,
                            message.value or b"", dict(message.headers or ())))
                    if message.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return records
    finally:
        await consumer.stop()
