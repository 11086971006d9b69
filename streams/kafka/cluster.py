"""What heard needs to know of the cluster before it creates or uses a topic: how many
brokers it has, how many copies of a topic it keeps by default, and whether the topics
already there are as safe as the settings ask. And how to ask it during a broker failover:
every question is asked again, with a growing pause, while the answer is a passing one
(no leader yet, a node not ready, a request timed out), for at most `kafka_wait_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from heard.streams.base.settings import ConfigError, EngineSettings

log = logging.getLogger("heard.kafka")
T = TypeVar("T")

FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 5.0


class KafkaUnreachable(ConfigError):
    """No broker answered, or none usefully, within `kafka_wait_seconds`: a wrong address,
    Kafka not up yet, or a failover that did not end (the message names what to check)."""


@dataclass(frozen=True)
class ClusterFacts:
    brokers: int
    default_replication: int | None  # the brokers' default.replication.factor
    min_insync: int | None  # the brokers' min.insync.replicas


@dataclass
class Prepared:
    """What start-up found and did: the replication factor in force, the topics it created,
    and what it warns about (existing topics less safe than the settings ask)."""

    replication_factor: int
    created: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def passing(exc: BaseException) -> bool:
    """A failure that asking again can cure: the broker says so (aiokafka's `retriable`:
    no leader yet, node not ready, request timed out, connection lost), or the network
    timed out. A refused login or a bad certificate is not one."""
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False)) or type(exc).__name__ in (
            "KafkaTimeoutError",
            "NodeNotReadyError",
            "NotControllerError",
            "LeaderNotAvailableError",
            "RequestTimedOutError",
            "KafkaConnectionError",
        )
    return isinstance(exc, TimeoutError | ConnectionError) and not isinstance(exc, ssl.SSLError)


async def asking_again(
    engine: EngineSettings,
    what: str,
    ask: Callable[[], Awaitable[T]],
    unreachable: Callable[[BaseException], str],
) -> T:
    """`ask()`, again after each passing failure until `engine.kafka_wait_seconds` have gone
    by; then KafkaUnreachable with `unreachable(last failure)`. One warning per outage, and
    one line when it is over."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + engine.kafka_wait_seconds
    pause, failures = FIRST_PAUSE_SECONDS, 0
    while True:
        try:
            answer = await ask()
        except (KafkaError, OSError, TimeoutError) as exc:
            if not passing(exc) or loop.time() + pause > give_up:
                raise KafkaUnreachable(unreachable(exc)) from exc
            if failures == 0:
                log.warning(
                    "Kafka: %s failed (%s); asking again for up to %.0f s (a broker "
                    "failing over answers this way for a few seconds)",
                    what,
                    type(exc).__name__,
                    engine.kafka_wait_seconds,
                )
            failures += 1
            await asyncio.sleep(pause)  # a broker failing over: give it a moment
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
            continue
        if failures:
            log.warning("Kafka: %s succeeded after %d passing failure(s)", what, failures)
        return answer


async def cluster_facts(admin: AIOKafkaAdminClient) -> ClusterFacts:
    described = await admin.describe_cluster()
    brokers = described.get("brokers") or []
    default_rf = min_isr = None
    if brokers:
        wanted = {"default.replication.factor": None, "min.insync.replicas": None}
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, str(brokers[0]["node_id"]), wanted)]
        )
        for entry in _config_entries(answers):
            if entry.get("config_names") == "default.replication.factor":
                default_rf = int(entry["config_value"])
            elif entry.get("config_names") == "min.insync.replicas":
                min_isr = int(entry["config_value"])
    return ClusterFacts(len(brokers), default_rf, min_isr)


def _config_entries(answers: list[Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for answer in answers:
        for resource in answer.to_object().get("resources", []):
            entries.extend(resource.get("config_entries", []))
    return entries


def replication_for(engine: EngineSettings, facts: ClusterFacts) -> int:
    """The replication factor heard creates topics with: the setting, or (`cluster`, the
    default) the brokers' own default; never one copy on a cluster that has more brokers."""
    setting = engine.replication_factor
    chosen = (facts.default_replication or 1) if setting == "cluster" else int(setting)
    chosen = min(chosen, max(facts.brokers, 1))
    if chosen == 1 and facts.brokers > 1:
        source = (
            "the brokers' default.replication.factor is 1"
            if setting == "cluster"
            else "HEARD_REPLICATION_FACTOR is 1"
        )
        raise ConfigError(
            f"config/engine.yaml: replication_factor: {source} on a cluster of {facts.brokers} "
            "brokers: every topic and table would have one copy, and losing its broker would "
            f"stall heard. Set HEARD_REPLICATION_FACTOR={min(3, facts.brokers)} (with "
            "min.insync.replicas 2 on the brokers)"
        )
    return chosen


async def safety_warnings(
    admin: AIOKafkaAdminClient, topics: list[str], replication: int, min_insync: int | None
) -> list[str]:
    """Existing topics with fewer copies than `replication`, or that accept a write with
    one copy in sync while they have three or more: Kafka never changes either by itself."""
    warnings: list[str] = []
    if not topics:
        return warnings
    for described in await admin.describe_topics(topics):
        copies = min(
            (len(p.get("replicas", [])) for p in described.get("partitions", [])), default=replication
        )
        if copies < replication:
            warnings.append(
                f"topic {described['topic']} has {copies} cop{'y' if copies == 1 else 'ies'} "
                f"of each partition, the settings ask for {replication}: Kafka does not add "
                "copies to an existing topic (raise them with kafka-reassign-partitions.sh, "
                'docs/operations.md "Kafka")'
            )
    if replication >= 3 and (min_insync or 1) < 2:
        warnings.append(
            f"the brokers' min.insync.replicas is {min_insync or 1}: with "
            f"{replication} copies, set it to 2 so a write is on two brokers "
            "before heard counts it as made"
        )
    return warnings
