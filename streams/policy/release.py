"""Releasing scheduled messages: each is re-checked when its time comes (is it still
wanted?), routed to the customer and the ticket's other contacts, and written."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from heard.streams.contract.records import (
    Contact,
    Customer,
)
from heard.streams.contract.state import (
    Notification,
    Scheduled,
    TicketState,
    notification_id,
)
from heard.streams.policy import choices, contexts, promises, watches
from heard.streams.policy.first_reply import (
    first_reply_item,
    first_reply_moved,
    first_reply_target,
    promise_a_reachable_first_reply,
    promise_a_reply_to_a_follow_up,
)
from heard.streams.policy.history import answered_before, pending_promise, replied_since
from heard.streams.policy.routing import (
    NoRoute,
    Route,
    customer_route,
    customer_zone,
    quiet_until,
)
from heard.streams.policy.step import Rules, Step, record_sent, writing_locale


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
        if (
            first_reply_item(item)
            and state.first_reply_due is not None
            and promised.get("due_at") != state.first_reply_due.isoformat()
        ):
            # The acknowledgment just released promised a later first reply: wait for that.
            state.scheduled.append(first_reply_moved(item, state.first_reply_due, step.rules, step.now))
            continue
        waiting = [i.due_at for i in state.scheduled if i.kind == "acknowledgment"]
        if first_reply_item(item) and waiting:
            # The acknowledgment that names the first reply has not gone yet (quiet hours):
            # nobody is nudged or told about a promise the customer has not been given.
            state.scheduled.append(item.model_copy(update={"due_at": max(min(waiting), item.due_at)}))
            continue
        watch = watches.watch_of(item)
        if item.audience == "customer":
            _release_customer(step, item)
        elif item.kind in choices.TEAM_KINDS:
            choices.release_team(step, item)
        elif watch is not None:
            watches.release_watch(step, item, watch)
        else:
            promises.release_internal(step, item)


# The messages that say, in one line, who has the request now after a change of owner.
# (A holding update by SMS has no room left for it.)
NEWS_KINDS = ("milestone_update", "checkpoint_holding")
OWNER_NEWS = {("milestone_update", "email"), ("milestone_update", "sms"), ("checkpoint_holding", "email")}
# What each contact hears: a stakeholder every update; a requester all a customer does.
STAKEHOLDER_KINDS = ("milestone_update", "checkpoint_holding", "closure_summary")
# A reply to one person's own words goes to that person alone.
PERSONAL_KINDS = ("feedback_reply", "options_unclear", "preferences_link")
# What "pause updates for this ticket" stops: news of progress. What answers the reader's own
# words, asks them to choose, or closes the request still reaches them.
PAUSABLE_KINDS = ("milestone_update", "checkpoint_holding")


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
        if item.kind in PERSONAL_KINDS:
            break
        if contact.role == "requester" or item.kind in STAKEHOLDER_KINDS:
            _release_to_contact(step, item.model_copy(update={"contact": contact.key}), contact)


def with_news(step: Step, item: Scheduled) -> Scheduled:
    """The item, carrying the news it is the first to tell (after a change of owner, "Aisha
    has your request now"; after repeated transfers, that they happened): decided once,
    so the customer and every contact hear the same, and no later update repeats it."""
    state = step.state
    if item.kind not in NEWS_KINDS or "news" in item.context:
        return item
    transfers = (
        item.kind == "milestone_update"
        and state.owner is not None
        and state.transfers >= step.rules.policy.transfers_before_acknowledging
        and not state.transfers_acknowledged
    )
    # The handovers' sentence names the owner already. A message that has no room for the
    # owner's line (a holding update by SMS) leaves the news for the next one.
    route = customer_route(state.customer, step.rules.enabled_channels) if state.customer else None
    channel = route.channel if isinstance(route, Route) else None
    owner_new = state.owner_news and not transfers and (item.kind, channel) in OWNER_NEWS
    if transfers:
        state.transfers_acknowledged = True
    if transfers or owner_new:
        state.owner_news = False
    return item.model_copy(
        update={"context": {**item.context, "news": {"transfers": transfers, "owner_new": owner_new}}}
    )


def _release_to_contact(step: Step, item: Scheduled, contact: Contact) -> None:
    quiet_end = None if item.urgent else quiet_until(step.now, contact, step.rules.policy)
    if quiet_end is not None:
        step.state.scheduled.append(item.model_copy(update={"due_at": quiet_end}))
        step.log(
            "defer",
            f"a contact's quiet hours ({contact.role}); deferred to {quiet_end.isoformat()}",
            kind=item.kind,
        )
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
        step.log(
            "defer",
            f"the customer heard from us {(step.now - last).seconds} s ago; the "
            f"promise's news goes at {(last + window).isoformat()}",
            kind=item.kind,
        )
        return False
    if (
        item.kind == "acknowledgment"
        and reopened_by_customer(state, item)
        and (last is None or item.trigger_at > last)
    ):
        # "Resolved", then "I still see both charges!": the closure that just went is what
        # they are answering, so the acknowledgment that the request is open again goes
        # (once: a second reopening of the same message is coalesced as ever).
        item = item.model_copy(update={"context": {**item.context, "reopened": True}})
    elif item.kind == "acknowledgment" and not item.urgent and last is not None and step.now - last < window:
        step.log(
            "skip", f"coalesced: the customer heard from us {(step.now - last).seconds} s ago", kind=item.kind
        )
        return False
    quiet_end = None if item.urgent else quiet_until(step.now, state.customer, step.rules.policy)
    if quiet_end is not None:
        state.scheduled.append(item.model_copy(update={"due_at": quiet_end}))
        step.log("defer", f"customer's quiet hours; deferred to {quiet_end.isoformat()}", kind=item.kind)
        # Their quiet hours are theirs: the other contacts hear now, by their own.
        return True
    if item.kind == "acknowledgment":
        promise_a_reachable_first_reply(step)
        promise_a_reply_to_a_follow_up(step, item)
    emit_customer(step, item)
    return True


def reopened_by_customer(state: TicketState, item: Scheduled) -> bool:
    """The customer wrote after the ticket was resolved, and it is open again."""
    return (
        state.resolved_at is not None
        and item.trigger_at >= state.resolved_at
        and state.reopened_at is not None
        and state.reopened_at >= state.resolved_at
        and state.status not in ("resolved", "closed")
    )


def _still_wanted(step: Step, item: Scheduled) -> str | None:
    state = step.state
    if state.customer is None:
        return "no customer details known for this ticket"
    if item.kind == "acknowledgment":
        if replied_since(state, item.trigger_at):
            return "a real agent reply landed first"
        if state.status in ("resolved", "closed"):
            return "ticket already resolved"
    if item.kind in ("milestone_update", "checkpoint_holding") and state.status in ("resolved", "closed"):
        # Held updates released with the closure would arrive beside it, out of date.
        return f"the ticket is {state.status}: the closure summary tells where things ended"
    if item.kind == "milestone_update" and item.context.get("promised"):
        return promises.announcement_stale(state, item, step.now)
    moved = item.context.get("moved") if item.kind == "milestone_update" else None
    if moved:
        return promises.move_stale(state, moved, step.now)
    if item.kind == "closure_summary":
        return _closure_stale(state, item)
    if item.kind == "checkpoint_holding":
        watch = watches.watch_of(item)
        if watch is not None:
            return _watched_holding_stale(step, item, watch)
        return promises.holding_still_wanted(step, item)
    return None


def _closure_stale(state: TicketState, item: Scheduled) -> str | None:
    if state.reopened_at is not None and state.reopened_at > item.trigger_at:
        return "ticket reopened during the closure grace period"
    if any(
        s.kind == "closure_summary" and s.at >= item.trigger_at and s.contact == item.contact
        for s in state.sent
    ):
        return "closure summary already sent"
    return None


def _watched_holding_stale(step: Step, item: Scheduled, watch: str) -> str | None:
    """Why a holding update for a watch heard keeps itself (the first reply, the next
    update) is no longer wanted, or None when it still is."""
    state = step.state
    if state.status in ("resolved", "closed"):
        return "ticket already resolved"
    if watches.watch_due(state, watch) is None:
        return (
            "the first reply was given" if watch == "first_reply" else "the customer has heard from us since"
        )
    # A contact held by their quiet hours still gets their own update.
    heard = watches.recently_heard(step) if item.contact is None else None
    if heard is None:
        return None
    # An acknowledgment (deferred by quiet hours, or for a message they just sent) went out
    # moments ago: a holding update beside it would only confuse; the lead is still told.
    # A promised next update is kept from that message on.
    if watch == "next_update":
        later = watches.watch_next_update(step, item, counts=False)
        named = later.isoformat() if later else "no set time"
        return f"the customer heard from us {heard.seconds} s ago; the next update is now due by {named}"
    return f"the customer heard from us {heard.seconds} s ago"


def emit_customer(step: Step, item: Scheduled, contact: Contact | None = None) -> None:
    """Write to the ticket's customer, or to one of its other contacts."""
    state = step.state
    customer: Customer | None = contact or state.customer
    assert customer is not None
    who = "customer" if contact is None else f"contact:{contact.key}"
    route = _route_to(step, item, customer, contact, who)
    if route is None:
        return
    # One id per person: the customer's stays what it always was.
    nid = notification_id(
        state.ticket_id,
        item.kind,
        item.trigger_event_id,
        route.channel,
        who,
    )
    if any(s.notification_id == nid for s in state.sent):
        step.log(
            "skip", "this notification was already decided", kind=item.kind, channel=route.channel, nid=nid
        )
        return
    zone = customer_zone(customer, step.rules.policy)
    language = customer.language or step.rules.default_locale
    locale, chain = writing_locale(language, item.kind, step.rules)
    if locale != language:
        # Recorded, so `heard explain` shows the customer was not written to in their language.
        step.log(
            "record",
            f"no {item.kind} templates in {language!r}; written in {locale!r} (tried {' -> '.join(chain)})",
            kind=item.kind,
        )
    context = customer_context(state, item, step.rules, step.now, route.channel, customer)
    _move_the_watches(step, item, contact, context)
    notification = Notification(
        notification_id=nid,
        ticket_id=state.ticket_id,
        kind=item.kind,
        audience="customer",
        channel=route.channel,
        recipient=route.recipient,
        fallback=[channel for channel, _ in route.fallback],
        fallback_recipients={channel: address for channel, address in route.fallback},
        locale=locale,
        timezone=zone.key,
        plain_text_only=customer.accessibility.plain_text_only,
        urgent=item.urgent,
        trigger_event_id=item.trigger_event_id,
        decided_at=step.now,
        context=context,
        contact=contact.key if contact else None,
        owner_email=state.owner.email if state.owner else None,
    )
    record_sent(step, notification)


def _route_to(
    step: Step, item: Scheduled, customer: Customer, contact: Contact | None, who: str
) -> Route | None:
    """The channel and address this message goes by, or None (logged) when it goes nowhere."""
    if item.kind in PAUSABLE_KINDS and who in step.state.updates_paused_for:
        step.log(
            "suppress",
            f"{'they' if contact is None else f'a contact ({contact.role})'} paused updates about this "
            "ticket on their preference page",
            kind=item.kind,
        )
        return None
    if item.kind == "preferences_link" and item.context.get("asked_by") == "sms":
        # Asked by text: answered by text (when texts are allowed them at all).
        customer = customer.model_copy(update={"preferred_channel": "sms"})
    route = customer_route(customer, step.rules.enabled_channels)
    if isinstance(route, NoRoute):
        step.log(
            "suppress",
            route.reason if contact is None else f"a contact ({contact.role}): {route.reason}",
            kind=item.kind,
        )
        return None
    return route


def _move_the_watches(step: Step, item: Scheduled, contact: Contact | None, context: dict[str, Any]) -> None:
    """What this message does to heard's own promises: a holding update names the next time
    the customer hears from us (and keeps it); something real ends that watch."""
    state = step.state
    if item.kind == "checkpoint_holding":
        # The customer's holding update sets the next time (and counts); a contact's names it.
        hear_by = (
            watches.watch_next_update(step, item)
            if contact is None
            else state.next_update_due or watches.next_update_time(step)
        )
        context["next_update"] = {"due_at": hear_by.isoformat()} if hear_by else None
    elif contact is None and item.kind in (
        "milestone_update",
        "closure_summary",
        "options",
        "option_confirmed",
    ):
        watches.end_next_update_watch(step, f"a {item.kind.replace('_', ' ')} reached them")
        if item.kind == "options":
            # The agent's choices are a real reply: no "we have not replied yet" after them.
            watches.end_first_reply_watch(step, "first reply given: the options reached them")


def next_milestone_context(
    state: TicketState, item: Scheduled, rules: Rules, now: datetime
) -> dict[str, Any] | None:
    """What the customer waits for next: the next milestone, else (in an acknowledgment)
    what the agent promised or the first reply heard promises."""
    milestone = state.next_milestone
    promise = pending_promise(state) if item.kind == "acknowledgment" else None
    follow_up = answered_before(state)
    if milestone is None and promise is not None and state.next_update_due is None and promise.due_at > now:
        # What the customer waits for next is what the agent promised (while it is still ahead:
        # a time gone by is the holding update's to speak of).
        milestone_ctx: dict[str, Any] | None = {
            "text": promise.customer_text,
            "first_reply": promise.customer_text is None,
            "due_at": promise.due_at.isoformat(),
            "follow_up": follow_up,
        }
    elif milestone is None and item.kind == "acknowledgment":
        target = (
            state.next_update_due
            or state.first_reply_due
            or first_reply_target(state, rules, item.trigger_at)
        )
        # No text: each locale's template words the (first) reply itself.
        milestone_ctx = {
            "text": None,
            "first_reply": True,
            "follow_up": follow_up,
            "due_at": max(target, now).isoformat(),
        }
    elif milestone is not None:
        # A time already gone (the message waited out quiet hours) is not promised again.
        due = milestone.due_at if milestone.due_at and milestone.due_at > now else None
        milestone_ctx = {
            "text": milestone.text,
            "follow_up": follow_up,
            "due_at": due.isoformat() if due else None,
        }
    else:
        milestone_ctx = None
    return milestone_ctx


def customer_context(
    state: TicketState,
    item: Scheduled,
    rules: Rules,
    now: datetime,
    channel: str,
    person: Customer | None = None,
) -> dict[str, Any]:
    customer = person or state.customer
    assert customer is not None
    milestone_ctx = next_milestone_context(state, item, rules, now)
    news = item.context.get("news") or {}
    context: dict[str, Any] = {
        "customer": {
            "name": customer.name,
            "greeting_name": customer.greeting_name,
            "formal_name": customer.formal_name,
            "pronouns": customer.pronouns,
            # "customer" for the one who opened it; a contact's role ("requester",
            # "stakeholder") lets a template word it for someone who did not write.
            "role": getattr(customer, "role", "customer"),
        },
        "ticket": {
            "id": state.ticket_id,
            "subject": state.subject or "",
            "status": state.status,
            "references": list(state.customer_message_ids),
        },
        "agent": {"name": state.agent.name} if state.agent else None,
        "owner": {
            "name": state.owner.name,
            "new": bool(news.get("owner_new")) and (item.kind, channel) in OWNER_NEWS,
        }
        if state.owner
        else None,
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
    context.update(
        contexts.with_every_promise_flag({key: value for key, value in item.context.items() if key != "news"})
    )
    return without_times_gone(context, now)


def without_times_gone(context: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A message held past a time it names (quiet hours, a backlog) never promises that time:
    the next milestone keeps its words and loses its time."""
    upcoming = context.get("next_milestone")
    if not isinstance(upcoming, dict):
        return context
    due = upcoming.get("due_at")
    if due is not None and datetime.fromisoformat(due) < now:
        context["next_milestone"] = {**upcoming, "due_at": None}
    return context
