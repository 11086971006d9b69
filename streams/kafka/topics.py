"""Topic names and their creation. Every topic has the same partition count and is
keyed by ticket id, so one worker owns a ticket's events, state, promises and deliveries."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from heard.streams.base.settings import EngineSettings, TopicNames
from heard.streams.kafka.client import client_options
from heard.streams.kafka.cluster import (
    KafkaUnreachable,
    Prepared,
    asking_again,
    cluster_facts,
    replication_for,
    safety_warnings,
)

log = logging.getLogger("heard.kafka")
__all__ = ["KafkaUnreachable", "Prepared", "ensure_topics", "prepare_topics"]


def prefixed_topics(engine: EngineSettings) -> TopicNames:
    """The full name of each topic heard reads or writes (the engine's prefix applied), in
    the settings' own typed model of topic names."""
    return engine.topics.model_copy(update={name: engine.topic(name) for name in TopicNames.model_fields})


# Every topic but the retry topics' stem (one topic per wait: `retry_topic`).
TOPIC_KEYS = tuple(name for name in TopicNames.model_fields if name != "retry")
# Kept forever as the latest value per key: the consent ledger and the published templates
# are rebuilt from them.
COMPACTED = ("consent", "templates")


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
        return f"config/engine.yaml: bootstrap_servers: no answer from {where}; is it up and reachable?"
    login = (
        f", {security.sasl_mechanism} as the user in {security.username_env}"
        if security.sasl_mechanism
        else ""
    )
    return (
        f"config/engine.yaml: security: {where} did not accept heard's connection "
        f"({security.protocol}{login}): is it up, and are the credentials and the CA "
        f"(ca_file) right? ({type(exc).__name__})"
    )


async def prepare_topics(engine: EngineSettings, deferred_seconds: list[float] | None = None) -> Prepared:
    """Create missing topics with the configured partitions and the replication factor in
    force (`replication_for`), and say which existing ones are less safe than asked.
    Asked again through a broker failover (`asking_again`); KafkaUnreachable after it."""

    async def attempt() -> Prepared:
        admin = AIOKafkaAdminClient(**client_options(engine), request_timeout_ms=15000)
        try:
            await admin.start()
            facts = await cluster_facts(admin)
            replication = replication_for(engine, facts)
            existing = set(await admin.list_topics())
            names = all_topics(engine, deferred_seconds)
            wanted = [name for name in names.values() if name not in existing]
            if wanted:
                await _create(admin, engine, wanted, replication, {names[key] for key in COMPACTED})
            changelogs = sorted(
                t for t in existing if t.startswith(f"{engine.group_id}-") and t.endswith("-changelog")
            )
            ours = [name for name in names.values() if name in existing] + changelogs
            warnings = await safety_warnings(admin, ours, replication, facts.min_insync)
            return Prepared(replication, wanted, warnings)
        finally:
            await admin.close()

    prepared = await asking_again(
        engine, "preparing heard's topics", attempt, lambda exc: unreachable_reason(engine, exc)
    )
    for warning in prepared.warnings:
        log.warning("Kafka: %s", warning)
    return prepared


async def _create(
    admin: AIOKafkaAdminClient,
    engine: EngineSettings,
    names: list[str],
    replication: int,
    compacted: set[str],
) -> None:
    retention_ms = str(int(engine.topic_retention_days * 86_400_000))
    answer = await admin.create_topics(
        [
            NewTopic(
                name,
                engine.partitions,
                replication,
                topic_configs={"cleanup.policy": "compact"}
                if name in compacted
                else {"retention.ms": retention_ms},
            )
            for name in names
        ]
    )
    for item in answer.to_object().get("topic_errors", []):
        code = int(item.get("error_code", 0))
        # Another worker may create them at the same moment; that is fine. Anything else
        # (no controller yet, a timeout) is raised, and asked again when it is passing.
        if code and for_code(code) is not TopicAlreadyExistsError:
            raise for_code(code)(f"creating {item.get('topic')}: {item.get('error_message')}")


async def ensure_topics(engine: EngineSettings, deferred_seconds: list[float] | None = None) -> list[str]:
    """`prepare_topics`, for callers that need only the names it created."""
    return (await prepare_topics(engine, deferred_seconds)).created
