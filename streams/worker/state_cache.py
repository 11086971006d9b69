"""Decoded ticket states kept between events, so a busy ticket is not re-parsed each time.

The `tickets` table holds each state as JSON. Decoding it (and copying it before the
policy changes it) was a fifth of the worker's time on events that send nothing. The
cache keeps the decoded object beside the exact JSON it stands for, and answers only
when the table still holds that JSON: a rebalance, a restore or another worker's write
gives different text, and the state is decoded afresh.
"""

from __future__ import annotations

from collections import OrderedDict

from heard.streams.contract.state import TicketState


class StateCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[str, TicketState]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def load(self, ticket_id: str, stored: str | None) -> TicketState | None:
        """The state the table's `stored` JSON stands for; the caller may change it in place."""
        if stored is None:
            self._entries.pop(ticket_id, None)
            return None
        entry = self._entries.get(ticket_id)
        if entry is not None and (entry[0] is stored or entry[0] == stored):
            self._entries.move_to_end(ticket_id)
            self.hits += 1
            return entry[1]
        self.misses += 1
        state = TicketState.from_json(stored)
        self.keep(ticket_id, stored, state)
        return state

    def keep(self, ticket_id: str, stored: str, state: TicketState) -> None:
        if self.capacity <= 0:
            return
        self._entries[ticket_id] = (stored, state)
        self._entries.move_to_end(ticket_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget(self, ticket_id: str) -> None:
        """Drop an entry whose object may be half-changed (the policy raised)."""
        self._entries.pop(ticket_id, None)
