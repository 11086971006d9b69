"""heard's own first promise: the first reply the acknowledgment names, watched with the
same ladder as an agent's promise, and moved when the customer's reachable hours move it."""

from __future__ import annotations

from datetime import datetime, timedelta

from heard.streams.contract.records import (
    Agent,
    CheckpointPromised,
    Milestone,
    TicketCreated,
)
from heard.streams.contract.state import (
    Scheduled,
    TicketState,
)
from heard.streams.policy import promises, watches
from heard.streams.policy.history import answered_before, pending_promise
from heard.streams.policy.routing import (
    business_deadline,
)
from heard.streams.policy.step import Rules, Step


def watch_named_milestone(step: Step, milestone: Milestone | None, agent: Agent | None) -> None:
    """A next milestone with a time is a promise the customer is told ("a call, by 6 pm"):
    heard keeps it as it keeps an agent's (a nudge before it; if it passes, the lead and one
    honest holding update), without telling the customer again."""
    if milestone is None or milestone.due_at is None:
        return
    state, event = step.state, step.event
    who = agent or state.owner or state.agent or Agent(name="team")
    # Built, not parsed: the worker made it from an event already validated.
    promised = CheckpointPromised.model_construct(
        id=f"{event.id}#milestone",
        type="ticket.checkpoint_promised",
        occurred_at=event.occurred_at,
        ticket_id=event.ticket_id,
        promise_id=f"{promises.IMPLICIT_PREFIX}{event.id}",
        agent=who,
        due_at=milestone.due_at,
        what=milestone.text,
        customer_text=milestone.text,
        team_calendar=None,
        reason=None,
    )
    promises.on_promised(step, promised, implicit=True)


def first_reply_minutes(state: TicketState, rules: Rules) -> float:
    """The first-reply target in the team's working minutes, by urgency."""
    return (
        rules.policy.urgent_first_response_target_minutes
        if state.urgent
        else rules.policy.first_response_target_hours * 60
    )


def first_reply_target(state: TicketState, rules: Rules, since: datetime) -> datetime:
    """When a reply to the message sent at `since` is due, in the team's working time."""
    return business_deadline(since, first_reply_minutes(state, rules), rules.policy)


def watch_first_reply(step: Step, event: TicketCreated) -> None:
    """The acknowledgment promises a first reply by a time: heard keeps that promise like
    an agent's. The team is nudged before it; if no public reply has come by then, the lead
    is told and the customer gets an honest holding update (which names the next time)."""
    due = first_reply_target(step.state, step.rules, event.occurred_at)
    _schedule_first_reply(step, due, f"{event.id}#first-reply", event.occurred_at)


def _schedule_first_reply(step: Step, due: datetime, trigger: str, trigger_at: datetime) -> None:
    state = step.state
    state.first_reply_due = due
    # Once a public reply or a resolution has reached them, what heard promises a customer
    # who writes again is "a reply": the templates word it so.
    context = {
        "promise": {
            "id": "first-reply",
            "what": None,
            "first_reply": True,
            "follow_up": answered_before(state),
            "due_at": due.isoformat(),
            "agent_name": state.agent.name if state.agent else None,
            "outside_team_hours": False,
        }
    }
    ladder = [("checkpoint_escalation", "lead", due), ("checkpoint_holding", "customer", due)]
    nudge_at = _nudge_time(due, step.rules, step.now)
    if nudge_at > step.now:
        ladder.insert(0, ("checkpoint_nudge", "agent", nudge_at))
    for kind, audience, at in ladder:
        state.scheduled.append(
            Scheduled(
                kind=kind,
                audience=audience,
                due_at=at,
                trigger_event_id=trigger,
                trigger_at=trigger_at,
                context=context,
            )
        )
    step.log(
        "schedule",
        f"first reply promised by {due.isoformat()}; the team is nudged before "
        "it, the lead and the customer hear if it passes without one",
        kind="checkpoint",
    )


def _nudge_time(due: datetime, rules: Rules, since: datetime) -> datetime:
    """`nudge_lead_seconds` before the due time, or halfway there when that is sooner (an
    urgent ticket's 30-minute target still gets its nudge)."""
    lead = min(timedelta(seconds=rules.policy.nudge_lead_seconds), (due - since) / 2)
    return due - lead


def first_reply_item(item: Scheduled) -> bool:
    return watches.watch_of(item) == "first_reply"


def first_reply_moved(item: Scheduled, due: datetime | None, rules: Rules, since: datetime) -> Scheduled:
    assert due is not None
    promise = {**item.context["promise"], "due_at": due.isoformat()}
    at = _nudge_time(due, rules, since) if item.kind == "checkpoint_nudge" else due
    return item.model_copy(update={"due_at": at, "context": {**item.context, "promise": promise}})


def promise_a_reachable_first_reply(step: Step) -> None:
    """An acknowledgment going out at or after the first-reply target (a backlog, quiet
    hours that ran into it) must not promise a time already gone: it promises the full
    target from now, and the watch moves with it."""
    state = step.state
    if state.first_reply_due is None or state.first_reply_due > step.now:
        return
    if state.next_update_due is not None:
        return  # a holding update named a time already: the acknowledgment repeats that one
    due = business_deadline(step.now, first_reply_minutes(state, step.rules), step.rules.policy)
    if state.first_reply_escalated:
        # The watch had fired (the lead was told): the new time is kept the same way.
        state.first_reply_escalated = False
        _schedule_first_reply(step, due, f"{step.event.id}#first-reply", step.now)
    else:
        state.first_reply_due = due
        state.scheduled = [
            first_reply_moved(item, due, step.rules, step.now) if first_reply_item(item) else item
            for item in state.scheduled
        ]
    step.log(
        "schedule",
        f"the first-reply target had passed before the acknowledgment could go; "
        f"it promises {due.isoformat()} instead",
        kind="checkpoint",
    )


def promise_a_reply_to_a_follow_up(step: Step, item: Scheduled) -> None:
    """The customer wrote again after a public reply and nothing is owed them yet (no
    milestone, no agent's promise, no time a holding update named): the acknowledgment
    promises a reply within the first-reply target from their message, and heard keeps that
    promise as it keeps the first reply's."""
    state = step.state
    if (
        state.first_reply_due is not None
        or state.next_update_due is not None
        or state.next_milestone is not None
        or pending_promise(state) is not None
    ):
        return
    minutes = (
        step.rules.policy.urgent_first_response_target_minutes
        if item.urgent
        else first_reply_minutes(state, step.rules)
    )
    due = business_deadline(item.trigger_at, minutes, step.rules.policy)
    if due <= step.now:
        due = business_deadline(step.now, minutes, step.rules.policy)
    _schedule_first_reply(step, due, f"{item.trigger_event_id}#reply", step.now)
