"""Topic names and their creation. Every topic has the same partition count and is
keyed by ticket id, so one worker owns a ticket's events, state, promises and deliveries."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.settings import EngineSettings

TOPIC_KEYS = ("ticket_events", "timers", "outbound", "notification_events", "decisions",
              "dead_letters")


def topic_names(engine: EngineSettings) -> dict[str, str]:
    return {key: engine.topic(key) for key in TOPIC_KEYS}


async def ensure_topics(engine: EngineSettings) -> list[str]:
    """Create missing topics with the configured partitions; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=engine.bootstrap_servers,
                                request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in topic_names(engine).values() if name not in existing]
        if wanted:
            # Another worker may create them at the same moment; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([
                    NewTopic(name, engine.partitions, engine.replication_factor)
                    for name in wanted
                ])
        return wanted
    finally:
        await admin.close()
