"""The policy: given a ticket's state, an event and the time, what heard says and when.

`decide(state, event, now, rules)` is a pure function returning the new state,
the notifications to send now and the decision log lines. Messages that must
wait (acknowledgment hold, closure grace, quiet hours, promise ladder) become
`Scheduled` items in the state; the sweeper turns their due times into
`heard.timer_due` events, and `decide` releases them after re-checking that
they still make sense.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from heard.streams import choices, promises
from heard.streams.records import (
    Agent,
    AgentReply,
    Assigned,
    CheckpointPromised,
    Closed,
    Contact,
    ContactsUpdated,
    Customer,
    CustomerMessage,
    FeedbackGiven,
    ForgetRequested,
    Milestone,
    OptionChosen,
    OptionsOffered,
    PreferencesUpdated,
    Reopened,
    Resolved,
    StatusChanged,
    TicketCreated,
    TimerDue,
)
from heard.streams.replies import SignalMatcher
from heard.streams.routing import (
    NoRoute,
    Route,
    business_deadline,
    customer_route,
    customer_zone,
    quiet_until,
)
from heard.streams.settings import FeedbackSettings, PolicySettings
from heard.streams.state import (
    SEEN_EVENTS_KEPT,
    ChoiceRecord,
    Decision,
    FeedbackRecord,
    FirstAcknowledgment,
    Notification,
    Promise,
    PromiseRecord,
    Scheduled,
    SentRecord,
    TicketState,
    TransferRecord,
    notification_id,
)

CLOSED_STATUSES = ("closed",)


@dataclass(frozen=True)
class Rules:
    """Everything the policy reads besides state and event: config, flattened."""

    policy: PolicySettings
    enabled_channels: tuple[str, ...] = ("email", "sms")
    internal_recipients: dict[str, str] = field(default_factory=dict)
    default_locale: str = "en"
    # Locales each message kind has templates in (empty: not known, the customer's is used).
    template_locales: dict[str, tuple[str, ...]] = field(default_factory=dict)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)

    @cached_property
    def signals(self) -> SignalMatcher:
        return SignalMatcher(self.feedback)


def writing_locale(language: str, kind: str, rules: Rules) -> tuple[str, list[str]]:
    """The locale a message is written in, and the chain tried: the customer's own
    (pt-BR), its language (pt), then the default locale (en)."""
    chain = list(dict.fromkeys([language, language.replace("_", "-").split("-")[0],
                                rules.default_locale]))
    available = rules.template_locales.get(kind)
    if not available:
        return language, chain
    known = {locale.lower().replace("_", "-"): locale for locale in available}
    for candidate in chain:
        if candidate.lower().replace("_", "-") in known:
            return known[candidate.lower().replace("_", "-")], chain
    return rules.default_locale, chain


@dataclass
class Outcome:
    state: TicketState
    notifications: list[Notification] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    promise_records: list[PromiseRecord] = field(default_factory=list)
    first_acknowledgment: FirstAcknowledgment | None = None
    # Customers' answers, for `heard-replies`.
    replies: list[ChoiceRecord | FeedbackRecord] = field(default_factory=list)
    # Changes of team, for `heard report transfers`.
    transfers: list[TransferRecord] = field(default_factory=list)
    changed: bool = True
    # The ticket's data is to be erased now (retention passed, or `heard forget`).
    forget: bool = False
    # Phones whose SMS questions about this ticket are to be dropped (an erasure).
    forgotten_phones: list[str] = field(default_factory=list)


class Step:
    """Working set for one `decide` call: the copied state plus what it emits."""

    def __init__(self, state: TicketState, event: Any, now: datetime, rules: Rules) -> None:
        self.state = state
        # What this step may release: an event only what was due when it happened, a timer
        # everything due by now. When a backlog is replayed at once, a reply that came 30 s
        # after the ticket still cancels the held acknowledgment: that waits for its timer,
        # and by then the reply has been applied.
        self.release_at = now if event.type == "heard.timer_due" else min(now, event.occurred_at)
        self.event = event
        self.now = now
        self.rules = rules
        self.out = Outcome(state)

    def log(self, outcome: str, reason: str, *, kind: str | None = None,
            channel: str | None = None, nid: str | None = None) -> None:
        self.out.decisions.append(Decision(
            ticket_id=self.state.ticket_id, event_id=self.event.id, event_type=self.event.type,
            at=self.now, outcome=outcome,
            kind=kind, channel=channel, notification_id=nid, reason=reason,
        ))

    def schedule(self, item: Scheduled, reason: str) -> None:
        self.state.scheduled.append(item)
        self.log("schedule", reason, kind=item.kind)

    def cancel(self, kinds: tuple[str, ...], reason: str,
               keep: Any = None) -> None:
        kept = []
        for item in self.state.scheduled:
            if item.kind in kinds and (keep is None or not keep(item)):
                self.log("cancel", reason, kind=item.kind)
            else:
                kept.append(item)
        self.state.scheduled = kept


def decide(state: TicketState | None, event: Any, now: datetime, rules: Rules, *,
           in_place: bool = False) -> Outcome:
    """What to do about `event`. `state` is left as it was unless `in_place` is set.

    `in_place` spares the deep copy for a caller that owns the object (the worker's
    state cache) and drops it if this raises.
    """
    ticket_id = event.ticket_id
    if state is None:
        current = TicketState(ticket_id=ticket_id)
    else:
        current = state if in_place else state.model_copy(deep=True)
    step = Step(current, event, now, rules)
    if event.type != "heard.timer_due":
        if event.id in current.seen_event_ids:
            step.log("skip", "duplicate event id: already applied")
            step.out.state = state or current
            step.out.changed = False
            return step.out
        current.seen_event_ids = [*current.seen_event_ids, event.id][-SEEN_EVENTS_KEPT:]
        current.version += 1
    for warning in getattr(event, "warnings", None) or ():
        step.log("record", f"{event.source or 'the producer'} left out: {warning}")
    if event.type != "heard.timer_due":
        # What fell due before this event happened goes first, on the state as it was then:
        # in a backlog, an acknowledgment due a minute before the agent's reply was owed.
        release_due(step, event.occurred_at, before=True)
    HANDLERS[type(event)](step)
    release_due(step, step.release_at)
    return step.out


# ------------------------------------------------------------------ handlers
def on_created(step: Step) -> None:
    event: TicketCreated = step.event
    state = step.state
    state.known = True
    state.customer = event.customer
    state.subject = event.subject
    state.urgent = event.urgent
    state.created_at = event.occurred_at
    state.agent = event.agent or state.agent
    state.owner = state.owner or event.agent
    state.concern = event.concern or state.concern
    if event.contacts is not None:
        state.contacts = other_people(event.customer, event.contacts)
    state.next_milestone = event.next_milestone
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "open", event.occurred_at
    if _replied_since(state, event.occurred_at):
        step.log("skip", "a real agent reply landed first; no acknowledgment needed",
                 kind="acknowledgment")
        return
    hold = 0.0 if event.urgent else step.rules.policy.acknowledgment_hold_seconds
    step.schedule(Scheduled(
        kind="acknowledgment", due_at=event.occurred_at + timedelta(seconds=hold),
        trigger_event_id=event.id, trigger_at=event.occurred_at, urgent=event.urgent,
    ), f"acknowledge after {hold:.0f} s unless an agent replies first")
    if event.next_milestone is None:
        watch_first_reply(step, event)
    else:
        watch_named_milestone(step, event.next_milestone, event.agent)


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
        id=f"{event.id}#milestone", type="ticket.checkpoint_promised",
        occurred_at=event.occurred_at, ticket_id=event.ticket_id,
        promise_id=f"{promises.IMPLICIT_PREFIX}{event.id}", agent=who, due_at=milestone.due_at,
        what=milestone.text, customer_text=milestone.text, team_calendar=None, reason=None)
    promises.on_promised(step, promised, implicit=True)


def first_reply_minutes(state: TicketState, rules: Rules) -> float:
    """The first-reply target in the team's working minutes, by urgency."""
    return (rules.policy.urgent_first_response_target_minutes if state.urgent
            else rules.policy.first_response_target_hours * 60)


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
    context = {"promise": {"id": "first-reply", "what": None, "first_reply": True,
                           "follow_up": answered_before(state),
                           "due_at": due.isoformat(),
                           "agent_name": state.agent.name if state.agent else None,
                           "outside_team_hours": False}}
    ladder = [("checkpoint_escalation", "lead", due), ("checkpoint_holding", "customer", due)]
    nudge_at = _nudge_time(due, step.rules, step.now)
    if nudge_at > step.now:
        ladder.insert(0, ("checkpoint_nudge", "agent", nudge_at))
    for kind, audience, at in ladder:
        state.scheduled.append(Scheduled(kind=kind, audience=audience, due_at=at,
                                         trigger_event_id=trigger, trigger_at=trigger_at,
                                         context=context))
    step.log("schedule", f"first reply promised by {due.isoformat()}; the team is nudged before "
             "it, the lead and the customer hear if it passes without one", kind="checkpoint")


def _nudge_time(due: datetime, rules: Rules, since: datetime) -> datetime:
    """`nudge_lead_seconds` before the due time, or halfway there when that is sooner (an
    urgent ticket's 30-minute target still gets its nudge)."""
    lead = min(timedelta(seconds=rules.policy.nudge_lead_seconds), (due - since) / 2)
    return due - lead


def first_reply_item(item: Scheduled) -> bool:
    return promises.watch_of(item) == "first_reply"


def _first_reply_moved(item: Scheduled, due: datetime | None, rules: Rules,
                       since: datetime) -> Scheduled:
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
        state.scheduled = [_first_reply_moved(item, due, step.rules, step.now)
                           if first_reply_item(item) else item for item in state.scheduled]
    step.log("schedule", f"the first-reply target had passed before the acknowledgment could go; "
             f"it promises {due.isoformat()} instead", kind="checkpoint")


def promise_a_reply_to_a_follow_up(step: Step, item: Scheduled) -> None:
    """The customer wrote again after a public reply and nothing is owed them yet (no
    milestone, no agent's promise, no time a holding update named): the acknowledgment
    promises a reply within the first-reply target from their message, and heard keeps that
    promise as it keeps the first reply's."""
    state = step.state
    if (state.first_reply_due is not None or state.next_update_due is not None
            or state.next_milestone is not None or pending_promise(state) is not None):
        return
    minutes = (step.rules.policy.urgent_first_response_target_minutes if item.urgent
               else first_reply_minutes(state, step.rules))
    due = business_deadline(item.trigger_at, minutes, step.rules.policy)
    if due <= step.now:
        due = business_deadline(step.now, minutes, step.rules.policy)
    _schedule_first_reply(step, due, f"{item.trigger_event_id}#reply", step.now)


def pending_promise(state: TicketState) -> Promise | None:
    """The agent's promise the customer is waiting on, the soonest first."""
    pending = [p for p in state.promises.values() if p.status == "pending"]
    return min(pending, key=lambda p: p.due_at) if pending else None


def on_customer_message(step: Step) -> None:
    event: CustomerMessage = step.event
    state = step.state
    if state.last_customer_message_at is None or event.occurred_at > state.last_customer_message_at:
        state.last_customer_message_at = event.occurred_at
    if not state.known:
        step.log("record", "customer message for a ticket not yet created; kept for ordering")
        return
    if state.status in CLOSED_STATUSES:
        step.log("skip", "ticket is closed; the help desk reopens it if needed",
                 kind="acknowledgment")
        return
    if any(item.kind == "acknowledgment" for item in state.scheduled):
        step.log("skip", "an acknowledgment is already waiting to be sent", kind="acknowledgment")
        return
    if _replied_since(state, event.occurred_at):
        step.log("skip", "an agent already replied after this message", kind="acknowledgment")
        return
    hold = 0.0 if event.urgent else step.rules.policy.acknowledgment_hold_seconds
    step.schedule(Scheduled(
        kind="acknowledgment", due_at=event.occurred_at + timedelta(seconds=hold),
        trigger_event_id=event.id, trigger_at=event.occurred_at, urgent=event.urgent,
    ), f"acknowledge the customer's message after {hold:.0f} s unless an agent replies first")


def on_agent_reply(step: Step) -> None:
    event: AgentReply = step.event
    state = step.state
    if not event.public:
        step.log("record", "internal note: nothing goes to the customer")
        return
    if (state.last_public_agent_update_at is None
            or event.occurred_at > state.last_public_agent_update_at):
        state.last_public_agent_update_at = event.occurred_at
    state.agent = event.agent
    state.concern = event.concern or state.concern
    if state.first_reply_due is not None:
        kept = event.occurred_at <= state.first_reply_due
        promises.end_first_reply_watch(step, "first reply given " + ("on time" if kept
                                                                     else "late"))
    promises.end_next_update_watch(step, "an agent replied publicly")
    step.cancel(("acknowledgment",), "a real agent reply landed first",
                keep=lambda item: item.trigger_at > event.occurred_at)
    promises.keep_promises(step, event.occurred_at)
    if event.next_milestone is not None:
        state.next_milestone = event.next_milestone
        watch_named_milestone(step, event.next_milestone, event.agent)
    elif event.milestone is not None:
        # The milestone reached may have been the one announced; never restate it as next.
        state.next_milestone = None
    if event.milestone is not None:
        queue_now(step, "milestone_update", urgent=event.urgent, extra={
            "milestone": {"text": event.milestone.text, "at": event.occurred_at.isoformat()},
        })


def on_status_changed(step: Step) -> None:
    event: StatusChanged = step.event
    state = step.state
    if state.status_at is not None and event.occurred_at < state.status_at:
        step.log("skip", f"status {event.to_status!r} is older than the current one; ignored")
        return
    state.status, state.status_at = event.to_status, event.occurred_at
    if event.next_milestone is not None:
        state.next_milestone = event.next_milestone
    if event.to_status in step.rules.policy.milestone_statuses and state.known \
            and not (event.note or "").strip():
        step.log("record", f"status is now {event.to_status!r} with no note: nothing to tell "
                 "the customer (the help desk's note is the update)")
    elif event.to_status in step.rules.policy.milestone_statuses and state.known:
        # The update names the next milestone's time: heard keeps it.
        watch_named_milestone(step, event.next_milestone, None)
        queue_now(step, "milestone_update", extra={
            "milestone": {"text": event.note or "", "status": event.to_status,
                          "at": event.occurred_at.isoformat()},
        })
    else:
        step.log("record", f"status is now {event.to_status!r}; not one customers are told of")


def on_assigned(step: Step) -> None:
    event: Assigned = step.event
    state = step.state
    before = state.agent.team if state.agent else None
    if before is not None and event.agent.team is not None and event.agent.team != before:
        state.transfers += 1
        step.out.transfers.append(TransferRecord(
            ticket_id=state.ticket_id, from_team=before, to_team=event.agent.team,
            count=state.transfers, at=event.occurred_at))
    state.agent = event.agent
    if event.owner or state.owner is None:
        previous = state.owner
        state.owner = event.agent
        if previous is not None and (previous.id, previous.name) != (event.agent.id,
                                                                      event.agent.name):
            state.owner_news = True  # the next update says who has it now, once
    step.log("record", f"ticket assigned; {state.transfers} change(s) of team so far"
             + ("; this agent owns it now" if state.owner == event.agent else ""))


def on_promise(step: Step) -> None:
    promises.on_promised(step, step.event)


def on_resolved(step: Step) -> None:
    event: Resolved = step.event
    state = step.state
    state.summary = event.summary
    state.resolved_at = event.occurred_at
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "resolved", event.occurred_at
    promises.cancel_promises(step, "ticket resolved")
    promises.end_first_reply_watch(step, "ticket resolved: the closure summary is the reply")
    step.cancel(("acknowledgment",), "ticket resolved before the acknowledgment went out")
    grace = step.rules.policy.closure_grace_seconds
    step.schedule(Scheduled(
        kind="closure_summary", due_at=event.occurred_at + timedelta(seconds=grace),
        trigger_event_id=event.id, trigger_at=event.occurred_at,
    ), f"closure summary held {grace:.0f} s in case the ticket reopens")


def on_reopened(step: Step) -> None:
    event: Reopened = step.event
    state = step.state
    state.reopened_at = event.occurred_at
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "reopened", event.occurred_at
        state.forget_at = None
    step.cancel(("closure_summary",), "ticket reopened during the closure grace period",
                keep=lambda item: item.trigger_at > event.occurred_at)
    _acknowledge_what_reopened_it(step)


def _acknowledge_what_reopened_it(step: Step) -> None:
    """A customer who answered the closure wrote to a resolved ticket (heard waited for the
    help desk to reopen it): now it is open again, their message is acknowledged."""
    state, event = step.state, step.event
    wrote = state.last_customer_message_at
    if (not state.known or wrote is None or state.resolved_at is None
            or wrote < state.resolved_at or wrote > event.occurred_at
            or state.status in CLOSED_STATUSES or _replied_since(state, wrote)
            or any(item.kind == "acknowledgment" for item in state.scheduled)):
        return
    step.schedule(Scheduled(
        kind="acknowledgment", due_at=event.occurred_at, trigger_event_id=event.id,
        trigger_at=wrote, urgent=False,
    ), "the customer wrote after the resolution: acknowledged now that the ticket is reopened")


def on_closed(step: Step) -> None:
    event: Closed = step.event
    state = step.state
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "closed", event.occurred_at
    state.forget_at = event.occurred_at + timedelta(
        days=step.rules.policy.closed_ticket_retention_days)
    step.log("record", f"ticket closed: its data is erased at {state.forget_at.isoformat()} "
             "unless it is reopened")
    promises.end_first_reply_watch(step, "ticket closed")
    promises.end_next_update_watch(step, "ticket closed")
    promises.cancel_promises(step, "ticket closed")
    for item in state.scheduled:
        if item.kind == "closure_summary" and item.due_at > step.release_at:
            item.due_at = step.release_at
            step.log("schedule", "ticket closed: closure summary released now",
                     kind="closure_summary")


def other_people(customer: Customer | None, contacts: list[Contact]) -> list[Contact]:
    """The contacts who are not the customer, each once: a help desk's CC list often holds
    the requester too, and nobody should get every message twice."""
    # Addresses compare case-blind: a CC list often writes the customer's in other capitals.
    seen = {value.casefold() for value in (customer.email, customer.phone)
            if value} if customer else set()
    kept: list[Contact] = []
    for contact in contacts:
        addresses = {value.casefold() for value in (contact.email, contact.phone) if value}
        if addresses & seen or contact.key in {c.key for c in kept}:
            continue
        seen |= addresses
        kept.append(contact)
    return kept


def on_contacts(step: Step) -> None:
    event: ContactsUpdated = step.event
    step.state.contacts = other_people(step.state.customer, event.contacts)
    roles = ", ".join(f"{c.role}" for c in event.contacts) or "none"
    step.log("record", f"contacts updated: {len(event.contacts)} ({roles})")


def on_preferences(step: Step) -> None:
    event: PreferencesUpdated = step.event
    step.state.customer = event.customer
    step.log("record", "customer preferences updated")


def on_timer(step: Step) -> None:
    """Release is done by `release_due`, which runs after every event."""
    state = step.state
    if state.forget_at is not None and state.forget_at <= step.now:
        _forget(step, "the closed ticket's retention period has passed")


def on_forget(step: Step) -> None:
    event: ForgetRequested = step.event
    if event.contact is None:
        _forget(step, "erasure requested (heard forget)")
        return
    state = step.state
    gone = [c for c in state.contacts if c.key == event.contact]
    state.contacts = [c for c in state.contacts if c.key != event.contact]
    state.scheduled = [item for item in state.scheduled if item.contact != event.contact]
    # What was sent to them stays counted, without saying who they were.
    state.sent = [record.model_copy(update={"contact": "erased"})
                  if record.contact == event.contact else record for record in state.sent]
    step.out.forgotten_phones = [c.phone for c in gone if c.phone]
    step.log("erase", "a contact erased from this ticket (heard forget); the ticket stays"
             if gone else "erasure of a contact not on this ticket: nothing to do")


def _forget(step: Step, reason: str) -> None:
    step.state.scheduled = []
    step.out.forget = True
    step.out.forgotten_phones = step.state.phones()
    step.log("erase", f"ticket data erased: {reason}")


HANDLERS: dict[type, Any] = {
    TicketCreated: on_created, CustomerMessage: on_customer_message, AgentReply: on_agent_reply,
    StatusChanged: on_status_changed, Assigned: on_assigned, CheckpointPromised: on_promise,
    Resolved: on_resolved, Reopened: on_reopened, Closed: on_closed,
    PreferencesUpdated: on_preferences, TimerDue: on_timer, ForgetRequested: on_forget,
    OptionsOffered: choices.on_options_offered, OptionChosen: choices.on_option_chosen,
    FeedbackGiven: choices.on_feedback, ContactsUpdated: on_contacts,
}


# ------------------------------------------------------------------ release
def release_due(step: Step, until: datetime, *, before: bool = False) -> None:
    """Release what is due by `until` (strictly before it, with `before`)."""
    state = step.state

    def is_due(item: Scheduled) -> bool:
        return item.due_at < until if before else item.due_at <= until

    due = [item for item in state.scheduled if is_due(item)]
    if not due:
        return
    state.scheduled = [item for item in state.scheduled if not is_due(item)]
    # An acknowledgment goes first: what else is released may depend on what it promised.
    for item in sorted(due, key=lambda i: (i.kind != "acknowledgment", i.due_at)):
        promised = item.context.get("promise") or {}
        if first_reply_item(item) and state.first_reply_due is not None \
                and promised.get("due_at") != state.first_reply_due.isoformat():
            # The acknowledgment just released promised a later first reply: wait for that.
            state.scheduled.append(_first_reply_moved(item, state.first_reply_due, step.rules,
                                                      step.now))
            continue
        waiting = [i.due_at for i in state.scheduled if i.kind == "acknowledgment"]
        if first_reply_item(item) and waiting:
            # The acknowledgment that names the first reply has not gone yet (quiet hours):
            # nobody is nudged or told about a promise the customer has not been given.
            state.scheduled.append(item.model_copy(update={"due_at": max(min(waiting),
                                                                          item.due_at)}))
            continue
        watch = promises.watch_of(item)
        if item.audience == "customer":
            _release_customer(step, item)
        elif item.kind in choices.TEAM_KINDS:
            choices.release_team(step, item)
        elif watch is not None:
            promises.release_watch(step, item, watch)
        else:
            promises.release_internal(step, item)


# The messages that say, in one line, who has the request now after a change of owner.
# (A holding update by SMS has no room left for it.)
NEWS_KINDS = ("milestone_update", "checkpoint_holding")
OWNER_NEWS = {("milestone_update", "email"), ("milestone_update", "sms"),
              ("checkpoint_holding", "email")}
# What each contact hears: a stakeholder every update; a requester all a customer does.
STAKEHOLDER_KINDS = ("milestone_update", "checkpoint_holding", "closure_summary")


def _release_customer(step: Step, item: Scheduled) -> None:
    state = step.state
    reason = _still_wanted(step, item)
    if reason:
        step.log("cancel", reason, kind=item.kind)
        return
    if item.contact is not None:
        contact = next((c for c in state.contacts if c.key == item.contact), None)
        if contact is None:
            step.log("cancel", "the contact is no longer on the ticket", kind=item.kind)
        else:
            _release_to_contact(step, item, contact)
        return
    item = with_news(step, item)
    if not _release_to_customer(step, item):
        return  # coalesced: everyone hears it together when it goes, or no one does
    for contact in state.contacts:
        if contact.role == "requester" or item.kind in STAKEHOLDER_KINDS:
            _release_to_contact(step, item.model_copy(update={"contact": contact.key}), contact)


def with_news(step: Step, item: Scheduled) -> Scheduled:
    """The item, carrying the news it is the first to tell (after a change of owner, "Aisha
    has your request now"; after repeated transfers, that they happened): decided once,
    so the customer and every contact hear the same, and no later update repeats it."""
    state = step.state
    if item.kind not in NEWS_KINDS or "news" in item.context:
        return item
    transfers = (item.kind == "milestone_update" and state.owner is not None
                 and state.transfers >= step.rules.policy.transfers_before_acknowledging
                 and not state.transfers_acknowledged)
    # The handovers' sentence names the owner already. A message that has no room for the
    # owner's line (a holding update by SMS) leaves the news for the next one.
    route = customer_route(state.customer, step.rules.enabled_channels) if state.customer else None
    channel = route.channel if isinstance(route, Route) else None
    owner_new = state.owner_news and not transfers and (item.kind, channel) in OWNER_NEWS
    if transfers:
        state.transfers_acknowledged = True
    if transfers or owner_new:
        state.owner_news = False
    return item.model_copy(update={"context": {
        **item.context, "news": {"transfers": transfers, "owner_new": owner_new}}})


def _release_to_contact(step: Step, item: Scheduled, contact: Contact) -> None:
    quiet_end = None if item.urgent else quiet_until(step.now, contact, step.rules.policy)
    if quiet_end is not None:
        step.state.scheduled.append(item.model_copy(update={"due_at": quiet_end}))
        step.log("defer", f"a contact's quiet hours ({contact.role}); deferred to "
                 f"{quiet_end.isoformat()}", kind=item.kind)
        return
    emit_customer(step, item, contact)


def _release_to_customer(step: Step, item: Scheduled) -> bool:
    """Release to the ticket's customer. False when the message was coalesced (it waits, or
    is not needed): then it goes to no one else either."""
    state = step.state
    last = state.last_customer_notified_at
    window = timedelta(seconds=step.rules.policy.coalesce_window_seconds)
    if item.context.get("promised") and last is not None and step.now - last < window:
        # Just after another message, a promise's announcement waits a little: by then a
        # reply may have kept the promise, and two messages in a minute are one too many.
        state.scheduled.append(item.model_copy(update={"due_at": last + window}))
        step.log("defer", f"the customer heard from us {(step.now - last).seconds} s ago; the "
                 f"promise is announced at {(last + window).isoformat()}", kind=item.kind)
        return False
    if item.kind == "acknowledgment" and not item.urgent and last is not None \
            and step.now - last < window:
        step.log("skip", f"coalesced: the customer heard from us {(step.now - last).seconds} s "
                 "ago", kind=item.kind)
        return False
    quiet_end = None if item.urgent else quiet_until(step.now, state.customer, step.rules.policy)
    if quiet_end is not None:
        state.scheduled.append(item.model_copy(update={"due_at": quiet_end}))
        step.log("defer", f"customer's quiet hours; deferred to {quiet_end.isoformat()}",
                 kind=item.kind)
        # Their quiet hours are theirs: the other contacts hear now, by their own.
        return True
    if item.kind == "acknowledgment":
        promise_a_reachable_first_reply(step)
        promise_a_reply_to_a_follow_up(step, item)
    emit_customer(step, item)
    return True


def _still_wanted(step: Step, item: Scheduled) -> str | None:
    state = step.state
    if state.customer is None:
        return "no customer details known for this ticket"
    if item.kind == "acknowledgment":
        if _replied_since(state, item.trigger_at):
            return "a real agent reply landed first"
        if state.status in ("resolved", "closed"):
            return "ticket already resolved"
    if item.kind == "milestone_update" and item.context.get("promised"):
        return promises.announcement_stale(state, item, step.now)
    if item.kind == "closure_summary":
        return _closure_stale(state, item)
    if item.kind == "checkpoint_holding":
        watch = promises.watch_of(item)
        if watch is not None:
            return _watched_holding_stale(step, item, watch)
        return promises.holding_still_wanted(step, item)
    return None


def _closure_stale(state: TicketState, item: Scheduled) -> str | None:
    if state.reopened_at is not None and state.reopened_at > item.trigger_at:
        return "ticket reopened during the closure grace period"
    if any(s.kind == "closure_summary" and s.at >= item.trigger_at
           and s.contact == item.contact for s in state.sent):
        return "closure summary already sent"
    return None


def _watched_holding_stale(step: Step, item: Scheduled, watch: str) -> str | None:
    """Why a holding update for a watch heard keeps itself (the first reply, the next
    update) is no longer wanted, or None when it still is."""
    state = step.state
    if state.status in ("resolved", "closed"):
        return "ticket already resolved"
    if promises.watch_due(state, watch) is None:
        return ("the first reply was given" if watch == "first_reply"
                else "the customer has heard from us since")
    # A contact held by their quiet hours still gets their own update.
    heard = promises.recently_heard(step) if item.contact is None else None
    if heard is None:
        return None
    # An acknowledgment (deferred by quiet hours, or for a message they just sent) went out
    # moments ago: a holding update beside it would only confuse; the lead is still told.
    # A promised next update is kept from that message on.
    if watch == "next_update":
        later = promises.watch_next_update(step, item, counts=False)
        named = later.isoformat() if later else "no set time"
        return (f"the customer heard from us {heard.seconds} s ago; the next update "
                f"is now due by {named}")
    return f"the customer heard from us {heard.seconds} s ago"


def queue_now(step: Step, kind: str, *, urgent: bool = False, extra: dict[str, Any]) -> None:
    """Queue a customer message released in this same step (subject to quiet hours)."""
    step.state.scheduled.append(Scheduled(
        kind=kind,
        due_at=step.release_at, trigger_event_id=step.event.id,
        trigger_at=step.event.occurred_at, urgent=urgent, context=extra,
    ))


def emit_customer(step: Step, item: Scheduled, contact: Contact | None = None) -> None:
    """Write to the ticket's customer, or to one of its other contacts."""
    state = step.state
    customer: Customer | None = contact or state.customer
    assert customer is not None
    route = customer_route(customer, step.rules.enabled_channels)
    if isinstance(route, NoRoute):
        step.log("suppress", route.reason if contact is None else
                 f"a contact ({contact.role}): {route.reason}", kind=item.kind)
        return
    # One id per person: the customer's stays what it always was.
    nid = notification_id(state.ticket_id, item.kind, item.trigger_event_id, route.channel,
                          "customer" if contact is None else f"contact:{contact.key}")
    if any(s.notification_id == nid for s in state.sent):
        step.log("skip", "this notification was already decided", kind=item.kind,
                 channel=route.channel, nid=nid)
        return
    zone = customer_zone(customer, step.rules.policy)
    language = customer.language or step.rules.default_locale
    locale, chain = writing_locale(language, item.kind, step.rules)
    if locale != language:
        # Recorded, so `heard explain` shows the customer was not written to in their language.
        step.log("record", f"no {item.kind} templates in {language!r}; written in {locale!r} "
                 f"(tried {' -> '.join(chain)})", kind=item.kind)
    context = customer_context(state, item, step.rules, step.now, route.channel, customer)
    if item.kind == "checkpoint_holding":
        # The customer's holding update sets the next time (and counts); a contact's names it.
        hear_by = (promises.watch_next_update(step, item) if contact is None
                   else state.next_update_due or promises.next_update_time(step))
        context["next_update"] = {"due_at": hear_by.isoformat()} if hear_by else None
    elif contact is None and item.kind in ("milestone_update", "closure_summary", "options",
                                           "option_confirmed"):
        promises.end_next_update_watch(step, f"a {item.kind.replace('_', ' ')} reached them")
        if item.kind == "options":
            # The agent's choices are a real reply: no "we have not replied yet" after them.
            promises.end_first_reply_watch(step, "first reply given: the options reached them")
    notification = Notification(
        notification_id=nid, ticket_id=state.ticket_id, kind=item.kind, audience="customer",
        channel=route.channel, recipient=route.recipient,
        fallback=[channel for channel, _ in route.fallback],
        fallback_recipients={channel: address for channel, address in route.fallback},
        locale=locale, timezone=zone.key,
        plain_text_only=customer.accessibility.plain_text_only, urgent=item.urgent,
        trigger_event_id=item.trigger_event_id, decided_at=step.now,
        context=context, contact=contact.key if contact else None,
    )
    record_sent(step, notification)


def record_sent(step: Step, notification: Notification) -> None:
    state = step.state
    state.sent.append(SentRecord(
        kind=notification.kind, notification_id=notification.notification_id,
        channel=notification.channel, audience=notification.audience, at=step.now,
        contact=notification.contact,
    ))
    if notification.audience == "customer" and notification.contact is None:
        if state.last_customer_notified_at is None and state.created_at is not None:
            step.out.first_acknowledgment = FirstAcknowledgment(
                ticket_id=state.ticket_id, team=state.agent.team if state.agent else None,
                seconds=max(0.0, (step.now - state.created_at).total_seconds()), at=step.now)
        state.last_customer_notified_at = step.now
    step.out.notifications.append(notification)
    step.log("send", f"{notification.kind} to the {notification.audience} by "
             f"{notification.channel}", kind=notification.kind, channel=notification.channel,
             nid=notification.notification_id)


def customer_context(state: TicketState, item: Scheduled, rules: Rules, now: datetime,
                     channel: str, person: Customer | None = None) -> dict[str, Any]:
    customer = person or state.customer
    assert customer is not None
    milestone = state.next_milestone
    promise = pending_promise(state) if item.kind == "acknowledgment" else None
    follow_up = answered_before(state)
    if milestone is None and promise is not None and state.next_update_due is None:
        # What the customer waits for next is what the agent promised.
        milestone_ctx: dict[str, Any] | None = {
            "text": promise.customer_text, "first_reply": promise.customer_text is None,
            "due_at": promise.due_at.isoformat(), "follow_up": follow_up}
    elif milestone is None and item.kind == "acknowledgment":
        target = (state.next_update_due or state.first_reply_due
                  or first_reply_target(state, rules, item.trigger_at))
        # No text: each locale's template words the (first) reply itself.
        milestone_ctx = {"text": None, "first_reply": True, "follow_up": follow_up,
                         "due_at": max(target, now).isoformat()}
    elif milestone is not None:
        # A time already gone (the message waited out quiet hours) is not promised again.
        due = milestone.due_at if milestone.due_at and milestone.due_at > now else None
        milestone_ctx = {"text": milestone.text, "follow_up": follow_up,
                         "due_at": due.isoformat() if due else None}
    else:
        milestone_ctx = None
    news = item.context.get("news") or {}
    context: dict[str, Any] = {
        "customer": {
            "name": customer.name,
            "greeting_name": customer.greeting_name,
            "pronouns": customer.pronouns,
            # "customer" for the one who opened it; a contact's role ("requester",
            # "stakeholder") lets a template word it for someone who did not write.
            "role": getattr(customer, "role", "customer"),
        },
        "ticket": {"id": state.ticket_id, "subject": state.subject or "", "status": state.status},
        "agent": {"name": state.agent.name} if state.agent else None,
        "owner": {"name": state.owner.name, "new": bool(news.get("owner_new"))
                  and (item.kind, channel) in OWNER_NEWS} if state.owner else None,
        "concern": state.concern,
        "transfers": {"count": state.transfers, "acknowledge": bool(news.get("transfers"))},
        "next_milestone": milestone_ctx,
        "quick_update": {"channel": channel},
        "sent_at": now.isoformat(),
        "moved": None,
        "promised": None,
        "next_update": None,
    }
    if item.kind == "closure_summary" and state.summary is not None:
        context["summary"] = state.summary.model_dump()
        # One question, answered in one tap: a number from 1 to 5.
        context["feedback"] = {"scale": 5, "links": None} if rules.feedback.ask else None
    context.update(promises.with_every_promise_flag(
        {key: value for key, value in item.context.items() if key != "news"}))
    return context


def answered_before(state: TicketState) -> bool:
    """A public reply or a resolution has reached the customer: what they wait for now is "a
    reply", no longer "a first reply"."""
    return state.last_public_agent_update_at is not None or state.resolved_at is not None


def _replied_since(state: TicketState, moment: datetime) -> bool:
    last = state.last_public_agent_update_at
    return last is not None and last >= moment
