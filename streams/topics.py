"""Topic names and their creation. Every topic has the same partition count and is
keyed by ticket id, so one worker owns a ticket's events, state, promises and deliveries."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from heard.streams.settings import ConfigError, EngineSettings


class KafkaUnreachable(ConfigError):
    """No broker answered at start-up: a wrong address, or Kafka is not up yet."""

TOPIC_KEYS = ("ticket_events", "timers", "outbound", "notification_events", "decisions",
              "dead_letters", "consent", "sms_status", "sms_inbound",
              "promises")
# Kept forever as the latest value per key: the consent ledger is rebuilt from it.
COMPACTED = ("consent",)


def topic_names(engine: EngineSettings) -> dict[str, str]:
    return {key: engine.topic(key) for key in TOPIC_KEYS}


def retry_topic(engine: EngineSettings, wait_seconds: float) -> str:
    return f"{engine.topic('retry')}-{wait_seconds:g}s"


def all_topics(engine: EngineSettings, deferred_seconds: list[float] | None = None) -> dict[str, str]:
    names = topic_names(engine)
    for wait in deferred_seconds or []:
        names[f"retry_{wait:g}"] = retry_topic(engine, wait)
    return names


async def ensure_topics(engine: EngineSettings,
                        deferred_seconds: list[float] | None = None) -> list[str]:
    """Create missing topics with the configured partitions; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=engine.bootstrap_servers,
                                request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise KafkaUnreachable(
            f"config/engine.yaml: bootstrap_servers: no Kafka broker answered at "
            f"{engine.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS); is it up and reachable?"
        ) from exc
    try:
        existing = set(await admin.list_topics())
        names = all_topics(engine, deferred_seconds)
        wanted = [name for key, name in names.items() if name not in existing]
        compacted = {names[key] for key in COMPACTED}
        if wanted:
            # Another worker may create them at the same moment; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([
                    NewTopic(name, engine.partitions, engine.replication_factor,
                             topic_configs={"cleanup.policy": "compact"} if name in compacted
                             else {})
                    for name in wanted
                ])
        return wanted
    finally:
        await admin.close()
