"""The replication factor heard creates topics with, and which Kafka failures are worth
asking again (a failover) or not (a refused login)."""

from __future__ import annotations

import ssl

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    LeaderNotAvailableError,
    NodeNotReadyError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from heard.streams.base.settings import ConfigError, EngineSettings
from heard.streams.kafka.cluster import ClusterFacts, passing, replication_for


@pytest.mark.parametrize(
    ("setting", "brokers", "default", "expected"),
    [
        ("cluster", 3, 3, 3),
        ("cluster", 1, 1, 1),
        ("cluster", 1, None, 1),
        ("cluster", 5, 3, 3),
        (3, 3, 1, 3),
        (2, 3, 3, 2),
        (3, 1, 1, 1),
    ],
)
def test_the_replication_factor_follows_the_cluster_unless_set(
    setting: int | str, brokers: int, default: int | None, expected: int
) -> None:
    engine = EngineSettings(replication_factor=setting)
    assert replication_for(engine, ClusterFacts(brokers, default, 2)) == expected


@pytest.mark.parametrize("setting", ["cluster", 1])
def test_one_copy_on_a_cluster_of_more_brokers_is_refused(setting: int | str) -> None:
    with pytest.raises(ConfigError, match=r"cluster of 3 brokers.*HEARD_REPLICATION_FACTOR=3"):
        replication_for(EngineSettings(replication_factor=setting), ClusterFacts(3, 1, 1))


def test_a_failover_is_asked_again_and_a_refused_login_is_not() -> None:
    for exc in (
        NodeNotReadyError(),
        LeaderNotAvailableError(),
        KafkaConnectionError(),
        TimeoutError(),
        ConnectionResetError(),
    ):
        assert passing(exc), exc
    for exc in (
        SaslAuthenticationFailed(),
        TopicAuthorizationFailedError(),
        ssl.SSLCertVerificationError(),
        ValueError(),
    ):
        assert not passing(exc), exc
