"""Topic names and their creation. Every topic has the same partition count and is
keyed by ticket id, so one worker owns a ticket's events, state, promises and deliveries."""

from __future__ import annotations

import contextlib
import ssl

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from heard.streams.base.settings import ConfigError, EngineSettings, TopicNames
from heard.streams.kafka.client import client_options


class KafkaUnreachable(ConfigError):
    """No broker answered at start-up: a wrong address, or Kafka is not up yet."""


def prefixed_topics(engine: EngineSettings) -> TopicNames:
    """The full name of each topic heard reads or writes (the engine's prefix applied), in
    the settings' own typed model of topic names."""
    return engine.topics.model_copy(update={name: engine.topic(name)
                                            for name in TopicNames.model_fields})


# Every topic but the retry topics' stem (one topic per wait: `retry_topic`).
TOPIC_KEYS = tuple(name for name in TopicNames.model_fields if name != "retry")
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


def unreachable_reason(engine: EngineSettings, exc: BaseException) -> str:
    """Why start-up stops, naming the settings to check. (aiokafka reports a refused login
    and an absent broker alike, as "Unable to bootstrap", so a secured setup names both.)"""
    security = engine.security
    where = f"Kafka at {engine.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)"
    if security.protocol == "PLAINTEXT":
        return (f"config/engine.yaml: bootstrap_servers: no answer from {where}; "
                "is it up and reachable?")
    login = (f", {security.sasl_mechanism} as the user in {security.username_env}"
             if security.sasl_mechanism else "")
    return (f"config/engine.yaml: security: {where} did not accept heard's connection "
            f"({security.protocol}{login}): is it up, and are the credentials and the CA "
            f"(ca_file) right? ({type(exc).__name__})")


async def ensure_topics(engine: EngineSettings,
                        deferred_seconds: list[float] | None = None) -> list[str]:
    """Create missing topics with the configured partitions; return the ones created."""
    admin = AIOKafkaAdminClient(**client_options(engine), request_timeout_ms=15000)
    try:
        await admin.start()
    except (KafkaError, ssl.SSLError, OSError) as exc:
        raise KafkaUnreachable(unreachable_reason(engine, exc)) from exc
    try:
        existing = set(await admin.list_topics())
        names = all_topics(engine, deferred_seconds)
        wanted = [name for key, name in names.items() if name not in existing]
        compacted = {names[key] for key in COMPACTED}
        if wanted:
            # Another worker may create them at the same moment; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                retention_ms = str(int(engine.topic_retention_days * 86_400_000))
                await admin.create_topics([
                    NewTopic(name, engine.partitions, engine.replication_factor,
                             topic_configs={"cleanup.policy": "compact"} if name in compacted
                             else {"retention.ms": retention_ms})
                    for name in wanted
                ])
        return wanted
    finally:
        await admin.close()
