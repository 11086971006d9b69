"""HEARD_TOPIC_PREFIX reaches everything heard names on the cluster: its topics, the
workers' consumer group and every table's changelog, so two deployments on one cluster
share nothing."""

from __future__ import annotations

from heard.streams.base.settings import EngineSettings
from heard.streams.kafka.lag import LagProbe
from heard.streams.kafka.topics import prefixed_topics
from heard.streams.ops.erasure import tickets_changelog
from heard.streams.worker.app import Tables, faust_app


def test_the_prefix_reaches_topics_group_and_changelogs() -> None:
    engine = EngineSettings(topic_prefix="eu.", app_id="heard", replication_factor=1)
    app = faust_app(engine)
    tables = Tables.of(app, engine.partitions)
    assert app.conf.id == engine.group_id == "eu.heard"
    assert tables.tickets.changelog_topic.get_topic_name() == "eu.heard-tickets-changelog"
    assert tickets_changelog(engine) == "eu.heard-tickets-changelog"
    assert LagProbe(engine).group == "eu.heard"
    assert all(name.startswith("eu.") for name in prefixed_topics(engine).model_dump().values())
    other = EngineSettings(topic_prefix="us.", app_id="heard")
    assert tickets_changelog(other) != tickets_changelog(engine)
