"""The policy: given a ticket's state, an event and the time, what heard says and when.

`decide(state, event, now, rules)` is a pure function returning the new state,
the notifications to send now and the decision log lines. Messages that must
wait (acknowledgment hold, closure grace, quiet hours, promise ladder) become
`Scheduled` items in the state; the sweeper turns their due times into
`heard.timer_due` events, and `decide` releases them after re-checking that
they still make sense.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import assert_never

from heard.streams.contract.records import (
    AgentReply,
    AnswerUnclear,
    Assigned,
    CheckpointPromised,
    Closed,
    Contact,
    ContactsUpdated,
    Customer,
    CustomerMessage,
    Event,
    FeedbackGiven,
    ForgetRequested,
    OptionChosen,
    OptionsOffered,
    PreferencesRequested,
    PreferencesUpdated,
    Reopened,
    Resolved,
    StatusChanged,
    TicketCreated,
    TimerDue,
)
from heard.streams.contract.state import (
    Scheduled,
    TicketState,
    TransferRecord,
)
from heard.streams.policy import choices, promises, watches
from heard.streams.policy.agent_words import note_foreign_words
from heard.streams.policy.first_reply import watch_first_reply, watch_named_milestone
from heard.streams.policy.history import CLOSED_STATUSES, replied_since
from heard.streams.policy.release import release_due
from heard.streams.policy.step import Outcome, Rules, Step, queue_now, take_ownership


def decide(
    state: TicketState | None, event: Event, now: datetime, rules: Rules, *, in_place: bool = False
) -> Outcome:
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
        if current.has_seen(event.id):
            step.log("skip", "duplicate event id: already applied")
            step.out.state = state or current
            step.out.changed = False
            return step.out
        current.remember_event(event.id)
        current.version += 1
    for warning in getattr(event, "warnings", None) or ():
        step.log("record", f"{event.source or 'the producer'} left out: {warning}")
    if event.type != "heard.timer_due":
        # What fell due before this event happened goes first, on the state as it was then:
        # in a backlog, an acknowledgment due a minute before the agent's reply was owed.
        release_due(step, event.occurred_at, before=True)
    dispatch(step, event)
    release_due(step, step.release_at)
    return step.out


# ------------------------------------------------------------------ handlers
def on_created(step: Step, event: TicketCreated) -> None:
    state = step.state
    state.known = True
    state.customer = event.customer
    state.subject = event.subject
    state.urgent = event.urgent
    state.created_at = event.occurred_at
    state.agent = event.agent or state.agent
    state.owner = state.owner or event.agent
    state.concern = event.concern or state.concern
    remember_thread(state, event.message_id, first=True)
    if event.contacts is not None:
        state.contacts = with_ids(state.contacts, other_people(event.customer, event.contacts), event.id)
    state.next_milestone = event.next_milestone
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "open", event.occurred_at
    if replied_since(state, event.occurred_at):
        step.log("skip", "a real agent reply landed first; no acknowledgment needed", kind="acknowledgment")
        return
    hold_acknowledgment(step, event, "acknowledge")
    if event.next_milestone is None:
        watch_first_reply(step, event)
    else:
        watch_named_milestone(step, event.next_milestone, event.agent)


def hold_acknowledgment(step: Step, event: TicketCreated | CustomerMessage, what: str) -> None:
    """The acknowledgment, held a moment (unless urgent) so an agent's own reply can make it
    unneeded."""
    hold = 0.0 if event.urgent else step.rules.policy.acknowledgment_hold_seconds
    step.schedule(
        Scheduled(
            kind="acknowledgment",
            due_at=event.occurred_at + timedelta(seconds=hold),
            trigger_event_id=event.id,
            trigger_at=event.occurred_at,
            urgent=event.urgent,
        ),
        f"{what} after {hold:.0f} s unless an agent replies first",
    )


def remember_thread(state: TicketState, message_id: str | None, first: bool = False) -> None:
    """Keep the customer's first email and their latest one: what heard's emails reference
    (a reply threads under the latest; the first is the conversation's root)."""
    if message_id is None or message_id in state.customer_message_ids:
        return
    ids = state.customer_message_ids
    state.customer_message_ids = [message_id, *ids[-1:]] if first or not ids else [ids[0], message_id]


def on_customer_message(step: Step, event: CustomerMessage) -> None:
    state = step.state
    remember_thread(state, event.message_id)
    if state.last_customer_message_at is None or event.occurred_at > state.last_customer_message_at:
        state.last_customer_message_at = event.occurred_at
    if not state.known:
        step.log("record", "customer message for a ticket not yet created; kept for ordering")
        return
    if state.status in CLOSED_STATUSES:
        step.log("skip", "ticket is closed; the help desk reopens it if needed", kind="acknowledgment")
        return
    if any(item.kind == "acknowledgment" for item in state.scheduled):
        step.log("skip", "an acknowledgment is already waiting to be sent", kind="acknowledgment")
        return
    if replied_since(state, event.occurred_at):
        step.log("skip", "an agent already replied after this message", kind="acknowledgment")
        return
    hold_acknowledgment(step, event, "acknowledge the customer's message")


def on_agent_reply(step: Step, event: AgentReply) -> None:
    state = step.state
    if not event.public:
        step.log("record", "internal note: nothing goes to the customer")
        return
    if state.last_public_agent_update_at is None or event.occurred_at > state.last_public_agent_update_at:
        state.last_public_agent_update_at = event.occurred_at
    state.agent = event.agent
    state.concern = event.concern or state.concern
    if not state.owner_explicit:
        # Their own reply told the customer who is on it: no second line about it.
        take_ownership(step, event.agent, "replied publicly", tell=False)
    if state.first_reply_due is not None:
        kept = event.occurred_at <= state.first_reply_due
        watches.end_first_reply_watch(step, "first reply given " + ("on time" if kept else "late"))
    watches.end_next_update_watch(step, "an agent replied publicly")
    step.cancel(
        ("acknowledgment",),
        "a real agent reply landed first",
        keep=lambda item: item.trigger_at > event.occurred_at,
    )
    promises.keep_promises(step, event.occurred_at)
    if event.next_milestone is not None:
        state.next_milestone = event.next_milestone
        watch_named_milestone(step, event.next_milestone, event.agent)
    elif event.milestone is not None:
        # The milestone reached may have been the one announced; never restate it as next.
        state.next_milestone = None
    note_foreign_words(
        step,
        "milestone",
        event.milestone.text if event.milestone else None,
        event.next_milestone.text if event.next_milestone else None,
    )
    if event.milestone is not None:
        queue_now(
            step,
            "milestone_update",
            urgent=event.urgent,
            extra={
                "milestone": {"text": event.milestone.text, "at": event.occurred_at.isoformat()},
            },
        )


def on_status_changed(step: Step, event: StatusChanged) -> None:
    state = step.state
    if state.status_at is not None and event.occurred_at < state.status_at:
        step.log("skip", f"status {event.to_status!r} is older than the current one; ignored")
        return
    state.status, state.status_at = event.to_status, event.occurred_at
    if event.next_milestone is not None:
        state.next_milestone = event.next_milestone
    if (
        event.to_status in step.rules.policy.milestone_statuses
        and state.known
        and not (event.note or "").strip()
    ):
        step.log(
            "record",
            f"status is now {event.to_status!r} with no note: nothing to tell "
            "the customer (the help desk's note is the update)",
        )
    elif event.to_status in step.rules.policy.milestone_statuses and state.known:
        # The update names the next milestone's time: heard keeps it.
        watch_named_milestone(step, event.next_milestone, None)
        queue_now(
            step,
            "milestone_update",
            extra={
                "milestone": {
                    "text": event.note or "",
                    "status": event.to_status,
                    "at": event.occurred_at.isoformat(),
                },
            },
        )
    else:
        step.log("record", f"status is now {event.to_status!r}; not one customers are told of")


def on_assigned(step: Step, event: Assigned) -> None:
    state = step.state
    before = state.agent.team if state.agent else None
    if before is not None and event.agent.team is not None and event.agent.team != before:
        state.transfers += 1
        step.out.transfers.append(
            TransferRecord(
                ticket_id=state.ticket_id,
                from_team=before,
                to_team=event.agent.team,
                count=state.transfers,
                at=event.occurred_at,
            )
        )
    state.agent = event.agent
    if event.owner or not state.owner_explicit:
        # The customer hears of the new owner once, in the next update.
        take_ownership(step, event.agent, "named owner" if event.owner else "assigned", tell=True)
        state.owner_explicit = state.owner_explicit or event.owner
    step.log(
        "record",
        f"ticket assigned; {state.transfers} change(s) of team so far"
        + ("; this agent owns it now" if state.owner == event.agent else ""),
    )


def on_promise(step: Step, event: CheckpointPromised) -> None:
    if not step.state.owner_explicit and step.state.known:
        # The promise's announcement names who made it: no second line about it.
        take_ownership(step, event.agent, "made a promise", tell=False)
    note_foreign_words(step, "promise", event.customer_text)
    promises.on_promised(step, event)


def on_resolved(step: Step, event: Resolved) -> None:
    state = step.state
    state.summary = event.summary
    summary = event.summary
    note_foreign_words(
        step, "closure summary", summary.what_happened, summary.what_changed, summary.prevention
    )
    state.resolved_at = event.occurred_at
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "resolved", event.occurred_at
    promises.cancel_promises(step, "ticket resolved")
    watches.end_first_reply_watch(step, "ticket resolved: the closure summary is the reply")
    step.cancel(("acknowledgment",), "ticket resolved before the acknowledgment went out")
    grace = step.rules.policy.closure_grace_seconds
    step.schedule(
        Scheduled(
            kind="closure_summary",
            due_at=event.occurred_at + timedelta(seconds=grace),
            trigger_event_id=event.id,
            trigger_at=event.occurred_at,
        ),
        f"closure summary held {grace:.0f} s in case the ticket reopens",
    )


def on_reopened(step: Step, event: Reopened) -> None:
    state = step.state
    state.reopened_at = event.occurred_at
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "reopened", event.occurred_at
        state.forget_at = None
    step.cancel(
        ("closure_summary",),
        "ticket reopened during the closure grace period",
        keep=lambda item: item.trigger_at > event.occurred_at,
    )
    _acknowledge_what_reopened_it(step)


def _acknowledge_what_reopened_it(step: Step) -> None:
    """A customer who answered the closure wrote to a resolved ticket (heard waited for the
    help desk to reopen it): now it is open again, their message is acknowledged."""
    state, event = step.state, step.event
    wrote = state.last_customer_message_at
    if (
        not state.known
        or wrote is None
        or state.resolved_at is None
        or wrote < state.resolved_at
        or wrote > event.occurred_at
        or state.status in CLOSED_STATUSES
        or replied_since(state, wrote)
        or any(item.kind == "acknowledgment" for item in state.scheduled)
    ):
        return
    step.schedule(
        Scheduled(
            kind="acknowledgment",
            due_at=event.occurred_at,
            trigger_event_id=event.id,
            trigger_at=wrote,
            urgent=False,
        ),
        "the customer wrote after the resolution: acknowledged now that the ticket is reopened",
    )


def on_closed(step: Step, event: Closed) -> None:
    state = step.state
    if state.status_at is None or event.occurred_at >= state.status_at:
        state.status, state.status_at = "closed", event.occurred_at
    state.forget_at = event.occurred_at + timedelta(days=step.rules.policy.closed_ticket_retention_days)
    step.log(
        "record", f"ticket closed: its data is erased at {state.forget_at.isoformat()} unless it is reopened"
    )
    watches.end_first_reply_watch(step, "ticket closed")
    watches.end_next_update_watch(step, "ticket closed")
    promises.cancel_promises(step, "ticket closed")
    for item in state.scheduled:
        if item.kind == "closure_summary" and item.due_at > step.release_at:
            item.due_at = step.release_at
            step.log("schedule", "ticket closed: closure summary released now", kind="closure_summary")


# The namespace of the ids heard gives contacts that came without one.
CONTACT_IDS = uuid.UUID("6f0c7b2e-51a4-4c43-9d0e-5b8a3e6d2c11")


def other_people(customer: Customer | None, contacts: list[Contact]) -> list[Contact]:
    """The contacts who are not the customer, each once: a help desk's CC list often holds
    the requester too, and nobody should get every message twice."""
    # Addresses compare case-blind: a CC list often writes the customer's in other capitals.
    seen = {value.casefold() for value in (customer.email, customer.phone) if value} if customer else set()
    kept: list[Contact] = []
    for contact in contacts:
        addresses = {value.casefold() for value in (contact.email, contact.phone) if value}
        if addresses & seen or contact.key in {c.key for c in kept}:
            continue
        seen |= addresses
        kept.append(contact)
    return kept


def with_ids(previous: list[Contact], contacts: list[Contact], event_id: str) -> list[Contact]:
    """Each contact with an id: their own, the one heard gave them before (found by their
    address), else a new opaque one. Links and notification ids name a contact by this id,
    so no address travels in a link; it derives from the event's id, not from the address,
    so it cannot be guessed back from one."""
    known = {
        value.casefold(): contact.id
        for contact in previous
        for value in (contact.email, contact.phone)
        if value and contact.id
    }
    named = []
    for number, contact in enumerate(contacts):
        if contact.id is None:
            earlier = next(
                (
                    known[value.casefold()]
                    for value in (contact.email, contact.phone)
                    if value and value.casefold() in known
                ),
                None,
            )
            derived = earlier or "c-" + uuid.uuid5(CONTACT_IDS, f"{event_id}/{number}").hex[:16]
            contact = contact.model_copy(update={"id": derived})
        named.append(contact)
    return named


def on_contacts(step: Step, event: ContactsUpdated) -> None:
    step.state.contacts = with_ids(
        step.state.contacts, other_people(step.state.customer, event.contacts), event.id
    )
    roles = ", ".join(f"{c.role}" for c in event.contacts) or "none"
    step.log("record", f"contacts updated: {len(event.contacts)} ({roles})")


def on_preferences(step: Step, event: PreferencesUpdated) -> None:
    if event.customer is not None:
        step.state.customer = event.customer
        step.log("record", "customer preferences updated")
        return
    changes = event.changes
    assert changes is not None  # the contract requires one of the two
    update: dict[str, object] = {
        name: getattr(changes, name) for name in ("preferred_channel", "language", "quiet_hours")
    }
    update = {name: value for name, value in update.items() if value is not None}
    if changes.no_quiet_hours:
        update["quiet_hours"] = None
    state = step.state
    person = (
        state.customer
        if changes.contact is None
        else next((c for c in state.contacts if c.key == changes.contact), None)
    )
    if changes.preferred_channel is not None and person is not None:
        # Choosing a channel on the signed page is the reader asking for it: consent to it.
        update["consent"] = person.consent.model_copy(update={changes.preferred_channel: True})
    if changes.contact is None:
        if state.customer is not None:
            state.customer = state.customer.model_copy(update=update)
    else:
        state.contacts = [
            c.model_copy(update=update) if c.key == changes.contact else c for c in state.contacts
        ]
    said = sorted(update)
    if changes.updates_paused is not None:
        _pause_updates(
            state,
            "customer" if changes.contact is None else f"contact:{changes.contact}",
            changes.updates_paused,
        )
        said.append("updates paused" if changes.updates_paused else "updates resumed")
    step.log("record", f"preferences changed by the reader: {', '.join(said) or 'nothing'}")


def on_preferences_requested(step: Step, event: PreferencesRequested) -> None:
    """They asked for the link to their preference page: it goes now, to them alone (they
    just wrote, so their quiet hours do not hold it), by text when they asked by text."""
    state = step.state
    if event.contact is not None and not any(c.key == event.contact for c in state.contacts):
        step.log("skip", "the contact who asked is no longer on the ticket", kind="preferences_link")
        return
    state.scheduled.append(
        Scheduled(
            kind="preferences_link",
            due_at=step.release_at,
            trigger_event_id=event.id,
            trigger_at=event.occurred_at,
            urgent=True,
            contact=event.contact,
            context={"asked_by": event.via},
        )
    )


def _pause_updates(state: TicketState, who: str, paused: bool) -> None:
    """Progress updates about this ticket stop for `who` (or start again)."""
    others = [name for name in state.updates_paused_for if name != who]
    state.updates_paused_for = [*others, who] if paused else others


def on_timer(step: Step, event: TimerDue) -> None:
    """Release is done by `release_due`, which runs after every event."""
    state = step.state
    if state.forget_at is not None and state.forget_at <= step.now:
        _forget(step, "the closed ticket's retention period has passed")


def on_forget(step: Step, event: ForgetRequested) -> None:
    if event.contact is None:
        _forget(step, "erasure requested (heard forget)")
        step.out.erased_on_request = True
        return
    state = step.state
    gone = [c for c in state.contacts if c.key == event.contact]
    state.contacts = [c for c in state.contacts if c.key != event.contact]
    state.updates_paused_for = [who for who in state.updates_paused_for if who != f"contact:{event.contact}"]
    state.scheduled = [item for item in state.scheduled if item.contact != event.contact]
    # What was sent to them stays counted, without saying who they were.
    state.sent = [
        record.model_copy(update={"contact": "erased"}) if record.contact == event.contact else record
        for record in state.sent
    ]
    step.out.forgotten_phones = [c.phone for c in gone if c.phone]
    step.log(
        "erase",
        "a contact erased from this ticket (heard forget); the ticket stays"
        if gone
        else "erasure of a contact not on this ticket: nothing to do",
    )


def _forget(step: Step, reason: str) -> None:
    step.state.scheduled = []
    step.out.forget = True
    step.out.forgotten_phones = step.state.phones()
    step.log("erase", f"ticket data erased: {reason}")


def dispatch(step: Step, event: Event) -> None:  # noqa: C901 - one flat case per event type
    """The event's handler. An event model added to `Event` without a case here is a mypy
    error (assert_never), not a record that fails at run time."""
    match event:
        case TicketCreated():
            on_created(step, event)
        case CustomerMessage():
            on_customer_message(step, event)
        case AgentReply():
            on_agent_reply(step, event)
        case StatusChanged():
            on_status_changed(step, event)
        case Assigned():
            on_assigned(step, event)
        case CheckpointPromised():
            on_promise(step, event)
        case Resolved():
            on_resolved(step, event)
        case Reopened():
            on_reopened(step, event)
        case Closed():
            on_closed(step, event)
        case PreferencesUpdated():
            on_preferences(step, event)
        case PreferencesRequested():
            on_preferences_requested(step, event)
        case ContactsUpdated():
            on_contacts(step, event)
        case OptionsOffered():
            choices.on_options_offered(step, event)
        case OptionChosen():
            choices.on_option_chosen(step, event)
        case AnswerUnclear():
            choices.on_answer_unclear(step, event)
        case FeedbackGiven():
            choices.on_feedback(step, event)
        case TimerDue():
            on_timer(step, event)
        case ForgetRequested():
            on_forget(step, event)
        case _:
            assert_never(event)
