"""The worker's Faust app: an idempotent producer, and heard's settings only (Faust's own
environment variables cannot override them)."""

from __future__ import annotations

import pytest

from heard.streams.base.settings import ConfigError, EngineSettings
from heard.streams.worker.app import faust_app


def test_the_workers_producer_is_idempotent_with_acks_all() -> None:
    app = faust_app(EngineSettings(replication_factor=3))
    settings = {**app.producer._settings_default(), **app.producer._settings_extra()}
    assert settings["enable_idempotence"] is True and settings["acks"] == "all"


def test_fausts_environment_variables_do_not_override_heards_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRODUCER_ACKS", "1")
    monkeypatch.setenv("TOPIC_REPLICATION_FACTOR", "1")
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "300")
    app = faust_app(EngineSettings(replication_factor=3, session_timeout_seconds=10))
    assert app.conf.producer_acks == -1
    assert app.conf.topic_replication_factor == 3
    assert app.conf.broker_session_timeout == 10


def test_the_replication_factor_is_resolved_against_the_cluster_before_the_app() -> None:
    with pytest.raises(ConfigError, match="`cluster` is resolved against the brokers"):
        faust_app(EngineSettings())
