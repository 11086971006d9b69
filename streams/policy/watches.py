"""heard's own promises, watched with the ladder of an agent's: the first reply an
acknowledgment names, and the next update each holding update names ("you will hear from us
by ..."). Each ends when something real reaches the customer."""

from __future__ import annotations

from datetime import datetime, timedelta

from heard.streams.contract.state import Scheduled, TicketState
from heard.streams.policy.contexts import WATCHES, holding_fate
from heard.streams.policy.routing import business_deadline, quiet_until
from heard.streams.policy.step import Step
from heard.streams.policy.team import send_to_team


def end_first_reply_watch(step: Step, reason: str) -> None:
    """The first reply came (or a promise, a resolution or a closure made it moot)."""
    state = step.state
    if state.first_reply_due is None:
        return
    state.first_reply_due = None
    state.first_reply_escalated = False
    state.scheduled = [item for item in state.scheduled if watch_of(item) != "first_reply"]
    step.log("record", reason, kind="checkpoint")


def watch_of(item: Scheduled) -> str | None:
    """Which of heard's own promises a scheduled step keeps, if any: the first reply the
    acknowledgment promised, or the next update a holding update promised."""
    promise = item.context.get("promise") or {}
    return next((name for name in WATCHES if promise.get(name)), None)


def watch_due(state: TicketState, watch: str) -> datetime | None:
    return state.first_reply_due if watch == "first_reply" else state.next_update_due


def release_watch(step: Step, item: Scheduled, watch: str) -> None:
    """A nudge or escalation for one of heard's own promises: the team hears only while
    that promise is still open and unkept."""
    state = step.state
    due = watch_due(state, watch)
    if due is None or state.status in ("resolved", "closed"):
        step.log(
            "cancel",
            "the first reply was given" if watch == "first_reply" else "the customer has heard from us since",
            kind=item.kind,
        )
        return
    agent = state.owner or state.agent
    if item.kind == "checkpoint_nudge":
        if step.now >= due:
            step.log("cancel", "nudge released after the due time; the escalation takes over", kind=item.kind)
            return
        send_to_team(
            step,
            item,
            agent.team if agent else None,
            agent.email if agent else None,
            agent.name if agent else "team",
        )
        return
    heard = recently_heard(step)
    holding = (
        {"status": "skipped", "until": None, "reason": f"they were sent a message {heard.seconds} s ago"}
        if heard is not None
        else holding_fate(step)
    )
    if watch == "first_reply":
        state.first_reply_escalated = True
    send_to_team(
        step, item, agent.team if agent else None, None, agent.name if agent else "the team", holding
    )


def watch_next_update(step: Step, holding: Scheduled, *, counts: bool = True) -> datetime | None:
    """A holding update is going out: it tells the customer when they will hear from us
    next, and heard keeps that time like a promise. After `holding_updates_in_a_row`
    updates with nothing real between them, the last one names no time: the lead has it.
    With `counts=False` the watch only moves on (the customer just heard from us)."""
    state = step.state
    policy = step.rules.policy
    if counts:
        state.holding_updates_in_a_row += 1
    state.scheduled = [item for item in state.scheduled if watch_of(item) != "next_update"]
    if state.holding_updates_in_a_row >= policy.holding_updates_in_a_row:
        state.next_update_due = None
        step.log(
            "record",
            f"{state.holding_updates_in_a_row} holding updates in a row: this one "
            "names no next time; the lead has the ticket",
            kind="checkpoint",
        )
        return None
    due = next_update_time(step, counted=True)
    assert due is not None
    state.next_update_due = due
    agent = state.owner or state.agent
    context = {
        "promise": {
            "id": "next-update",
            "what": None,
            "first_reply": False,
            "next_update": True,
            "due_at": due.isoformat(),
            "agent_name": agent.name if agent else None,
            "outside_team_hours": False,
        }
    }
    trigger = (
        f"{holding.trigger_event_id.split('#next-update')[0]}#next-update."
        f"{state.holding_updates_in_a_row}" + ("" if counts else f"@{step.now.timestamp():.0f}")
    )
    for kind, audience in (("checkpoint_escalation", "lead"), ("checkpoint_holding", "customer")):
        state.scheduled.append(
            Scheduled(
                kind=kind,
                audience=audience,
                due_at=due,
                trigger_event_id=trigger,
                trigger_at=step.now,
                context=context,
            )
        )
    step.log(
        "schedule",
        f"the holding update promises news by {due.isoformat()}; the lead and "
        "the customer hear if nothing real reaches them by then",
        kind="checkpoint",
    )
    return due


def next_update_time(step: Step, *, counted: bool = False) -> datetime | None:
    """When the next holding update will say the customer hears from us again (None for
    the last one in a row): `holding_interval_minutes` of team time from now (urgent
    tickets: `urgent_holding_interval_minutes`), out of the
    customer's quiet hours. `counted`: this holding update is already in the count."""
    state, policy = step.state, step.rules.policy
    if state.holding_updates_in_a_row + (0 if counted else 1) >= policy.holding_updates_in_a_row:
        return None
    minutes = policy.urgent_holding_interval_minutes if state.urgent else policy.holding_interval_minutes
    due = business_deadline(step.now, minutes, policy)
    # A time inside the customer's quiet hours could not be kept: name the end of them.
    return quiet_until(due, state.customer, policy) or due


def end_next_update_watch(step: Step, reason: str) -> None:
    """Something real reached the customer (a public reply, a milestone, a new promise, the
    closure): the time the last holding update named is kept, and the count starts again."""
    state = step.state
    if state.next_update_due is None and state.holding_updates_in_a_row == 0:
        return
    state.holding_updates_in_a_row = 0
    if state.next_update_due is None:
        return
    state.next_update_due = None
    state.scheduled = [item for item in state.scheduled if watch_of(item) != "next_update"]
    step.log("record", f"next-update watch ended: {reason}", kind="checkpoint")


def recently_heard(step: Step) -> timedelta | None:
    """How long since the customer was last sent something, if within the coalesce window."""
    last = step.state.last_customer_notified_at
    window = timedelta(seconds=step.rules.policy.coalesce_window_seconds)
    if last is None or step.now - last >= window:
        return None
    return step.now - last
