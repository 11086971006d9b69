"""Changes of team: recorded by the policy, counted per ticket and team by the report."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from heard.streams.cli import main
from heard.streams.contract import stories
from heard.streams.contract.stories import T0, minutes
from heard.streams.ops import transfers_report
from tests.unit.test_policy import run


def assigned(at_minutes: int, team: str) -> dict[str, object]:
    return stories.event(
        "ticket.assigned",
        "T1",
        T0 + minutes(at_minutes),
        eid=f"a{at_minutes}",
        agent={"name": f"Agent {team}", "team": team},
    )


def transfer_records() -> list[bytes]:
    _, outcomes = run(
        [
            stories.created("T1"),
            assigned(1, "billing"),
            assigned(2, "billing"),
            assigned(3, "payments"),
            assigned(4, "refunds"),
            assigned(5, "billing"),
        ]
    )
    return [record.model_dump_json().encode() for o in outcomes for record in o.transfers]


def test_each_change_of_team_is_a_record_and_a_same_team_reassignment_is_not() -> None:
    records = transfers_report.parse_transfers(transfer_records())
    assert [(r.from_team, r.to_team, r.count) for r in records] == [
        ("billing", "payments", 1),
        ("payments", "refunds", 2),
        ("refunds", "billing", 3),
    ]


def test_the_report_shows_the_path_per_ticket_and_handovers_per_team(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from heard.streams.kafka import readback

    raw = transfer_records() + transfer_records()[:1] + [b'{"record": "promise"}', b"x"]

    async def topic(settings, name, **_):  # type: ignore[no-untyped-def]
        assert name.endswith("heard-promises")
        return [(b"T1", value, None) for value in raw]

    monkeypatch.setattr(readback, "read_topic", topic)
    since = (T0 - timedelta(days=1)).isoformat()
    assert main(["report", "transfers", "--since", since, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0] == {
        "group": "ticket",
        "name": "T1",
        "transfers": 3,
        "path": "billing > payments > refunds > billing",
        "handed_on": None,
        "received": None,
        "repeat_handovers": None,
    }
    teams = {
        row["name"]: (row["handed_on"], row["received"], row["repeat_handovers"])
        for row in data
        if row["group"] == "team"
    }
    assert teams == {"billing": (1, 1, 0), "payments": (1, 1, 1), "refunds": (1, 1, 1)}
    assert main(["report", "transfers", "--since", since]) == 0
    assert "billing > payments > refunds > billing" in capsys.readouterr().out
