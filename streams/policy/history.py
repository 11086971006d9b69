"""What a ticket's history says: whether an agent replied since a moment, whether the
customer was answered before, the promise now pending."""

from __future__ import annotations

from datetime import datetime

from heard.streams.contract.state import (
    Promise,
    TicketState,
)

CLOSED_STATUSES = ("closed",)


def pending_promise(state: TicketState) -> Promise | None:
    """The agent's promise the customer is waiting on, the soonest first."""
    pending = [p for p in state.promises.values() if p.status == "pending"]
    return min(pending, key=lambda p: p.due_at) if pending else None


def answered_before(state: TicketState) -> bool:
    """A public reply or a resolution has reached the customer: what they wait for now is "a
    reply", no longer "a first reply"."""
    return state.last_public_agent_update_at is not None or state.resolved_at is not None


def replied_since(state: TicketState, moment: datetime) -> bool:
    last = state.last_public_agent_update_at
    return last is not None and last >= moment
