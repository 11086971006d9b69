"""Promises as first-class objects: pending -> kept / kept_late / renegotiated / broken / cancelled.

The ladder for one promise: a nudge to the agent `nudge_lead_seconds` before it
is due; at the due time, if unkept, an escalation to the team lead and one
honest holding update to the customer. Every step carries the promise version
and is re-checked when released, so a late or duplicate timer does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from heard.streams.contract.records import CheckpointPromised
from heard.streams.contract.state import (
    Promise,
    PromiseRecord,
    PromiseStatus,
    Scheduled,
    TicketState,
)
from heard.streams.policy.contexts import holding_fate, promise_context
from heard.streams.policy.routing import (
    with_calendar,
    within_team_hours,
)
from heard.streams.policy.step import Step
from heard.streams.policy.team import send_to_team
from heard.streams.policy.watches import end_first_reply_watch, recently_heard

if TYPE_CHECKING:
    from heard.streams.base.settings import PolicySettings

LADDER_KINDS = ("checkpoint_nudge", "checkpoint_escalation", "checkpoint_holding")


# The id of the promise a next milestone's time stands for (`policy.watch_named_milestone`).
IMPLICIT_PREFIX = "milestone:"


def is_implicit(promise: Promise) -> bool:
    return promise.promise_id.startswith(IMPLICIT_PREFIX)


def on_promised(step: Step, event: CheckpointPromised, *, implicit: bool = False) -> None:
    """A promise and its ladder. `implicit` for a time a message named already (a next
    milestone with a time): the customer is not told it again, and the agent is nudged
    before it, not at once when it falls outside team hours (they set a milestone, not a
    promise)."""
    state = step.state
    untracked = _untracked_because(state, event)
    if untracked is not None:
        step.log("skip", untracked, kind="checkpoint")
        return
    existing = state.promises.get(event.promise_id)
    if existing is not None and existing.due_at == event.due_at and existing.what == event.what:
        step.log("skip", "same promise repeated; nothing changes", kind="checkpoint")
        return
    replaced = _replace_pending(step, event, implicit)
    promise = Promise(
        promise_id=event.promise_id,
        version=replaced.version,
        agent=event.agent,
        what=event.what,
        customer_text=event.customer_text,
        due_at=event.due_at,
        made_at=event.occurred_at,
        learned_at=step.now,
        outside_team_hours=not within_team_hours(event.due_at, _calendar(step, event)),
    )
    state.promises[event.promise_id] = promise
    if state.first_reply_due is not None:
        # An agent's own promise with a time replaces the first-reply watch.
        end_first_reply_watch(step, f"first-reply watch replaced by promise {promise.promise_id}")
    announce(step, promise)
    step.log(
        "record",
        f"promise {promise.promise_id} pending until {promise.due_at.isoformat()}",
        kind="checkpoint",
    )
    _schedule_ladder(step, event, promise, implicit)
    if implicit or event.due_at in replaced.told or replaced.moved_from == event.due_at:
        return  # the customer knows this time already
    _tell_the_customer(step, event, promise, existing, replaced)


def _untracked_because(state: TicketState, event: CheckpointPromised) -> str | None:
    if not state.known:
        return "promise for a ticket heard has not seen created"
    if state.status in ("resolved", "closed"):
        return f"promise on a {state.status} ticket is not tracked"
    if event.due_at <= event.occurred_at:
        return "the promised time was already past when the promise was made"
    return None


@dataclass
class _Replaced:
    """What a new promise replaced: its version follows theirs, and the customer hears of
    a move (from the latest time replaced) or nothing if they were given this time already."""

    version: int = 1
    moved_from: datetime | None = None
    told: set[datetime] = field(default_factory=set)  # times a milestone gave the customer


def _replace_pending(step: Step, event: CheckpointPromised, implicit: bool) -> _Replaced:
    replaced = _Replaced()
    for other in step.state.promises.values():
        # A milestone's time never replaces an agent's promise; an agent's promise replaces
        # a milestone's time without calling it a move (it was not theirs to move).
        if other.status != "pending" or (implicit and not is_implicit(other)):
            continue
        set_status(step, other, "renegotiated", event.occurred_at)
        _drop_ladder(step, other.promise_id)
        step.log(
            "record", f"promise {other.promise_id} renegotiated by {event.promise_id}", kind="checkpoint"
        )
        if is_implicit(other) == implicit:
            replaced.moved_from = max(replaced.moved_from or other.due_at, other.due_at)
            replaced.version = max(replaced.version, other.version + 1)
        else:
            replaced.told.add(other.due_at)
    return replaced


def _calendar(step: Step, event: CheckpointPromised) -> PolicySettings:
    calendar = with_calendar(step.rules.policy, event.team_calendar)
    if calendar is None:
        step.log(
            "record",
            f"no team calendar {event.team_calendar!r} in config/policy.yaml "
            "(team_calendars); the default team hours decide",
            kind="checkpoint",
        )
        return step.rules.policy
    if event.team_calendar:
        step.log("record", f"team hours from the {event.team_calendar!r} calendar", kind="checkpoint")
    return calendar


def _schedule_ladder(step: Step, event: CheckpointPromised, promise: Promise, implicit: bool) -> None:
    """The nudge before the time, then at the time the lead's escalation and the
    customer's holding update (each cancelled if the promise is kept first)."""
    lead = timedelta(seconds=step.rules.policy.nudge_lead_seconds)
    ladder = [
        ("checkpoint_escalation", "lead", promise.due_at),
        ("checkpoint_holding", "customer", promise.due_at),
    ]
    if promise.outside_team_hours and not implicit:
        ladder.insert(0, ("checkpoint_nudge", "agent", step.release_at))
    elif promise.due_at - lead > step.now:
        ladder.insert(0, ("checkpoint_nudge", "agent", promise.due_at - lead))
    for kind, audience, due in ladder:
        step.state.scheduled.append(
            Scheduled(
                kind=kind,
                audience=audience,
                due_at=due,
                trigger_event_id=f"{event.id}#{promise.promise_id}.{promise.version}",
                trigger_at=event.occurred_at,
                promise_id=promise.promise_id,
                promise_version=promise.version,
                context={"promise": promise_context(promise)},
            )
        )
        step.log("schedule", f"{kind} for promise {promise.promise_id} at {due.isoformat()}", kind=kind)


def _tell_the_customer(
    step: Step, event: CheckpointPromised, promise: Promise, existing: Promise | None, replaced: _Replaced
) -> None:
    if existing is None and replaced.version == 1 and step.rules.policy.announce_first_promise:
        # "Aisha will update you by 3 pm": the customer hears the first promise made to them.
        step.state.scheduled.append(
            Scheduled(
                kind="milestone_update",
                due_at=step.release_at,
                trigger_event_id=event.id,
                trigger_at=event.occurred_at,
                context={
                    "milestone": {"text": "", "at": event.occurred_at.isoformat()},
                    "next_milestone": {
                        "text": event.customer_text or None,
                        "due_at": event.due_at.isoformat(),
                    },
                    "promised": {
                        "by": event.agent.name,
                        "due_at": event.due_at.isoformat(),
                        "text": event.customer_text or None,
                        "promise_id": promise.promise_id,
                        "version": promise.version,
                    },
                },
            )
        )
    if existing is not None or replaced.version > 1:
        # The customer hears what moved, from when to when, and why if the agent said so;
        # the task line itself is the agent's, not news for the customer.
        step.state.scheduled.append(
            Scheduled(
                kind="milestone_update",
                due_at=step.release_at,
                trigger_event_id=event.id,
                trigger_at=event.occurred_at,
                context={
                    "milestone": {"text": event.customer_text or "", "at": event.occurred_at.isoformat()},
                    "next_milestone": {
                        "text": event.customer_text or None,
                        "due_at": event.due_at.isoformat(),
                    },
                    "moved": {
                        "from": (
                            replaced.moved_from or (existing.due_at if existing else event.due_at)
                        ).isoformat(),
                        "to": event.due_at.isoformat(),
                        "reason": event.reason,
                        "promise_id": promise.promise_id,
                        "version": promise.version,
                    },
                },
            )
        )


def set_status(step: Step, promise: Promise, status: PromiseStatus, at: datetime) -> None:
    promise.status, promise.settled_at = status, at
    announce(step, promise)


def announce(step: Step, promise: Promise) -> None:
    """Every change of a promise's status is also a record for the promise-keeping report."""
    step.out.promise_records.append(
        PromiseRecord(
            promise_id=promise.promise_id,
            ticket_id=step.state.ticket_id,
            version=promise.version,
            agent=promise.agent.name,
            agent_id=promise.agent.id,
            team=promise.agent.team,
            status=promise.status,
            made_at=promise.made_at,
            due_at=promise.due_at,
            settled_at=promise.settled_at,
            at=step.now,
        )
    )


def keep_promises(step: Step, at: datetime) -> None:
    for promise in step.state.promises.values():
        if promise.status == "pending" or (
            promise.status == "broken" and promise.settled_at and promise.settled_at <= at
        ):
            late = at > promise.due_at
            set_status(step, promise, "kept_late" if late else "kept", at)
            _drop_ladder(step, promise.promise_id)
            step.log(
                "record", f"promise {promise.promise_id} kept{' late' if late else ''}", kind="checkpoint"
            )


def cancel_promises(step: Step, reason: str) -> None:
    for promise in step.state.promises.values():
        if promise.status == "pending":
            set_status(step, promise, "cancelled", step.now)
            _drop_ladder(step, promise.promise_id)
            step.log("record", f"promise {promise.promise_id} cancelled: {reason}", kind="checkpoint")


def _drop_ladder(step: Step, promise_id: str) -> None:
    step.cancel(
        LADDER_KINDS, f"promise {promise_id} settled", keep=lambda item: item.promise_id != promise_id
    )


def _current(state: TicketState, item: Scheduled) -> Promise | None:
    promise = state.promises.get(item.promise_id or "")
    if promise is None or promise.version != item.promise_version:
        return None
    return promise


def holding_still_wanted(step: Step, item: Scheduled) -> str | None:
    promise = _current(step.state, item)
    if promise is None:
        return "promise replaced by a newer one"
    if promise.status == "pending":
        set_status(step, promise, "broken", promise.due_at)
    if promise.status != "broken":
        return f"promise is {promise.status}"
    heard = recently_heard(step) if item.contact is None else None
    if heard is not None and spoke_since_due(step.state, promise):
        # A message went moments ago, after the promised time (held by quiet hours until
        # now): a holding update beside it would only confuse. The lead is told all the same.
        return f"the customer heard from us {heard.seconds} s ago"
    return None


def spoke_since_due(state: TicketState, promise: Promise) -> bool:
    """Whether the customer's last message went after the promised time and after heard knew
    of the promise, so it could speak of where things stand. One sent before heard learned of
    the promise (a backlog brought it late) could not: the holding update still goes."""
    last = state.last_customer_notified_at
    if last is None or last < promise.due_at:
        return False
    return promise.learned_at is None or last >= promise.learned_at


def release_internal(step: Step, item: Scheduled) -> None:
    state = step.state
    promise = _current(state, item)
    if promise is None:
        step.log("cancel", "promise replaced by a newer one", kind=item.kind)
        return
    if item.kind == "checkpoint_escalation":
        if promise.status == "pending":
            set_status(step, promise, "broken", promise.due_at)
        if promise.status != "broken":
            step.log("cancel", f"promise is {promise.status}", kind=item.kind)
            return
        promise.escalated = True
    elif promise.status != "pending":
        step.log("cancel", f"promise is {promise.status}", kind=item.kind)
        return
    elif step.now >= promise.due_at and not promise.outside_team_hours:
        step.log("cancel", "nudge released after the due time; the escalation takes over", kind=item.kind)
        return
    else:
        promise.nudged = True
    # The agent who made the promise hears of it; so does the owner, if someone else.
    maker = promise.agent
    send_to_team(
        step,
        item,
        maker.team,
        maker.email,
        maker.name,
        _holding_told(step, promise) if item.kind == "checkpoint_escalation" else None,
    )
    owner = state.owner
    if (
        item.kind == "checkpoint_nudge"
        and owner is not None
        and (owner.id, owner.name) != (maker.id, maker.name)
    ):
        send_to_team(
            step,
            item.model_copy(update={"trigger_event_id": f"{item.trigger_event_id}#owner"}),
            owner.team,
            owner.email,
            owner.name,
        )


def _holding_told(step: Step, promise: Promise) -> dict[str, Any]:
    """What the lead is told of the customer's holding update: what will happen to it in this
    same step. A message that reached them since the promised time means none goes
    (holding_still_wanted), and the lead hears that, not that one went."""
    heard = recently_heard(step)
    if heard is not None and spoke_since_due(step.state, promise):
        return {
            "status": "skipped",
            "until": None,
            "reason": f"they were sent a message {heard.seconds} s ago",
        }
    return holding_fate(step)


def move_stale(state: TicketState, moved: dict[str, Any], now: datetime) -> str | None:
    """Why the news that a promise's time moved should not go (any more), if it should not."""
    promise = state.promises.get(str(moved.get("promise_id")))
    if moved.get("promise_id") is not None and (
        promise is None or promise.version != moved.get("version") or promise.status != "pending"
    ):
        return "the promise was kept or changed again before the move was announced"
    if datetime.fromisoformat(moved["to"]) <= now:
        # Held past the new time itself: the holding update speaks of it now.
        return "the new time passed before it could be announced"
    return None


def announcement_stale(state: TicketState, item: Scheduled, now: datetime) -> str | None:
    """Why a first promise's announcement should not go (any more), if it should not."""
    promised = item.context.get("promised") or {}
    promise = state.promises.get(str(promised.get("promise_id")))
    if promise is None or promise.version != promised.get("version") or promise.status != "pending":
        return "the promise was kept or changed before it was announced"
    if promise.due_at <= now:
        # Held (quiet hours, a backlog) past the promised time: the holding update speaks now.
        return "the promised time passed before it could be announced"
    return None
