"""`heard report feedback`: the latest score per ticket, signals once per ticket, rows per
agent, team and overall, and a chart."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from heard.streams.cli import main
from heard.streams.contract.state import FeedbackRecord
from heard.streams.contract.stories import T0
from heard.streams.ops import feedback_report


def record(
    ticket: str,
    minutes: int,
    score: int | None,
    signals: list[str],
    agent: str = "Sam Reyes",
    team: str = "parcels",
    who: str | None = None,
) -> bytes:
    return (
        FeedbackRecord(
            ticket_id=ticket,
            event_id=f"{ticket}-{minutes}",
            score=score,
            signals=signals,
            via="sms",
            agent=agent,
            team=team,
            respondent=who,
            at=T0 + timedelta(minutes=minutes),
        )
        .model_dump_json()
        .encode()
    )


RAW = [
    record("T1", 1, 2, ["not_kept_updated"]),
    record("T1", 2, 4, []),  # changed their mind: 4 counts
    record("T1", 3, None, ["kept_updated"]),  # words after the score
    record("T2", 5, 5, ["felt_heard", "kept_updated"], agent="Aisha Khan", team="billing"),
    record("T3", 5, 1, ["not_took_ownership"], agent="Aisha Khan", team="billing"),
    record("T3", 6, 4, ["felt_heard"], agent="Aisha Khan", team="billing", who="a1b2"),
    record("T0", -90, 5, ["felt_heard"]),  # before --since
    b'{"record": "option_chosen", "ticket_id": "T9"}',
    b"not json",
]


def test_rows_count_the_latest_score_and_each_signal_once_per_ticket_and_person() -> None:
    tickets = feedback_report.per_ticket(feedback_report.parse_feedback(RAW), T0)
    columns = feedback_report.signal_columns(tickets, ["felt_heard", "took_ownership", "kept_updated"])
    rows = {(r.group, r.name): r.public(columns) for r in feedback_report.build(tickets)}
    everyone = rows[("all", "all")]
    # T3's stakeholder (respondent a1b2) is a second answer on T3, not a change of T3's.
    assert (
        everyone["answers"],
        everyone["scored"],
        everyone["mean_score"],
        everyone["four_or_five_pct"],
    ) == (4, 4, 3.5, 75.0)
    assert (
        everyone["kept_updated"],
        everyone["not_kept_updated"],
        everyone["felt_heard"],
        everyone["not_took_ownership"],
    ) == (2, 1, 2, 1)
    sam = rows[("agent", "Sam Reyes")]
    assert (sam["score_4"], sam["score_2"], sam["mean_score"]) == (1, 0, 4.0)
    assert rows[("team", "billing")]["mean_score"] == 3.33


def test_the_command_prints_csv_and_draws_the_chart(tmp_path: Path, monkeypatch, capsys) -> None:
    from heard.streams.kafka import readback

    async def topic(settings, name, **_):  # type: ignore[no-untyped-def]
        assert name.endswith("heard-replies")
        return [(b"T", value, None) for value in RAW]

    monkeypatch.setattr(readback, "read_topic", topic)
    chart = tmp_path / "feedback.png"
    code = main(["report", "feedback", "--since", T0.isoformat(), "--format", "json", "--plot", str(chart)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in data] == ["all", "billing", "parcels", "Aisha Khan", "Sam Reyes"]
    assert chart.stat().st_size > 5000


def test_the_low_answers_are_listed_with_their_words_newest_first() -> None:
    def answered(ticket: str, minutes: int, score: int | None, signals: list[str], text: str) -> bytes:
        data = json.loads(record(ticket, minutes, score, signals))
        return json.dumps({**data, "text": text}).encode()

    records = feedback_report.parse_feedback(
        [
            answered("T1", 1, 1, [], "Three transfers and\nnobody owned it."),
            answered("T2", 2, 5, ["kept_updated"], "Great, thanks"),
            answered("T3", 3, 4, ["not_kept_updated"], "4, but nobody called me back"),
            answered("T4", 4, 3, [], "Fine."),
        ]
    )
    low = feedback_report.low_answers(records, T0, at_most=2)
    assert [(r["ticket_id"], r["score"], r["low_because"], r["words"]) for r in low] == [
        ("T3", 4, "words", "4, but nobody called me back"),
        ("T1", 1, "score", "Three transfers and nobody owned it."),
    ]
    table = feedback_report.render_low(low, "table")
    assert table.splitlines()[0].split() == feedback_report.LOW_COLUMNS
    assert "Three transfers and nobody owned it." in table
    assert feedback_report.render_low([], "table") == "no low answers in this period\n"
