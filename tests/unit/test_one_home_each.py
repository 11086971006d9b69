"""Event types, message kinds, promise statuses and topic names each have one typed home;
what else lists them is derived from it or checked against it here."""

from __future__ import annotations

from typing import get_args

import yaml

from heard.streams.base.settings import EngineSettings
from heard.streams.content.lint import CONTEXT
from heard.streams.contract.records import EVENT_TYPES, INTERNAL_TYPES, Event
from heard.streams.contract.state import CUSTOMER_KINDS, KINDS, TEAM_KINDS, PromiseStatus
from heard.streams.kafka.topics import TOPIC_KEYS, prefixed_topics, topic_names
from heard.streams.ops.report import STATUSES
from tests.peers import REPO


def test_every_event_model_has_one_type_and_is_public_or_internal() -> None:
    assert len(get_args(Event)) == len(EVENT_TYPES) + len(INTERNAL_TYPES)
    assert not set(EVENT_TYPES) & set(INTERNAL_TYPES)
    assert sorted(
        path.name.removesuffix(".v1.json") for path in (REPO / "docs" / "schemas").glob("*.v1.json")
    ) == sorted(EVENT_TYPES)


def test_every_kind_is_read_by_the_customer_or_the_team_and_has_its_context_and_folder() -> None:
    assert set(CUSTOMER_KINDS) | set(TEAM_KINDS) == set(KINDS)
    assert not set(CUSTOMER_KINDS) & set(TEAM_KINDS)
    assert set(CONTEXT) == set(KINDS)
    assert all((REPO / "templates" / kind).is_dir() for kind in KINDS)
    lint = yaml.safe_load((REPO / "config" / "lint.yaml").read_text())
    assert sorted(lint["internal_kinds"]) == sorted(TEAM_KINDS)
    assert set(lint["files"]) == set(KINDS)


def test_the_report_counts_every_promise_status() -> None:
    assert get_args(PromiseStatus) == STATUSES


def test_topic_names_come_from_one_typed_list() -> None:
    engine = EngineSettings(topic_prefix="p.")
    names = prefixed_topics(engine)
    assert tuple(topic_names(engine)) == TOPIC_KEYS
    assert names.dead_letters == "p.heard-dead-letters" and names.timers == engine.topic("timers")
