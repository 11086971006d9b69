"""`heard report feedback`: how customers rated their tickets, and the signals in their words.

Each `feedback` record on `heard-replies` is one answer. Per ticket and person (the customer,
or each of its other contacts) the latest score counts (people change their minds) and every
signal said counts once. Rows per agent (the ticket's owner when the answer came), per team
and overall: answers, mean score, the share of 4s and 5s, and each loyalty signal with its
negative ("felt heard" / "not felt heard").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from heard.streams.contract.state import FeedbackRecord
from heard.streams.ops.tables import records_named, render_rows


@dataclass
class TicketFeedback:
    """What one person said about one ticket."""

    ticket_id: str
    respondent: str | None
    agent: str
    team: str
    score: int | None = None
    scored_at: datetime | None = None
    signals: set[str] = field(default_factory=set)


@dataclass
class FeedbackRow:
    group: str
    name: str
    answers: int = 0
    scored: int = 0
    scores: list[int] = field(default_factory=list)
    signals: dict[str, int] = field(default_factory=dict)

    def public(self, signal_names: list[str]) -> dict[str, Any]:
        mean = round(sum(self.scores) / len(self.scores), 2) if self.scores else None
        happy = (
            round(100 * sum(1 for s in self.scores if s >= 4) / len(self.scores), 1) if self.scores else None
        )
        data: dict[str, Any] = {
            "group": self.group,
            "name": self.name,
            "answers": self.answers,
            "scored": self.scored,
            "mean_score": mean,
            "four_or_five_pct": happy,
        }
        for score in range(1, 6):
            data[f"score_{score}"] = self.scores.count(score)
        for name in signal_names:
            data[name] = self.signals.get(name, 0)
        return data


def parse_feedback(raw: Iterable[bytes]) -> list[FeedbackRecord]:
    return [FeedbackRecord.model_validate(data) for data in records_named(raw, "feedback")]


def per_ticket(records: list[FeedbackRecord], since: datetime) -> list[TicketFeedback]:
    tickets: dict[tuple[str, str | None], TicketFeedback] = {}
    for record in sorted(records, key=lambda r: r.at):
        if record.at < since:
            continue
        ticket = tickets.setdefault(
            (record.ticket_id, record.respondent),
            TicketFeedback(
                record.ticket_id, record.respondent, record.agent or "(no owner)", record.team or "(no team)"
            ),
        )
        if record.score is not None:
            ticket.score, ticket.scored_at = record.score, record.at
        ticket.signals.update(record.signals)
    return list(tickets.values())


def signal_columns(tickets: list[TicketFeedback], configured: Iterable[str]) -> list[str]:
    """Each configured signal and its negative, then any other found in the records."""
    names = [name for signal in configured for name in (signal, f"not_{signal}")]
    extra = sorted({s for t in tickets for s in t.signals} - set(names))
    return names + extra


def build(tickets: list[TicketFeedback]) -> list[FeedbackRow]:
    rows: dict[tuple[str, str], FeedbackRow] = {}
    for ticket in tickets:
        for group, name in (("all", "all"), ("team", ticket.team), ("agent", ticket.agent)):
            row = rows.setdefault((group, name), FeedbackRow(group, name))
            row.answers += 1
            if ticket.score is not None:
                row.scored += 1
                row.scores.append(ticket.score)
            for signal in ticket.signals:
                row.signals[signal] = row.signals.get(signal, 0) + 1
    order = {"all": 0, "team": 1, "agent": 2}
    return sorted(rows.values(), key=lambda r: (order[r.group], r.name))


LOW_COLUMNS = ["at", "ticket_id", "score", "low_because", "agent", "team", "signals", "words"]


def low_answers(records: list[FeedbackRecord], since: datetime, at_most: int) -> list[dict[str, Any]]:
    """Every low answer in the period, newest first, with the customer's own words: what
    the owner and the lead were told of (feedback.low_score_at_most, or a negative signal)."""
    from heard.streams.policy.choices import low_answer

    rows = []
    for record in sorted(records, key=lambda r: r.at, reverse=True):
        because = low_answer(record.score, record.signals, at_most)
        if record.at < since or because is None:
            continue
        rows.append(
            {
                "at": record.at.isoformat(timespec="minutes"),
                "ticket_id": record.ticket_id,
                "score": record.score,
                "low_because": because,
                "agent": record.agent,
                "team": record.team,
                "signals": " ".join(record.signals) or None,
                "words": " ".join((record.text or "").split()) or None,
            }
        )
    return rows


def render_low(rows: list[dict[str, Any]], fmt: str) -> str:
    return render_rows(rows, LOW_COLUMNS, fmt, empty="no low answers in this period")


def render(rows: list[FeedbackRow], signal_names: list[str], fmt: str) -> str:
    columns = list(FeedbackRow("all", "all").public(signal_names))
    return render_rows(
        [row.public(signal_names) for row in rows], columns, fmt, empty="no feedback in this period"
    )


def plot(rows: list[FeedbackRow], signal_names: list[str], path: Path) -> None:
    """Per agent: each signal said (right, green) and its negative (left, red), with the
    mean score in the label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = [row for row in rows if row.group == "agent"]
    signals = [name for name in signal_names if not name.startswith("not_")]
    fig, axes = plt.subplots(
        1,
        max(1, len(signals)),
        sharey=True,
        figsize=(3.2 * max(1, len(signals)) + 1.5, 0.55 * max(3, len(agents)) + 1.5),
    )
    axes_list = list(axes) if len(signals) > 1 else [axes]
    labels = [f"{row.name} ({row.public([])['mean_score'] or '-'}/5, {row.answers})" for row in agents]
    for ax, signal in zip(axes_list, signals, strict=False):
        good = [row.signals.get(signal, 0) for row in agents]
        bad = [-row.signals.get(f"not_{signal}", 0) for row in agents]
        ax.barh(labels, good, color="#2a9d8f", label=signal.replace("_", " "))
        ax.barh(labels, bad, color="#e76f51", label="not " + signal.replace("_", " "))
        ax.axvline(0, color="#444444", linewidth=0.8)
        ax.set_title(signal.replace("_", " "))
        ax.set_xlabel("answers (negative to the left)")
    fig.suptitle("Feedback signals per agent (mean score, answers)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
