"""`heard report promises`: promise keeping per agent and team, from `heard-promises`.

Each record on the topic is a promise's status as of one change; the report
keeps the latest per promise, counts the final statuses of promises made since
a moment, and summarises how late late ones were and how long customers waited
for heard's first message.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

from heard.streams.contract.state import FirstAcknowledgment, PromiseRecord, PromiseStatus
from heard.streams.ops.tables import render_rows

STATUSES: tuple[PromiseStatus, ...] = get_args(PromiseStatus)


@dataclass
class Row:
    group: str
    name: str
    made: int = 0
    pending: int = 0
    kept: int = 0
    kept_late: int = 0
    renegotiated: int = 0
    broken: int = 0
    cancelled: int = 0
    kept_on_time_pct: float | None = None
    lateness_p50_min: float | None = None
    lateness_p90_min: float | None = None
    first_ack_p50_s: float | None = None
    first_ack_p90_s: float | None = None
    lateness: list[float] = field(default_factory=list, repr=False)
    first_ack: list[float] = field(default_factory=list, repr=False)

    def finish(self) -> None:
        settled = self.kept + self.kept_late + self.broken
        if settled:
            self.kept_on_time_pct = round(100 * self.kept / settled, 1)
        if self.lateness:
            self.lateness_p50_min = round(percentile(self.lateness, 50) / 60, 1)
            self.lateness_p90_min = round(percentile(self.lateness, 90) / 60, 1)
        if self.first_ack:
            self.first_ack_p50_s = round(percentile(self.first_ack, 50), 1)
            self.first_ack_p90_s = round(percentile(self.first_ack, 90), 1)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("lateness")
        data.pop("first_ack")
        return data


def percentile(values: list[float], pct: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def parse_records(raw: Iterable[bytes]) -> tuple[list[PromiseRecord], list[FirstAcknowledgment]]:
    promises: list[PromiseRecord] = []
    acks: list[FirstAcknowledgment] = []
    for value in raw:
        data = json.loads(value)
        if data.get("record") == "promise":
            promises.append(PromiseRecord.model_validate(data))
        elif data.get("record") == "first_acknowledgment":
            acks.append(FirstAcknowledgment.model_validate(data))
    return promises, acks


def build(promises: list[PromiseRecord], acks: list[FirstAcknowledgment], since: datetime) -> list[Row]:
    latest: dict[tuple[str, str], PromiseRecord] = {}
    for record in promises:
        key = (record.ticket_id, record.promise_id)
        if key not in latest or record.at >= latest[key].at:
            latest[key] = record
    rows: dict[tuple[str, str], Row] = {}

    def row(group: str, name: str) -> Row:
        return rows.setdefault((group, name), Row(group, name))

    for record in latest.values():
        if record.made_at < since:
            continue
        for target in (
            row("agent", record.agent),
            row("team", record.team or "(no team)"),
            row("all", "all"),
        ):
            target.made += 1
            setattr(target, record.status, getattr(target, record.status) + 1)
            if record.status == "kept_late" and record.settled_at is not None:
                target.lateness.append((record.settled_at - record.due_at).total_seconds())
    for ack in acks:
        if ack.at < since:
            continue
        for target in (row("team", ack.team or "(no team)"), row("all", "all")):
            target.first_ack.append(ack.seconds)
    order = {"all": 0, "team": 1, "agent": 2}
    result = sorted(rows.values(), key=lambda r: (order[r.group], r.name))
    for item in result:
        item.finish()
    return result


COLUMNS = (
    "group",
    "name",
    "made",
    "pending",
    "kept",
    "kept_late",
    "renegotiated",
    "broken",
    "cancelled",
    "kept_on_time_pct",
    "lateness_p50_min",
    "lateness_p90_min",
    "first_ack_p50_s",
    "first_ack_p90_s",
)


def render(rows: list[Row], fmt: str) -> str:
    return render_rows([row.public() for row in rows], COLUMNS, fmt)


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = [r for r in rows if r.group == "agent"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(agents) + 2), 4.5))
    bottom = [0] * len(agents)
    names = [r.name for r in agents]
    colours = {
        "kept": "#2a9d8f",
        "kept_late": "#e9c46a",
        "renegotiated": "#8ab17d",
        "broken": "#e76f51",
        "cancelled": "#b0b0b0",
        "pending": "#90a4c8",
    }
    for status in ("kept", "kept_late", "renegotiated", "broken", "cancelled", "pending"):
        values = [getattr(r, status) for r in agents]
        ax.bar(names, values, bottom=bottom, label=status.replace("_", " "), color=colours[status])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("promises made")
    ax.set_title("Promise keeping per agent")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
