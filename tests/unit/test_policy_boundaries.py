"""The policy at its boundaries: the same second, the exact end of a window, events that
arrive in the wrong order, state restored twice, and what `heard explain` is told. Each test
holds a rule a mutation run showed no other test held."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from heard.streams.base.settings import PolicySettings
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Scheduled, TicketState
from heard.streams.contract.stories import T0, minutes
from heard.streams.policy.decide import decide
from heard.streams.policy.step import Outcome, Rules
from tests.unit.test_contacts import OPS, VP
from tests.unit.test_policy import RULES, run, tick

# T0 is a Friday, 10:00 UTC; the team works 09:00-18:00 UTC, so the first reply (4 working
# hours) is due at 14:00, its nudge at 13:30, and a holding update names 16:00.
FIRST_REPLY_DUE = T0 + timedelta(hours=4)
SMS_CUSTOMER = stories.customer(
    phone="+442071838750", preferred_channel="sms", consent={"email": True, "sms": True}
)


def reasons(outcome: Outcome) -> list[str]:
    return [d.reason for d in outcome.decisions]


def sent(outcome: Outcome) -> list[tuple[str, str, str | None]]:
    return [(n.kind, n.audience, n.contact) for n in outcome.notifications]


def apply(state: TicketState | None, raw: dict[str, Any], at: Any = None, rules: Rules = RULES) -> Outcome:
    event = parse_event(stories.dumps(raw), internal=raw["type"].startswith("heard."))
    return decide(state, event, at or event.occurred_at, rules)


def after_first_holding_update(rules: Rules = RULES) -> TicketState:
    """Acknowledged, no reply by the first-reply target: the holding update has gone."""
    state, _ = run([stories.created("T1")], rules=rules)
    assert state is not None
    state = tick(state, T0 + minutes(1), rules).state
    out = tick(state, FIRST_REPLY_DUE, rules)
    assert ("checkpoint_holding", "customer", None) in sent(out)
    return out.state


# ------------------------------------------------------------------ what explain is told
def test_explain_records_contacts_preferences_and_what_a_connector_left_out() -> None:
    _, outcomes = run(
        [
            stories.created("T1", source="zendesk", warnings=["phone '(555) 01' is not a number"]),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(1), contacts=[VP, OPS]),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(2), contacts=[]),
            stories.event(
                "customer.preferences_updated",
                "T1",
                T0 + minutes(3),
                customer=stories.customer(language="fr"),
            ),
        ]
    )
    assert "zendesk left out: phone '(555) 01' is not a number" in reasons(outcomes[0])
    assert "contacts updated: 2 (stakeholder, requester)" in reasons(outcomes[1])
    assert "contacts updated: 0 (none)" in reasons(outcomes[2])
    assert "customer preferences updated" in reasons(outcomes[3])


def test_a_reply_exactly_at_the_first_reply_target_is_on_time() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None
    acknowledged = tick(state, T0 + minutes(1)).state
    assert acknowledged.first_reply_due == FIRST_REPLY_DUE
    assert "first reply given on time" in reasons(apply(acknowledged, stories.reply("T1", FIRST_REPLY_DUE)))


def test_an_event_outcome_is_a_change_and_its_duplicate_is_not() -> None:
    state, [created] = run([stories.created("T1")])
    assert created.changed is True
    again = apply(state, stories.created("T1"))
    assert again.changed is False and again.notifications == []


def test_the_rules_cannot_be_changed_under_a_running_worker() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES.default_locale = "fr"  # type: ignore[misc]


# ------------------------------------------------------------------ timers
def test_timers_never_push_real_events_out_of_the_duplicate_window() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None
    version, seen = state.version, list(state.seen_event_ids)
    for n in range(600):
        state = tick(state, T0 + timedelta(seconds=n)).state
    assert (state.version, state.seen_event_ids) == (version, seen)
    assert apply(state, stories.created("T1")).changed is False


def test_a_timer_that_fires_late_releases_everything_due_by_now() -> None:
    state, _ = run([stories.created("T1")])
    late = parse_event(
        stories.dumps(
            stories.event(
                "heard.timer_due",
                "T1",
                T0 + timedelta(seconds=30),
                eid="late-timer",
                due_at=stories.iso(T0 + timedelta(seconds=30)),
            )
        ),
        internal=True,
    )
    out = decide(state, late, T0 + minutes(5), RULES)
    assert sent(out) == [("acknowledgment", "customer", None)]


# ------------------------------------------------------------------ the same second
def test_a_reply_at_the_second_the_hold_ends_replaces_the_acknowledgment() -> None:
    state, outcomes = run([stories.created("T1"), stories.reply("T1", T0 + timedelta(seconds=60))])
    assert state is not None and outcomes[-1].notifications == []
    assert tick(state, T0 + minutes(5)).notifications == []


def test_a_reply_stamped_the_same_second_as_the_message_answers_it() -> None:
    state, _ = run([stories.created("T1"), stories.reply("T1", T0 + minutes(5))])
    assert state is not None
    message = apply(state, stories.event("ticket.customer_message", "T1", T0 + minutes(5), eid="same-second"))
    assert "an agent already replied after this message" in reasons(message)
    assert tick(message.state, T0 + minutes(20)).notifications == []


def test_a_reopen_the_same_second_as_the_resolve_cancels_its_closure() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.resolved("T1", T0 + minutes(10)),
            stories.event("ticket.reopened", "T1", T0 + minutes(10)),
        ]
    )
    assert state is not None
    assert tick(state, T0 + minutes(10) + timedelta(hours=1)).notifications == []


def test_a_resolve_the_same_second_as_a_reopen_still_sends_its_closure() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.resolved("T1", T0 + minutes(10)),
            stories.event("ticket.reopened", "T1", T0 + minutes(12)),
            stories.resolved("T1", T0 + minutes(12), eid="resolved-again"),
        ]
    )
    assert state is not None
    closing = tick(state, T0 + minutes(12) + timedelta(seconds=900))
    assert sent(closing) == [("closure_summary", "customer", None)]


def test_closing_exactly_when_the_grace_ends_is_not_an_early_release() -> None:
    state, _ = run([stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(10))])
    closed = apply(state, stories.event("ticket.closed", "T1", T0 + minutes(25)))
    assert sent(closed) == [("closure_summary", "customer", None)]
    assert "ticket closed: closure summary released now" not in reasons(closed)


# ------------------------------------------------------------------ out of order
def test_a_resolve_that_arrives_before_its_ticket_keeps_it_resolved_and_unacknowledged() -> None:
    state, _ = run([stories.resolved("T1", T0 + minutes(10)), stories.created("T1")], now=T0 + minutes(11))
    assert state is not None and state.status == "resolved"
    later = tick(state, T0 + minutes(12))
    assert "acknowledgment" not in [kind for kind, _, _ in sent(later)]
    assert "ticket already resolved" in reasons(later)


def test_a_milestone_before_the_ticket_is_known_is_dropped_with_its_reason() -> None:
    out = apply(None, stories.reply("T1", T0, milestone={"text": "Found it."}))
    assert out.notifications == []
    assert "no customer details known for this ticket" in reasons(out)


# ------------------------------------------------------------------ urgency, quiet hours
def test_an_urgent_message_is_acknowledged_in_the_same_step_and_timed_at_zero() -> None:
    created = apply(None, stories.created("T1", urgent=True))
    assert sent(created) == [("acknowledgment", "customer", None)]
    assert created.first_acknowledgment is not None
    assert created.first_acknowledgment.seconds == 0.0
    state = apply(created.state, stories.reply("T1", T0 + minutes(2))).state
    message = apply(state, stories.event("ticket.customer_message", "T1", T0 + minutes(40), urgent=True))
    assert sent(message) == [("acknowledgment", "customer", None)]


def test_a_status_milestone_waits_for_the_end_of_quiet_hours() -> None:
    night = stories.customer(quiet_hours={"start": "09:00", "end": "12:00"}, timezone="Europe/London")
    state, outcomes = run(
        [
            stories.created("T1", customer=night),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(5),
                to_status="in_progress",
                note="Checking the depot",
            ),
        ]
    )
    assert outcomes[-1].notifications == []
    assert state is not None
    assert [kind for kind, _, _ in sent(tick(state, T0 + timedelta(hours=2)))] == [
        "acknowledgment",
        "milestone_update",
    ]


# ------------------------------------------------------------------ coalescing
def test_a_coalesced_acknowledgment_goes_to_no_requester_either() -> None:
    state, _ = run(
        [
            stories.created("T1", contacts=[OPS]),
            stories.reply("T1", T0 + minutes(2), milestone={"text": "Found it."}),
            stories.event("ticket.customer_message", "T1", T0 + minutes(5)),
        ]
    )
    assert state is not None
    later = tick(state, T0 + minutes(6))
    assert later.notifications == []
    assert any(reason.startswith("coalesced") for reason in reasons(later))


def test_an_acknowledgment_exactly_a_window_after_the_last_message_goes() -> None:
    rules = Rules(
        policy=PolicySettings(
            acknowledgment_hold_seconds=0, coalesce_window_seconds=600, team_timezone="UTC"
        ),
        internal_recipients=RULES.internal_recipients,
    )
    state, _ = run(
        [
            stories.created("T1"),
            stories.reply("T1", T0 + minutes(2), milestone={"text": "Found it."}),
            stories.event("ticket.customer_message", "T1", T0 + minutes(12)),
        ],
        rules=rules,
    )
    assert state is not None and state.last_customer_notified_at == T0 + minutes(12)


# ------------------------------------------------------------------ restored state
def test_a_notification_already_decided_is_never_decided_twice() -> None:
    state, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
        ]
    )
    assert state is not None
    [milestone] = outcomes[-1].notifications
    # A state restored with the milestone scheduled again, though its send was recorded.
    state.scheduled.append(
        Scheduled(
            kind="milestone_update",
            due_at=T0 + minutes(5),
            trigger_event_id=milestone.trigger_event_id,
            trigger_at=T0 + minutes(5),
        )
    )
    out = tick(state, T0 + minutes(6))
    assert out.notifications == []
    assert "this notification was already decided" in reasons(out)


# ------------------------------------------------------------------ contacts and erasure
def test_erasing_a_contact_keeps_their_messages_counted_without_who_they_were() -> None:
    state, _ = run(
        [
            stories.created("T1", contacts=[VP, OPS]),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
        ]
    )
    assert state is not None
    before = [record.contact for record in state.sent]
    forget = apply(state, stories.event("heard.forget", "T1", T0 + minutes(6), eid="f-vp", contact="c-vp"))
    after = [record.contact for record in forget.state.sent]
    assert after == ["erased" if contact == "c-vp" else contact for contact in before]
    assert "c-vp" in before and "c-ops" in after and None in after
    assert forget.forgotten_phones == ["+34612345679"]
    assert "a contact erased from this ticket (heard forget); the ticket stays" in reasons(forget)
    nobody = apply(
        forget.state, stories.event("heard.forget", "T1", T0 + minutes(7), eid="f-none", contact="c-nobody")
    )
    assert "erasure of a contact not on this ticket: nothing to do" in reasons(nobody)


def test_erasing_the_ticket_drops_every_phone_s_questions() -> None:
    state, _ = run([stories.created("T1", customer=SMS_CUSTOMER, contacts=[VP])])
    out = apply(state, stories.event("heard.forget", "T1", T0 + minutes(6), eid="f-all"))
    assert out.forget is True
    assert sorted(out.forgotten_phones) == ["+34612345679", "+442071838750"]
    assert out.state.scheduled == []


def test_a_contact_s_deferred_message_is_released_to_them_alone() -> None:
    night_vp = dict(VP, quiet_hours={"start": "10:30", "end": "13:00"})
    state, _ = run(
        [
            stories.created("T1", contacts=[night_vp]),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
        ]
    )
    assert state is not None
    later = tick(state, T0 + timedelta(hours=2))  # 13:00 in Madrid
    assert sent(later) == [("milestone_update", "customer", "c-vp")]
    assert [d.outcome for d in later.decisions] == ["send"]


# ------------------------------------------------------------------ what the context carries
def test_the_message_context_carries_the_subject_and_no_bookkeeping() -> None:
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
        ]
    )
    [milestone] = outcomes[-1].notifications
    assert milestone.context["ticket"]["subject"] == "My parcel is late"
    assert "news" not in milestone.context
    assert "summary" not in milestone.context and "feedback" not in milestone.context


def test_a_milestone_after_a_reopen_carries_no_closure_summary() -> None:
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.resolved("T1", T0 + minutes(10)),
            stories.event("ticket.reopened", "T1", T0 + minutes(11)),
            stories.reply("T1", T0 + minutes(30), milestone={"text": "Looking again."}),
        ]
    )
    [milestone] = outcomes[-1].notifications
    assert milestone.kind == "milestone_update"
    assert "summary" not in milestone.context and "feedback" not in milestone.context


def test_the_first_reply_watch_is_within_team_hours() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None
    acknowledged = tick(state, T0 + minutes(1)).state
    nudge = tick(acknowledged, FIRST_REPLY_DUE - minutes(30))
    [note] = nudge.notifications
    assert note.kind == "checkpoint_nudge"
    assert note.context["promise"]["outside_team_hours"] is False


# ------------------------------------------------------------------ the owner's news
def test_an_acknowledgment_does_not_use_up_the_news_of_a_new_owner() -> None:
    _state, outcomes = run(
        [
            stories.created("T1", agent=stories.AGENT),
            stories.reply("T1", T0 + minutes(2)),
            stories.event("ticket.assigned", "T1", T0 + minutes(20), agent=PRIYA, owner=True),
            stories.event("ticket.customer_message", "T1", T0 + minutes(30), urgent=True),
            stories.event(
                "ticket.agent_reply",
                "T1",
                T0 + minutes(60),
                agent=PRIYA,
                public=True,
                milestone={"text": "Found it."},
            ),
        ]
    )
    [ack] = outcomes[3].notifications
    assert ack.kind == "acknowledgment"
    [milestone] = outcomes[4].notifications
    assert milestone.context["owner"] == {"name": "Priya Shah", "new": True}


PRIYA = {"name": "Priya Shah", "team": "parcels", "email": "priya@example.com"}


def handed_to_priya(customer: dict[str, Any]) -> TicketState:
    """Acknowledged by Sam's team, then handed to Priya as its owner twenty minutes in."""
    state, _ = run(
        [
            stories.created("T1", customer=customer, agent=stories.AGENT),
            stories.event("ticket.assigned", "T1", T0 + minutes(20), agent=PRIYA, owner=True),
        ]
    )
    assert state is not None
    return tick(state, T0 + minutes(1)).state


def test_a_holding_update_tells_of_a_new_owner_even_after_quiet_hours() -> None:
    state = handed_to_priya(stories.customer(quiet_hours={"start": "13:45", "end": "15:00"}))
    held = tick(state, FIRST_REPLY_DUE)
    assert [kind for kind, _, _ in sent(held)] == ["checkpoint_escalation"]
    released = tick(held.state, T0 + timedelta(hours=5))
    [holding] = [n for n in released.notifications if n.kind == "checkpoint_holding"]
    assert holding.context["owner"] == {"name": "Priya Shah", "new": True}


# ------------------------------------------------------------------ holding updates
def test_a_holding_update_due_inside_the_closure_grace_is_not_sent() -> None:
    rules = Rules(
        policy=PolicySettings(
            acknowledgment_hold_seconds=60,
            closure_grace_seconds=900,
            coalesce_window_seconds=600,
            team_timezone="UTC",
            holding_interval_minutes=12,
        ),
        internal_recipients=RULES.internal_recipients,
    )
    state = after_first_holding_update(rules)
    resolved = apply(state, stories.resolved("T1", FIRST_REPLY_DUE + minutes(1)), rules=rules)
    due = tick(resolved.state, FIRST_REPLY_DUE + minutes(12), rules)
    assert due.notifications == []
    assert "the ticket is resolved: the closure summary tells where things ended" in reasons(due)
    closed = apply(
        resolved.state, stories.event("ticket.closed", "T1", FIRST_REPLY_DUE + minutes(2)), rules=rules
    )
    assert "next-update watch ended: ticket closed" in reasons(closed)


@pytest.mark.parametrize("news", ["status milestone", "options"])
def test_real_news_by_message_keeps_the_next_update_promise(news: str) -> None:
    state = after_first_holding_update()
    at = FIRST_REPLY_DUE + minutes(60)
    raw = (
        stories.event("ticket.status_changed", "T1", at, to_status="in_progress", note="The depot has it")
        if news == "status milestone"
        else stories.offered("T1", at)
    )
    out = apply(state, raw)
    assert [kind for kind, _, _ in sent(out)] in (["milestone_update"], ["options"])
    assert out.state.next_update_due is None
    assert tick(out.state, FIRST_REPLY_DUE + timedelta(hours=3)).notifications == []


def test_a_confirmed_choice_keeps_the_next_update_promise() -> None:
    state, _ = run(
        [
            stories.created("T1", customer=SMS_CUSTOMER),
            stories.offered("T1", T0 + minutes(5)),
            stories.promised("T1", T0 + minutes(10), T0 + timedelta(hours=3)),
        ]
    )
    assert state is not None
    state = tick(state, T0 + minutes(20)).state
    held = tick(state, T0 + timedelta(hours=3))  # the promise passes: a holding update
    assert held.state.next_update_due is not None
    chosen = apply(held.state, stories.chosen("T1", T0 + timedelta(hours=3, minutes=5), 2))
    assert "option_confirmed" in [kind for kind, _, _ in sent(chosen)]
    assert chosen.state.next_update_due is None


def test_the_options_are_the_first_reply() -> None:
    state, _ = run(
        [
            stories.created("T1", agent=stories.AGENT),
            stories.offered("T1", T0 + minutes(5), choose_by=T0 + timedelta(hours=6)),
        ]
    )
    assert state is not None
    assert state.first_reply_due is None
    assert tick(state, FIRST_REPLY_DUE).notifications == []  # no "we have not replied yet"
    assert [n.kind for n in tick(state, T0 + timedelta(hours=6)).notifications] == ["options_unanswered"]


def test_a_holding_update_beside_a_fresh_acknowledgment_is_skipped_and_not_counted() -> None:
    state = after_first_holding_update()
    next_due = state.next_update_due
    assert next_due is not None and state.holding_updates_in_a_row == 1
    message = apply(state, stories.event("ticket.customer_message", "T1", next_due - minutes(3)))
    acknowledged = tick(message.state, next_due - minutes(2))
    assert sent(acknowledged) == [("acknowledgment", "customer", None)]
    skipped = tick(acknowledged.state, next_due)
    assert not any(kind == "checkpoint_holding" for kind, _, _ in sent(skipped))
    assert any(
        reason.startswith("the customer heard from us 120 s ago; the next update is now due by ")
        for reason in reasons(skipped)
    )
    assert skipped.state.holding_updates_in_a_row == 1


def acknowledged_again(before_due: int) -> TicketState:
    """No reply yet; the customer writes again and is acknowledged `before_due` minutes
    before the first-reply target."""
    state, _ = run([stories.created("T1")])
    assert state is not None
    state = tick(state, T0 + minutes(1)).state
    message = apply(
        state, stories.event("ticket.customer_message", "T1", FIRST_REPLY_DUE - minutes(before_due + 1))
    )
    acknowledged = tick(message.state, FIRST_REPLY_DUE - minutes(before_due))
    assert sent(acknowledged) == [("acknowledgment", "customer", None)]
    return acknowledged.state


def test_the_first_reply_holding_beside_a_fresh_acknowledgment_is_skipped() -> None:
    due = tick(acknowledged_again(2), FIRST_REPLY_DUE)
    assert sent(due) == [("checkpoint_escalation", "lead", None)]
    assert "the customer heard from us 120 s ago" in reasons(due)


# ------------------------------------------------------------------ a late acknowledgment
def test_an_acknowledgment_held_past_the_target_holds_the_watch_until_it_goes() -> None:
    # 19:00 in Tokyo on a Friday: quiet until 09:00 there, 00:00 UTC on Saturday.
    tokyo = stories.customer(timezone="Asia/Tokyo", quiet_hours={"start": "18:00", "end": "09:00"})
    state, _ = run([stories.created("T1", customer=tokyo)])
    assert state is not None
    held = tick(state, T0 + minutes(1))
    assert held.notifications == []
    at_target = tick(held.state, FIRST_REPLY_DUE)
    assert at_target.notifications == []  # nobody is told about a promise not yet given
    saturday = T0 + timedelta(hours=14)
    assert at_target.state.next_due() == saturday
    goes = tick(at_target.state, saturday)
    assert sent(goes) == [("acknowledgment", "customer", None)]
    assert any(
        reason.startswith("the first-reply target had passed before the acknowledgment could go")
        for reason in reasons(goes)
    )
    # The full target from then: Monday 13:00 UTC (four working hours from 09:00).
    monday_due = T0 + timedelta(days=3, hours=3)
    assert goes.notifications[0].context["next_milestone"]["due_at"] == monday_due.isoformat()
    escalated = tick(goes.state, monday_due)
    assert ("checkpoint_escalation", "lead", None) in sent(escalated)


def test_a_late_acknowledgment_after_the_lead_was_told_starts_a_new_watch() -> None:
    silent = stories.customer(consent={"email": False, "sms": False})
    state, _ = run([stories.created("T1", customer=silent)])
    assert state is not None
    state = tick(state, T0 + minutes(1)).state  # nothing can reach them
    escalated = tick(state, FIRST_REPLY_DUE)
    assert ("checkpoint_escalation", "lead", None) in sent(escalated)
    later = FIRST_REPLY_DUE + timedelta(hours=1)
    consent = apply(
        escalated.state,
        stories.event("customer.preferences_updated", "T1", later, customer=stories.customer()),
    )
    message = apply(consent.state, stories.event("ticket.customer_message", "T1", later + minutes(1)))
    goes = tick(message.state, later + minutes(2))
    assert sent(goes) == [("acknowledgment", "customer", None)]
    promised = goes.notifications[0].context["next_milestone"]["due_at"]
    assert promised == (T0 + timedelta(days=3, minutes=2)).isoformat()
    assert not goes.state.first_reply_escalated
    again = tick(goes.state, T0 + timedelta(days=3, minutes=2))
    assert ("checkpoint_escalation", "lead", None) in sent(again)


def test_an_acknowledgment_after_a_holding_update_repeats_the_time_it_named() -> None:
    state = after_first_holding_update()
    next_due = state.next_update_due
    assert next_due is not None
    message = apply(state, stories.event("ticket.customer_message", "T1", FIRST_REPLY_DUE + minutes(30)))
    goes = tick(message.state, FIRST_REPLY_DUE + minutes(31))
    [ack] = goes.notifications
    assert ack.context["next_milestone"]["due_at"] == next_due.isoformat()
    assert not any(
        item.kind == "checkpoint_escalation" and item.due_at > next_due for item in goes.state.scheduled
    )


# ------------------------------------------------------------------ writing again
def test_a_customer_who_writes_again_is_promised_a_reply_and_heard_keeps_it() -> None:
    # A public reply on Friday, nothing more owed; the customer writes again on Sunday.
    sunday = T0 + timedelta(days=2)
    state, _ = run(
        [
            stories.created("T1"),
            stories.reply("T1", T0 + minutes(10)),
            stories.event("ticket.customer_message", "T1", sunday),
        ]
    )
    assert state is not None
    acknowledged = tick(state, sunday + minutes(1))
    [ack] = acknowledged.notifications
    # Four working hours from Monday 09:00, never "by now".
    monday_due = T0 + timedelta(days=3, hours=3)
    assert ack.context["next_milestone"] == {
        "text": None,
        "first_reply": True,
        "follow_up": True,
        "due_at": monday_due.isoformat(),
    }
    due = tick(acknowledged.state, monday_due)
    escalation = next(n for n in due.notifications if n.kind == "checkpoint_escalation")
    holding = next(n for n in due.notifications if n.kind == "checkpoint_holding")
    assert escalation.context["promise"]["follow_up"] is True
    assert holding.context["promise"]["follow_up"] is True
    answered = apply(acknowledged.state, stories.reply("T1", monday_due - minutes(60)))
    assert tick(answered.state, monday_due).notifications == []


def test_a_customer_who_writes_again_is_told_of_the_promise_already_made() -> None:
    state, _ = run(
        [
            stories.created("T1"),
            stories.reply("T1", T0 + minutes(10)),
            stories.promised("T1", T0 + minutes(11), T0 + timedelta(hours=5)),
        ]
    )
    assert state is not None
    announced = tick(state, T0 + minutes(20))
    assert [n.kind for n in announced.notifications] == ["milestone_update"]
    message = apply(announced.state, stories.event("ticket.customer_message", "T1", T0 + minutes(120)))
    [ack] = tick(message.state, T0 + minutes(121)).notifications
    # The agent's task line is theirs: the customer hears what they were told to expect.
    assert ack.context["next_milestone"] == {
        "text": None,
        "first_reply": True,
        "follow_up": True,
        "due_at": (T0 + timedelta(hours=5)).isoformat(),
    }


def test_a_requester_acknowledged_in_the_customer_s_quiet_hours_is_promised_a_real_time() -> None:
    night = stories.customer(quiet_hours={"start": "00:00", "end": "23:59"})
    sunday = T0 + timedelta(days=2)
    state, _ = run(
        [
            stories.created("T1", customer=night, contacts=[OPS], urgent=True),
            stories.reply("T1", T0 + minutes(10)),
            stories.event("ticket.customer_message", "T1", sunday),
        ]
    )
    assert state is not None
    [ack] = tick(state, sunday + minutes(1)).notifications
    assert ack.contact == "c-ops"
    # An urgent ticket: thirty working minutes from Monday 09:00.
    assert ack.context["next_milestone"]["due_at"] == (T0 + timedelta(days=3, hours=-0.5)).isoformat()


def test_a_deferred_message_for_a_contact_who_left_the_ticket_is_dropped() -> None:
    night_vp = dict(VP, quiet_hours={"start": "10:30", "end": "13:00"})
    state, _ = run(
        [
            stories.created("T1", contacts=[night_vp]),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(6), contacts=[]),
        ]
    )
    assert state is not None
    later = tick(state, T0 + timedelta(hours=2))
    assert later.notifications == []
    assert "the contact is no longer on the ticket" in reasons(later)


def test_a_resolve_stamped_the_second_the_closure_went_sends_no_second_closure() -> None:
    state, _ = run([stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(10))])
    assert state is not None
    closing = tick(state, T0 + minutes(25))
    assert sent(closing) == [("closure_summary", "customer", None)]
    again = apply(closing.state, stories.resolved("T1", T0 + minutes(25), eid="resolve-again"))
    assert tick(again.state, T0 + minutes(45)).notifications == []
    assert "closure summary already sent" in reasons(tick(again.state, T0 + minutes(45)))


def test_the_closure_keeps_the_time_a_holding_update_named_even_after_a_reopen() -> None:
    state = after_first_holding_update()
    next_due = state.next_update_due
    assert next_due is not None
    resolved = apply(state, stories.resolved("T1", FIRST_REPLY_DUE + minutes(5)))
    closing = tick(resolved.state, FIRST_REPLY_DUE + minutes(20))
    assert sent(closing) == [("closure_summary", "customer", None)]
    assert closing.state.next_update_due is None
    reopened = apply(closing.state, stories.event("ticket.reopened", "T1", FIRST_REPLY_DUE + minutes(30)))
    assert tick(reopened.state, next_due).notifications == []


def test_the_agent_s_task_line_never_reaches_the_customer() -> None:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.promised(
                "T1",
                T0 + minutes(5),
                T0 + timedelta(hours=2),
                what="Chase Bosch RMA, ref 55-A",
                customer_text="the decision on your refund",
            ),
        ]
    )
    assert state is not None
    missed = tick(state, T0 + timedelta(hours=2))
    [holding] = [n for n in missed.notifications if n.kind == "checkpoint_holding"]
    renderer = Renderer(REPO / "templates")
    for locale in ("en", "es", "fr", "de"):
        for channel in ("email", "sms"):
            out = renderer.render("checkpoint_holding", channel, locale, "UTC", holding.context)
            assert "Bosch" not in out.text and "Bosch" not in (out.html or "")
    text = renderer.render("checkpoint_holding", "email", "en", "UTC", holding.context).text
    assert "the decision on your refund" in text
    [escalation] = [n for n in missed.notifications if n.kind == "checkpoint_escalation"]
    assert (
        "Chase Bosch RMA"
        in renderer.render("checkpoint_escalation", "email", "en", "UTC", escalation.context).text
    )


def test_an_sms_holding_update_leaves_the_new_owner_s_line_for_the_next_message() -> None:
    state = handed_to_priya(SMS_CUSTOMER)
    missed = tick(state, FIRST_REPLY_DUE)
    [holding] = [n for n in missed.notifications if n.kind == "checkpoint_holding"]
    assert holding.channel == "sms" and holding.context["owner"]["new"] is False
    update = apply(
        missed.state,
        stories.event(
            "ticket.agent_reply",
            "T1",
            FIRST_REPLY_DUE + minutes(90),
            agent=PRIYA,
            public=True,
            milestone={"text": "Found it."},
        ),
    )
    [milestone] = update.notifications
    assert milestone.context["owner"] == {"name": "Priya Shah", "new": True}


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "Sorry for the handovers: Priya Shah has it now."),
        ("es", "Tras 3 traspasos, te atiende Priya Shah."),
        ("fr", "Après 3 relais, Priya Shah s'en charge."),
        ("de", "Verzeihung für die Übergaben: jetzt bei Priya Shah."),
    ],
)
def test_an_sms_update_owns_up_to_the_handovers(locale: str, words: str) -> None:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    teams = ["billing", "payments", "refunds"]
    events = [stories.created("T1", customer=SMS_CUSTOMER, agent=dict(stories.AGENT, team="parcels"))]
    for n, team in enumerate(teams, 1):
        events.append(
            stories.event(
                "ticket.assigned",
                "T1",
                T0 + minutes(n),
                owner=True,
                agent={"name": "Priya Shah", "team": team},
            )
        )
    events.append(
        stories.event(
            "ticket.agent_reply",
            "T1",
            T0 + minutes(30),
            public=True,
            agent={"name": "Priya Shah", "team": "refunds"},
            milestone={"text": "Refund approved."},
        )
    )
    _, outcomes = run(events)
    [milestone] = [n for n in outcomes[-1].notifications if n.kind == "milestone_update"]
    assert milestone.context["transfers"]["acknowledge"] is True
    text = (
        Renderer(REPO / "templates").render("milestone_update", "sms", locale, "UTC", milestone.context).text
    )
    assert words in text


def test_a_message_that_waited_out_quiet_hours_names_no_time_already_gone() -> None:
    sydney = stories.customer(timezone="Australia/Sydney", quiet_hours={"start": "21:30", "end": "07:30"})
    at = T0 + timedelta(hours=2)  # 23:00 in Sydney
    state, _ = run(
        [
            stories.created(
                "T1",
                at,
                customer=sydney,
                next_milestone={
                    "text": "a call from our billing lead",
                    "due_at": stories.iso(at + timedelta(hours=6)),
                },
            )
        ]
    )
    assert state is not None
    missed = tick(state, at + timedelta(hours=6))  # the call's time: 05:00 in Sydney
    assert ("checkpoint_escalation", "lead", None) in sent(missed)
    assert ("checkpoint_holding", "customer", None) not in sent(missed)  # quiet hours
    morning = tick(missed.state, at + timedelta(hours=8, minutes=30))  # 07:30 in Sydney
    [ack] = morning.notifications
    assert ack.context["next_milestone"] == {
        "text": "a call from our billing lead",
        "follow_up": False,
        "due_at": None,
    }
    # Its holding update would land in the same second: the acknowledgment speaks alone.
    assert "the customer heard from us 0 s ago" in reasons(morning)


def test_a_next_milestone_with_a_time_is_kept_like_a_promise() -> None:
    state, _ = run(
        [
            stories.created(
                "T1",
                agent=stories.AGENT,
                next_milestone={
                    "text": "a call from our billing lead",
                    "due_at": stories.iso(T0 + timedelta(hours=3)),
                },
            )
        ]
    )
    assert state is not None
    acknowledged = tick(state, T0 + minutes(1))
    assert sent(acknowledged) == [("acknowledgment", "customer", None)]
    nudged = tick(acknowledged.state, T0 + timedelta(hours=2, minutes=30))
    assert sent(nudged) == [("checkpoint_nudge", "agent", None)]
    missed = tick(nudged.state, T0 + timedelta(hours=3))
    assert sorted(sent(missed)) == [
        ("checkpoint_escalation", "lead", None),
        ("checkpoint_holding", "customer", None),
    ]
    [holding] = [n for n in missed.notifications if n.kind == "checkpoint_holding"]
    assert holding.context["promise"]["customer_text"] == "a call from our billing lead"
    # A reply before then keeps it: nothing more is sent.
    kept = apply(acknowledged.state, stories.reply("T1", T0 + timedelta(hours=2)))
    assert tick(kept.state, T0 + timedelta(hours=4)).notifications == []


def test_a_contact_who_is_the_customer_in_other_capitals_is_written_to_once() -> None:
    again = {"name": "Amara Okafor", "email": "Amara@Example.NET", "role": "requester"}
    _, outcomes = run(
        [
            stories.created("T1", contacts=[again]),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
        ]
    )
    assert [n.recipient for n in outcomes[-1].notifications if n.kind == "milestone_update"] == [
        "amara@example.net"
    ]


def test_a_customer_who_answers_the_closure_is_acknowledged_once_the_ticket_reopens() -> None:
    state, _ = run([stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(10))])
    assert state is not None
    closed = tick(state, T0 + minutes(25))
    assert sent(closed) == [("closure_summary", "customer", None)]
    wrote = apply(closed.state, stories.event("ticket.customer_message", "T1", T0 + minutes(60)))
    quiet = tick(wrote.state, T0 + minutes(62))
    assert quiet.notifications == []  # resolved: the help desk decides whether it reopens
    reopened = apply(quiet.state, stories.event("ticket.reopened", "T1", T0 + minutes(63)))
    assert sent(reopened) == [("acknowledgment", "customer", None)]
    assert reopened.notifications[0].context["next_milestone"]["follow_up"] is True
    again = apply(
        reopened.state, stories.event("ticket.reopened", "T1", T0 + minutes(64), eid="reopened-again")
    )
    assert again.notifications == []


def test_a_promise_is_inherited_with_the_ticket_and_the_nudge_says_so() -> None:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    priya = {"name": "Priya Shah", "team": "parcels", "email": "priya@example.com"}
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=3)),
            stories.event("ticket.assigned", "T1", T0 + minutes(30), agent=priya, owner=True),
        ]
    )
    assert state is not None
    nudges = [
        n
        for n in tick(state, T0 + timedelta(hours=2, minutes=30)).notifications
        if n.kind == "checkpoint_nudge"
    ]
    # The agent who made the promise, and the owner who has the ticket now: both hear.
    assert [n.recipient for n in nudges] == ["sam@example.com", "priya@example.com"]
    assert len({n.notification_id for n in nudges}) == 2
    nudge = nudges[1]
    text = Renderer(REPO / "templates").render("checkpoint_nudge", "email", "en", "UTC", nudge.context).text
    assert text.startswith("Hi Priya Shah,")
    maker = (
        Renderer(REPO / "templates").render("checkpoint_nudge", "email", "en", "UTC", nudges[0].context).text
    )
    assert maker.startswith("Hi Sam Reyes,")
    assert "Sam Reyes promised Amara" in text and "The ticket is yours now" in text


@pytest.mark.parametrize(
    ("after", "confirmation", "words"),
    [
        ("resolved", "closed", "has not confirmed it to her: the ticket is resolved"),
        ("closed", "closed", "has not confirmed it to her: the ticket is closed"),
        ("replaced", "replaced", "the offer had been replaced by a newer one"),
    ],
)
def test_the_owner_is_never_told_a_choice_was_confirmed_when_it_was_not(
    after: str, confirmation: str, words: str
) -> None:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    then = {
        "resolved": stories.resolved("T1", T0 + minutes(10)),
        "closed": stories.event("ticket.closed", "T1", T0 + minutes(10)),
        "replaced": stories.offered("T1", T0 + minutes(10), offer="O2"),
    }[after]
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.offered("T1", T0 + minutes(5)),
            then,
        ]
    )
    assert state is not None
    chosen = apply(state, stories.chosen("T1", T0 + minutes(12), 2, via="email"))
    assert "option_confirmed" not in [kind for kind, _, _ in sent(chosen)]
    [answered] = [n for n in chosen.notifications if n.kind == "options_answered"]
    assert answered.context["confirmation"] == confirmation
    text = (
        Renderer(REPO / "templates").render("options_answered", "email", "en", "UTC", answered.context).text
    )
    assert words in text and "has confirmed the choice" not in text


def test_a_promise_due_soon_after_a_message_still_gets_its_holding_update() -> None:
    state, _ = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(1), T0 + minutes(5))]
    )
    assert state is not None
    missed = tick(state, T0 + minutes(5))
    assert ("checkpoint_holding", "customer", None) in sent(missed)


def test_a_holding_update_due_the_second_its_held_message_goes_is_skipped() -> None:
    # Quiet until 14:00, and the next milestone's time is 14:00: the acknowledgment that names
    # it and the holding update for it fall due together; the acknowledgment speaks alone.
    night = stories.customer(quiet_hours={"start": "09:30", "end": "14:00"})
    state, _ = run(
        [
            stories.created(
                "T1",
                customer=night,
                agent=stories.AGENT,
                next_milestone={
                    "text": "a call from our billing lead",
                    "due_at": stories.iso(FIRST_REPLY_DUE),
                },
            )
        ]
    )
    assert state is not None
    state = tick(state, FIRST_REPLY_DUE - minutes(30)).state  # the nudge
    due = tick(state, FIRST_REPLY_DUE)
    assert sorted(sent(due)) == [
        ("acknowledgment", "customer", None),
        ("checkpoint_escalation", "lead", None),
    ]


def test_the_team_s_own_address_is_used_when_the_agent_has_none() -> None:
    rules = Rules(
        policy=RULES.policy,
        internal_recipients={
            "default": "team@example.com",
            "parcels": "parcels@example.com",
            "lead": "lead@example.com",
        },
    )
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.promised(
                "T1", T0 + minutes(5), T0 + timedelta(hours=3), agent={"name": "Sam Reyes", "team": "parcels"}
            ),
        ],
        rules=rules,
    )
    assert state is not None
    [nudge] = [
        n
        for n in tick(state, T0 + timedelta(hours=2, minutes=30), rules).notifications
        if n.kind == "checkpoint_nudge"
    ]
    assert nudge.recipient == "parcels@example.com"


@pytest.mark.parametrize("how", ["reply", "status"])
def test_a_next_milestone_named_later_is_kept_like_a_promise(how: str) -> None:
    at, due = T0 + minutes(10), T0 + timedelta(hours=3)
    milestone = {"text": "the courier's slot", "due_at": stories.iso(due)}
    raw = (
        stories.reply("T1", at, milestone={"text": "Found it."}, next_milestone=milestone)
        if how == "reply"
        else stories.event(
            "ticket.status_changed",
            "T1",
            at,
            to_status="in_progress",
            note="The depot has it",
            next_milestone=milestone,
        )
    )
    state, _ = run([stories.created("T1", urgent=True, agent=stories.AGENT), raw])
    assert state is not None
    missed = tick(tick(state, due - minutes(30)).state, due)
    assert sorted(sent(missed)) == [
        ("checkpoint_escalation", "lead", None),
        ("checkpoint_holding", "customer", None),
    ]


def test_a_next_milestone_without_a_time_is_no_promise() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, next_milestone={"text": "a call"}),
            stories.reply("T1", T0 + minutes(10), next_milestone={"text": "the courier's slot"}),
        ]
    )
    assert state is not None and state.promises == {}
    assert tick(state, T0 + timedelta(days=3)).notifications == []


def test_a_reply_promised_to_a_message_held_until_its_own_deadline_is_a_real_time() -> None:
    # Written on Sunday at 10:00; quiet until 13:00: the acknowledgment goes on Monday at
    # 13:00, the very end of the target counted from the message, so it promises 17:00.
    late = stories.customer(quiet_hours={"start": "00:00", "end": "13:00"})
    sunday = T0 + timedelta(days=2)
    state, _ = run(
        [
            stories.created("T1", customer=late, urgent=False),
            stories.reply("T1", T0 + minutes(10)),
            stories.event("ticket.customer_message", "T1", sunday),
        ]
    )
    assert state is not None
    monday = T0 + timedelta(days=3, hours=3)
    [ack] = tick(state, monday).notifications
    assert ack.context["next_milestone"]["due_at"] == (monday + timedelta(hours=4)).isoformat()


@pytest.mark.parametrize(("in_a_row", "names_a_time"), [(1, False), (2, True)])
def test_a_contact_s_holding_update_in_the_customer_s_quiet_hours_counts_toward_the_last(
    in_a_row: int, names_a_time: bool
) -> None:
    rules = Rules(
        policy=PolicySettings(
            acknowledgment_hold_seconds=60,
            coalesce_window_seconds=600,
            team_timezone="UTC",
            holding_updates_in_a_row=in_a_row,
        ),
        internal_recipients=RULES.internal_recipients,
    )
    resting = stories.customer(quiet_hours={"start": "13:00", "end": "16:00"})
    state, _ = run([stories.created("T1", customer=resting, contacts=[OPS])], rules=rules)
    assert state is not None
    state = tick(state, T0 + minutes(1), rules).state
    due = tick(state, FIRST_REPLY_DUE, rules)
    [holding] = [n for n in due.notifications if n.kind == "checkpoint_holding"]
    assert holding.contact == "c-ops"
    assert (holding.context["next_update"] is not None) is names_a_time


def test_an_agent_s_promise_at_the_time_the_milestone_named_sends_the_customer_nothing() -> None:
    due = T0 + timedelta(hours=3)
    state, _ = run(
        [
            stories.created(
                "T1",
                urgent=True,
                agent=stories.AGENT,
                next_milestone={"text": "the courier's slot", "due_at": stories.iso(due)},
            )
        ]
    )
    assert state is not None
    promised = apply(state, stories.promised("T1", T0 + minutes(20), due))
    assert promised.state.promises["P1"].status == "pending"
    assert sent(promised) == [] and sent(tick(promised.state, T0 + minutes(40))) == []


def test_a_settled_promise_is_never_reopened_by_a_later_reply() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=3)),
            stories.promised("T1", T0 + minutes(6), T0 + timedelta(hours=4), pid="P2"),
        ]
    )
    assert state is not None and state.promises["P1"].status == "renegotiated"
    replied = apply(state, stories.reply("T1", T0 + minutes(30)))
    assert replied.state.promises["P1"].status == "renegotiated"
    assert replied.state.promises["P2"].status == "kept"


def test_a_holding_update_leaves_every_other_step_of_the_ticket_in_place() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.offered("T1", T0 + minutes(5), choose_by=T0 + timedelta(hours=6)),
            stories.promised("T1", T0 + minutes(10), T0 + timedelta(hours=3)),
        ]
    )
    assert state is not None
    state = tick(state, T0 + minutes(20)).state
    missed = tick(state, T0 + timedelta(hours=3))
    assert ("checkpoint_holding", "customer", None) in sent(missed)
    unanswered = tick(missed.state, T0 + timedelta(hours=6))
    assert [n.kind for n in unanswered.notifications if n.kind == "options_unanswered"] == [
        "options_unanswered"
    ]


def test_a_message_exactly_a_coalesce_window_ago_does_not_hold_back_a_holding_update() -> None:
    due = tick(acknowledged_again(10), FIRST_REPLY_DUE)  # exactly 600 s later
    assert ("checkpoint_holding", "customer", None) in sent(due)


def test_a_nudge_released_after_its_promise_passed_gives_way_to_the_escalation() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=3)),
        ]
    )
    assert state is not None
    late = tick(state, T0 + timedelta(hours=3, minutes=1))  # a backlog: the nudge is late
    assert ("cancel", "nudge released after the due time; the escalation takes over") in [
        (d.outcome, d.reason) for d in late.decisions
    ]
    [escalation] = [n for n in late.notifications if n.kind == "checkpoint_escalation"]
    assert escalation.context["ticket"]["subject"] == "My parcel is late"
    # The same for heard's own first-reply watch.
    created, _ = run([stories.created("T1")])
    assert created is not None
    acknowledged = tick(created, T0 + minutes(1)).state
    backlog = tick(acknowledged, FIRST_REPLY_DUE + minutes(1))
    assert ("cancel", "checkpoint_nudge", "nudge released after the due time; the escalation takes over") in [
        (d.outcome, d.kind, d.reason) for d in backlog.decisions
    ]


def test_a_message_written_the_second_of_the_resolution_is_acknowledged_on_reopen() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.resolved("T1", T0 + minutes(10)),
            stories.event("ticket.customer_message", "T1", T0 + minutes(10)),
        ]
    )
    assert state is not None
    quiet = tick(state, T0 + minutes(12))
    reopened = apply(quiet.state, stories.event("ticket.reopened", "T1", T0 + minutes(13)))
    assert sent(reopened) == [("acknowledgment", "customer", None)]


def test_a_reopen_acknowledges_whatever_else_the_ticket_still_waits_for() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.offered("T1", T0 + minutes(5), choose_by=T0 + timedelta(hours=6)),
            stories.resolved("T1", T0 + minutes(10)),
        ]
    )
    assert state is not None
    closed = tick(state, T0 + minutes(25))
    wrote = apply(closed.state, stories.event("ticket.customer_message", "T1", T0 + minutes(60)))
    quiet = tick(wrote.state, T0 + minutes(62))
    assert any(item.kind == "options_unanswered" for item in quiet.state.scheduled)
    reopened = apply(quiet.state, stories.event("ticket.reopened", "T1", T0 + minutes(63)))
    assert sent(reopened) == [("acknowledgment", "customer", None)]


def test_a_reopen_while_an_acknowledgment_waits_lets_that_one_go() -> None:
    state, _ = run([stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(10))])
    assert state is not None
    closed = tick(state, T0 + minutes(25))
    wrote = apply(closed.state, stories.event("ticket.customer_message", "T1", T0 + minutes(60)))
    reopened = apply(
        wrote.state, stories.event("ticket.reopened", "T1", T0 + minutes(60) + timedelta(seconds=20))
    )
    assert reopened.notifications == []  # the waiting acknowledgment is the one
    assert sent(tick(reopened.state, T0 + minutes(61))) == [("acknowledgment", "customer", None)]


def test_a_milestone_time_that_is_now_is_not_promised() -> None:
    state, _ = run(
        [
            stories.created(
                "T1", next_milestone={"text": "a call", "due_at": stories.iso(T0 + timedelta(seconds=60))}
            )
        ]
    )
    assert state is not None
    [ack] = [n for n in tick(state, T0 + timedelta(seconds=60)).notifications if n.kind == "acknowledgment"]
    assert ack.context["next_milestone"]["due_at"] is None


def test_an_older_message_or_reply_arriving_late_never_moves_the_last_ones_back() -> None:
    state, _ = run(
        [
            stories.created("T1"),
            stories.event("ticket.customer_message", "T1", T0 + minutes(30), eid="m2"),
            stories.reply("T1", T0 + minutes(40), eid="r2"),
            stories.event("ticket.customer_message", "T1", T0 + minutes(20), eid="m1"),
            stories.reply("T1", T0 + minutes(25), eid="r1"),
        ],
        now=T0 + minutes(41),
    )
    assert state is not None
    assert state.last_customer_message_at == T0 + minutes(30)
    assert state.last_public_agent_update_at == T0 + minutes(40)


def test_a_milestone_s_time_never_replaces_an_agent_s_promise() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=5), customer_text="your refund"),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(30),
                to_status="in_progress",
                note="The bank has it",
                next_milestone={"text": "the courier pickup", "due_at": stories.iso(T0 + timedelta(days=1))},
            ),
        ]
    )
    assert state is not None
    assert state.promises["P1"].status == "pending"
    missed = tick(tick(state, T0 + timedelta(hours=4, minutes=30)).state, T0 + timedelta(hours=5))
    [holding] = [n for n in missed.notifications if n.kind == "checkpoint_holding"]
    assert holding.context["promise"]["customer_text"] == "your refund"


def test_an_agent_s_promise_replaces_a_milestone_s_time_without_calling_it_a_move() -> None:
    state, _ = run(
        [
            stories.created(
                "T1",
                urgent=True,
                agent=stories.AGENT,
                next_milestone={
                    "text": "a call from the courier",
                    "due_at": stories.iso(T0 + timedelta(hours=8)),
                },
            )
        ]
    )
    assert state is not None
    promised = apply(state, stories.promised("T1", T0 + minutes(20), T0 + timedelta(hours=5)))
    assert promised.state.promises["P1"].version == 1
    [announced] = [n for n in promised.notifications if n.kind == "milestone_update"]
    assert announced.context["promised"]["by"] == "Sam Reyes"
    assert announced.context["moved"] is None


def test_a_status_without_a_note_watches_no_time_it_never_told() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(30),
                to_status="pending_customer",
                next_milestone={"text": "the courier pickup", "due_at": stories.iso(T0 + timedelta(days=1))},
            ),
        ]
    )
    assert state is not None and state.promises == {}


def test_a_new_promise_at_the_same_time_is_no_move() -> None:
    due = T0 + timedelta(hours=3)
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.promised("T1", T0 + minutes(5), due),
        ]
    )
    assert state is not None
    state = tick(state, T0 + minutes(20)).state  # the first promise announced
    again = apply(
        state, stories.promised("T1", T0 + minutes(30), due, pid="P2", what="Confirm the slot with the depot")
    )
    assert again.state.promises["P1"].status == "renegotiated"
    assert sent(again) == [] and sent(tick(again.state, T0 + minutes(45))) == []


def test_the_agent_doing_the_work_owns_the_ticket_and_hears_of_her_own_promise() -> None:
    """Jack was assigned first; Aisha writes "I'm handling this myself from here" and
    promises a time. The updates speak of Aisha, and the nudge for her promise is hers."""
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    jack = {"name": "Jack Murphy", "team": "billing", "email": "jack@example.com"}
    aisha = {"name": "Aisha Rahman", "team": "payments", "email": "aisha@example.com"}
    state, outcomes = run(
        [
            stories.created("T1", urgent=True, agent=jack),
            stories.event(
                "ticket.agent_reply",
                "T1",
                T0 + minutes(10),
                eid="r1",
                agent=aisha,
                public=True,
                milestone={"text": "I'm handling this myself from here."},
            ),
            stories.promised("T1", T0 + minutes(11), T0 + timedelta(hours=3), agent=aisha),
        ]
    )
    assert state is not None and state.owner is not None and state.owner.name == "Aisha Rahman"
    [update] = [n for o in outcomes for n in o.notifications if n.kind == "milestone_update"]
    assert update.context["owner"] == {"name": "Aisha Rahman", "new": False}
    renderer = Renderer(REPO / "templates")
    for channel in ("email", "sms"):
        assert "Jack" not in renderer.render("milestone_update", channel, "en", "UTC", update.context).text
    nudges = [
        n
        for n in tick(state, T0 + timedelta(hours=2, minutes=30)).notifications
        if n.kind == "checkpoint_nudge"
    ]
    assert [n.recipient for n in nudges] == ["aisha@example.com"]
    text = renderer.render("checkpoint_nudge", "email", "en", "UTC", nudges[0].context).text
    assert text.startswith("Hi Aisha Rahman,") and "Jack" not in text
