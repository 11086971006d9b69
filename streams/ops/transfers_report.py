"""`heard report transfers`: how often tickets changed team, per ticket and per team.

"A loyal subscriber felt invisible after three transfers." Each `transfer` record on
`heard-promises` is one change of team. Per ticket: how many, and the path it took. Per
team: how many tickets it handed on and received, and how many of its handovers went to
a ticket already handed on before (a second transfer or more).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from heard.streams.contract.state import TransferRecord
from heard.streams.ops.tables import records_named, render_rows


@dataclass
class TicketPath:
    ticket_id: str
    teams: list[str] = field(default_factory=list)

    @property
    def transfers(self) -> int:
        return len(self.teams) - 1


@dataclass
class TeamRow:
    team: str
    handed_on: int = 0
    received: int = 0
    repeat_handovers: int = 0


def parse_transfers(raw: Iterable[bytes]) -> list[TransferRecord]:
    return [TransferRecord.model_validate(data) for data in records_named(raw, "transfer")]


def build(records: list[TransferRecord], since: datetime) -> tuple[list[TicketPath], list[TeamRow]]:
    paths: dict[str, TicketPath] = {}
    teams: dict[str, TeamRow] = {}
    seen: set[tuple[str, int]] = set()
    for record in sorted(records, key=lambda r: (r.at, r.count)):
        if record.at < since or (record.ticket_id, record.count) in seen:
            continue  # a replayed event writes its record again: count it once
        seen.add((record.ticket_id, record.count))
        path = paths.setdefault(record.ticket_id, TicketPath(record.ticket_id, [record.from_team]))
        path.teams.append(record.to_team)
        teams.setdefault(record.from_team, TeamRow(record.from_team)).handed_on += 1
        teams.setdefault(record.to_team, TeamRow(record.to_team)).received += 1
        if record.count > 1:
            teams[record.from_team].repeat_handovers += 1
    tickets = sorted(paths.values(), key=lambda p: (-p.transfers, p.ticket_id))
    return tickets, sorted(teams.values(), key=lambda t: (-t.handed_on, t.team))


def rows(tickets: list[TicketPath], teams: list[TeamRow]) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = [
        {
            "group": "ticket",
            "name": t.ticket_id,
            "transfers": t.transfers,
            "path": " > ".join(t.teams),
            "handed_on": None,
            "received": None,
            "repeat_handovers": None,
        }
        for t in tickets
    ]
    data += [
        {
            "group": "team",
            "name": t.team,
            "transfers": None,
            "path": None,
            "handed_on": t.handed_on,
            "received": t.received,
            "repeat_handovers": t.repeat_handovers,
        }
        for t in teams
    ]
    return data


COLUMNS = ("group", "name", "transfers", "path", "handed_on", "received", "repeat_handovers")


def render(data: list[dict[str, Any]], fmt: str) -> str:
    return render_rows(data, COLUMNS, fmt, empty="no transfers in this period")
