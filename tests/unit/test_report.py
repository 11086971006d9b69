"""The promise-keeping report: latest status per promise, per agent and team."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from heard.streams.cli import parse_since
from heard.streams.contract.state import FirstAcknowledgment, PromiseRecord
from heard.streams.contract.stories import T0, minutes
from heard.streams.ops.report import build, parse_records, plot, render


def record(
    pid: str, agent: str, team: str, status: str, at_min: float, settled_min: float | None = None
) -> bytes:
    due = T0 + minutes(60)
    return (
        PromiseRecord(
            promise_id=pid,
            ticket_id=f"T-{pid}",
            version=1,
            agent=agent,
            team=team,
            status=status,
            made_at=T0,
            due_at=due,
            at=T0 + minutes(at_min),
            settled_at=None if settled_min is None else T0 + minutes(settled_min),
        )
        .model_dump_json()
        .encode()
    )


RAW = [
    record("1", "Sam", "parcels", "pending", 0),
    record("1", "Sam", "parcels", "kept", 30, 30),
    record("2", "Sam", "parcels", "pending", 0),
    record("2", "Sam", "parcels", "broken", 61, 60),
    record("2", "Sam", "parcels", "kept_late", 90, 90),  # broken, then kept 30 min late
    record("3", "Ana", "billing", "pending", 0),
    record("3", "Ana", "billing", "broken", 61, 60),
    record("4", "Ana", "billing", "pending", 0),
    FirstAcknowledgment(ticket_id="T-1", team="parcels", seconds=40, at=T0).model_dump_json().encode(),
]


def test_latest_status_per_promise_counts_once() -> None:
    promises, acks = parse_records(RAW)
    rows = {(r.group, r.name): r for r in build(promises, acks, T0 - timedelta(days=1))}
    sam, ana, everyone = rows[("agent", "Sam")], rows[("agent", "Ana")], rows[("all", "all")]
    assert (sam.made, sam.kept, sam.kept_late, sam.broken) == (2, 1, 1, 0)
    assert sam.kept_on_time_pct == 50.0 and sam.lateness_p50_min == 30.0
    assert (ana.made, ana.broken, ana.pending, ana.kept_on_time_pct) == (2, 1, 1, 0.0)
    assert everyone.made == 4
    assert rows[("team", "parcels")].first_ack_p50_s == 40.0


def test_since_filters_by_when_the_promise_was_made() -> None:
    promises, acks = parse_records(RAW)
    assert build(promises, acks, T0 + minutes(1)) == []


def test_formats_and_chart(tmp_path: Path) -> None:
    rows = build(*parse_records(RAW), T0 - timedelta(days=1))
    table = render(rows, "table")
    assert table.splitlines()[0].split()[:4] == ["group", "name", "made", "pending"]
    parsed = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert {(r["group"], r["name"], r["made"]) for r in parsed} >= {("agent", "Sam", "2")}
    assert json.loads(render(rows, "json"))[0]["name"] == "all"
    chart = tmp_path / "promises.png"
    plot(rows, chart)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_since_accepts_durations_and_dates() -> None:
    assert parse_since("2d", T0) == T0 - timedelta(days=2)
    assert parse_since("2026-11-01").isoformat() == "2026-11-01T00:00:00+00:00"
    with pytest.raises(Exception, match="use 7d"):
        parse_since("last tuesday")


def test_promise_metrics_are_labelled_by_agent_id_never_by_name() -> None:
    from datetime import UTC, datetime

    from prometheus_client import REGISTRY

    from heard.streams.contract.state import PromiseRecord
    from heard.streams.worker.metrics import observe_promise

    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    observe_promise(
        PromiseRecord(
            promise_id="P-m",
            ticket_id="T-m",
            version=1,
            agent="Sam Reyes",
            agent_id="A-3",
            team=None,
            status="pending",
            made_at=at,
            due_at=at,
            at=at,
        )
    )
    assert (
        REGISTRY.get_sample_value(
            "heard_promises_total", {"team": "none", "agent": "A-3", "status": "pending"}
        )
        == 1
    )
    names = [
        sample.labels.get("agent")
        for metric in REGISTRY.collect()
        if metric.name == "heard_promises"
        for sample in metric.samples
    ]
    assert "Sam Reyes" not in names


def test_metric_labels_come_from_bounded_sets_never_an_address_or_a_number() -> None:
    from heard.streams.worker.metrics import MAX_AGENT_LABELS, Labels

    labels = Labels()
    labels.know_teams({"billing", "parcels"})
    assert [
        labels.team(t)
        for t in ("billing", None, "", "Lab Customer +14155552600", "sam.private@example.com", "Billing")
    ] == ["billing", "none", "none", "other", "other", "other"]
    assert [
        labels.agent(a)
        for a in ("A-3", None, "sam.private@example.com", "+1 415 555 2600", "agent 7", "x" * 65, "zd:1508")
    ] == ["A-3", "unknown", "other", "other", "other", "other", "zd:1508"]
    for n in range(MAX_AGENT_LABELS):  # a help desk sending a new id with every ticket
        labels.agent(f"id-{n}")
    assert labels.agent("one-too-many") == "other"
    assert labels.agent("A-3") == "A-3"  # those already seen keep their series


async def test_a_lag_probe_that_kafka_does_not_answer_says_for_how_long() -> None:
    from heard.devstack.kafka import free_port
    from heard.streams.base.settings import EngineSettings
    from heard.streams.kafka.lag import LagProbe

    probe = LagProbe(EngineSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", lag_interval_seconds=1))
    assert probe.unanswered_for() is None
    await probe.publish()  # nothing listens there: it fails, and says since when
    first = probe.unanswered_for()
    assert first is not None and probe.patience == 30
    await probe.publish()
    again = probe.unanswered_for()
    assert again is not None and again >= first  # counted from the first failure
    assert probe.unanswered_for(now=probe.failing_since + 45) == 45  # type: ignore[operator]
