"""Every ticket's next due time, and the sweep that turns the due ones into timer events.

The `due-index` table holds one due time per ticket (what survives a restart); a heap of
(due, ticket) entries beside it makes a sweep cost O(due), not O(tickets). Every write
pushes an entry; stale entries are skipped when popped, and the heap is rebuilt from the
table after every recovery.
"""

from __future__ import annotations

import heapq
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from heard.streams.contract.records import TimerDue

# A fired timer is looked at again after this long: if the agent has not moved the ticket's
# due time by then (the timer event was lost, or acting on it failed), it fires again.
TIMER_RECHECK_SECONDS = 5.0


class DueTimers:
    def __init__(
        self, due_index: MutableMapping[str, Any], recheck_seconds: float = TIMER_RECHECK_SECONDS
    ) -> None:
        self.due_index = due_index
        self.recheck_seconds = recheck_seconds
        self.heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self.heap)

    def set(self, ticket_id: str, due_at: datetime | None) -> None:
        due = due_at.timestamp() if due_at is not None else None
        # Most events leave the due time alone; an unchanged value is not rewritten.
        if due == self.due_index.get(ticket_id):
            return
        if due is None:
            del self.due_index[ticket_id]
            return
        self.due_index[ticket_id] = due
        heapq.heappush(self.heap, (due, ticket_id))

    def forget(self, ticket_id: str) -> None:
        if self.due_index.get(ticket_id) is not None:
            del self.due_index[ticket_id]

    def rebuild(self) -> int:
        """The heap again from the table (after a recovery); returns how many are waiting."""
        entries = [(due, ticket) for ticket, due in self.due_index.items() if due is not None]
        heapq.heapify(entries)
        self.heap[:] = entries
        return len(entries)

    def due(self, now: datetime) -> list[TimerDue]:
        """A timer event for each ticket due by `now`, once per ticket; the agent re-checks
        the ticket before acting, so an early or repeated one changes nothing."""
        stamp = now.timestamp()
        fired: dict[str, TimerDue] = {}
        while self.heap and self.heap[0][0] <= stamp:
            _, ticket_id = heapq.heappop(self.heap)
            current = self.due_index.get(ticket_id)
            if current is None or current > stamp or ticket_id in fired:
                continue  # settled, moved later (its own entry exists), or not ours any more
            fired[ticket_id] = TimerDue(
                id=f"timer:{ticket_id}:{current:.3f}",
                type="heard.timer_due",
                occurred_at=now,
                ticket_id=ticket_id,
                due_at=datetime.fromtimestamp(current, UTC),
            )
        for ticket_id in fired:
            heapq.heappush(self.heap, (stamp + self.recheck_seconds, ticket_id))
        return list(fired.values())
