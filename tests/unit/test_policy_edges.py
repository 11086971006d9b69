"""Rules of the pure core that a mutation run showed no test held: closing, repeated and
out-of-order resolutions, assignments and preferences, milestones by status, promise
refusals and repeats, and the contract's limits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from heard.streams.contract import stories
from heard.streams.contract.records import MAX_NAME, MAX_TEXT, InvalidEvent, parse_event
from heard.streams.contract.state import TicketState
from heard.streams.contract.stories import T0, minutes
from heard.streams.policy.decide import decide
from tests.unit.test_policy import RULES, run, run_from, tick

GRACE = timedelta(seconds=RULES.policy.closure_grace_seconds)


def kinds_sent(*outcomes: object) -> list[str]:
    return [n.kind for outcome in outcomes for n in outcome.notifications]  # type: ignore[attr-defined]


def resolved_state(*extra: dict[str, object]) -> TicketState:
    state, _ = run([stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(10)), *extra])
    assert state is not None
    return state


def test_closing_inside_the_grace_period_sends_the_closure_summary_at_once() -> None:
    state, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.resolved("T1", T0 + minutes(10)),
            stories.event("ticket.closed", "T1", T0 + minutes(11)),
        ]
    )
    assert state is not None and state.status == "closed"
    assert kinds_sent(outcomes[2]) == ["closure_summary"]
    assert kinds_sent(tick(state, T0 + minutes(10) + GRACE)) == []


def test_closing_before_the_hold_ends_stops_the_acknowledgment() -> None:
    state, _ = run([stories.created("T1"), stories.event("ticket.closed", "T1", T0 + minutes(0.5))])
    assert state is not None
    assert kinds_sent(tick(state, T0 + minutes(5))) == []


def test_closing_cancels_pending_promises() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=3)),
            stories.event("ticket.closed", "T1", T0 + minutes(6)),
        ]
    )
    assert state is not None and state.promises["P1"].status == "cancelled"
    assert kinds_sent(tick(state, T0 + timedelta(hours=4))) == []


def test_two_resolutions_send_one_closure_summary() -> None:
    state = resolved_state(stories.resolved("T1", T0 + minutes(12), eid="second-resolve"))
    first = tick(state, T0 + minutes(12) + GRACE)
    assert kinds_sent(first) == ["closure_summary"]
    assert kinds_sent(tick(first.state, T0 + minutes(13) + GRACE * 2)) == []


def test_a_public_reply_in_the_grace_period_does_not_cancel_the_closure() -> None:
    state = resolved_state(stories.reply("T1", T0 + minutes(11)))
    assert kinds_sent(tick(state, T0 + minutes(10) + GRACE)) == ["closure_summary"]


def test_a_reopen_that_arrives_before_its_resolve_still_cancels_the_closure() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.reopened", "T1", T0 + minutes(12)),
            stories.resolved("T1", T0 + minutes(10)),
        ],
        now=T0 + minutes(13),
    )
    assert state is not None
    assert kinds_sent(tick(state, T0 + minutes(13) + GRACE)) == []


def test_an_assignment_names_the_new_agent_in_later_messages() -> None:
    other = {"name": "Priya Shah", "team": "billing", "email": "priya@example.com"}
    state, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.assigned", "T1", T0 + minutes(1), agent=other),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(2),
                to_status="in_progress",
                note="Checking the charge",
            ),
        ]
    )
    assert state is not None and state.agent is not None and state.agent.name == "Priya Shah"
    [update] = outcomes[2].notifications
    assert update.context["agent"] == {"name": "Priya Shah"}
    assert update.context["milestone"]["text"] == "Checking the charge"


def test_updated_preferences_shape_the_next_message() -> None:
    spanish = stories.customer(language="es", email="amara.es@example.net")
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.event("customer.preferences_updated", "T1", T0 + minutes(1), customer=spanish),
            stories.event(
                "ticket.status_changed", "T1", T0 + minutes(2), to_status="on_hold", note="Esperamos al banco"
            ),
        ]
    )
    [update] = outcomes[2].notifications
    assert (update.locale, update.recipient) == ("es", "amara.es@example.net")


def test_what_a_reader_changes_on_their_page_shapes_the_next_message_and_nothing_else() -> None:
    texting = stories.customer(phone="+14155550123", consent={"email": True, "sms": False})
    state, outcomes = run(
        [
            stories.created("T1", urgent=True, customer=texting),
            stories.event(
                "customer.preferences_updated",
                "T1",
                T0 + minutes(1),
                changes={
                    "preferred_channel": "sms",
                    "language": "fr",
                    "quiet_hours": {"start": "21:00", "end": "07:00"},
                },
            ),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(2),
                to_status="on_hold",
                note="Nous attendons la banque",
            ),
        ]
    )
    [update] = outcomes[2].notifications
    assert (update.channel, update.locale, update.recipient) == ("sms", "fr", "+14155550123")
    assert state is not None and state.customer is not None
    customer = state.customer
    assert customer.consent.sms and customer.consent.email, "choosing texts is asking for them"
    assert (customer.name, customer.email, customer.timezone) == (
        "Amara Okafor",
        "amara@example.net",
        "Europe/London",
    )
    assert customer.quiet_hours is not None and customer.quiet_hours.start.hour == 21
    assert "preferences changed by the reader: consent, language, preferred_channel, quiet_hours" in [
        line.reason for line in outcomes[1].decisions
    ]


def test_a_reader_can_drop_their_quiet_hours_and_a_contact_changes_only_their_own() -> None:
    quiet = stories.customer(quiet_hours={"start": "22:00", "end": "08:00"})
    vp = {"name": "Ken Ito", "email": "ken@example.jp", "role": "stakeholder", "language": "ja"}
    state, _ = run(
        [
            stories.created("T1", urgent=True, customer=quiet),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(1), contacts=[vp]),
        ]
    )
    assert state is not None
    key = state.contacts[0].key
    state, _ = run(
        [
            stories.created("T1", urgent=True, customer=quiet),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(1), contacts=[vp]),
            stories.event(
                "customer.preferences_updated", "T1", T0 + minutes(2), changes={"no_quiet_hours": True}
            ),
            stories.event(
                "customer.preferences_updated",
                "T1",
                T0 + minutes(3),
                changes={"contact": key, "language": "en"},
            ),
        ]
    )
    assert state is not None and state.customer is not None
    assert state.customer.quiet_hours is None and state.customer.language == "en"
    assert [c.language for c in state.contacts] == ["en"]


def test_a_reader_who_pauses_this_tickets_updates_hears_only_what_answers_or_closes_it() -> None:
    vp = {"name": "Ken Ito", "email": "ken@example.jp", "role": "stakeholder"}
    setup = [
        stories.created("T1", urgent=True),
        stories.event("ticket.contacts_updated", "T1", T0 + minutes(1), contacts=[vp]),
        stories.event(
            "customer.preferences_updated", "T1", T0 + minutes(2), changes={"updates_paused": True}
        ),
    ]

    def on_hold(at: int) -> dict[str, object]:
        return stories.event(
            "ticket.status_changed", "T1", T0 + minutes(at), to_status="on_hold", note=f"step {at}"
        )

    state, outcomes = run(
        [
            *setup,
            on_hold(3),
            stories.event(
                "customer.preferences_updated", "T1", T0 + minutes(4), changes={"updates_paused": False}
            ),
            stories.event("ticket.status_changed", "T1", T0 + minutes(5), to_status="in_progress", note="x"),
            stories.event(
                "customer.preferences_updated", "T1", T0 + minutes(6), changes={"updates_paused": True}
            ),
            stories.resolved("T1", T0 + minutes(7)),
        ]
    )
    assert state is not None
    assert "preferences changed by the reader: updates paused" in [d.reason for d in outcomes[2].decisions]
    paused = outcomes[3]
    assert [(n.kind, n.contact) for n in paused.notifications] == [
        ("milestone_update", state.contacts[0].key)
    ]
    assert any(
        d.outcome == "suppress" and "paused updates about this ticket on their preference page" in d.reason
        for d in paused.decisions
    )
    assert "updates resumed" in outcomes[4].decisions[-1].reason
    assert [(n.kind, n.contact) for n in outcomes[5].notifications] == [
        ("milestone_update", None),
        ("milestone_update", state.contacts[0].key),
    ]
    closing = tick(state, T0 + minutes(7) + GRACE)
    assert [n.kind for n in closing.notifications if n.contact is None] == ["closure_summary"]
    assert state.updates_paused_for == ["customer"]


def test_a_contact_pauses_only_their_own_updates_and_leaving_the_ticket_ends_the_pause() -> None:
    vp = {"name": "Ken Ito", "email": "ken@example.jp", "role": "stakeholder"}
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(1), contacts=[vp]),
        ]
    )
    assert state is not None
    key = state.contacts[0].key
    state, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(1), contacts=[vp]),
            stories.event(
                "customer.preferences_updated",
                "T1",
                T0 + minutes(2),
                changes={"contact": key, "updates_paused": True},
            ),
            stories.event("ticket.status_changed", "T1", T0 + minutes(3), to_status="on_hold", note="x"),
        ]
    )
    assert state is not None and state.updates_paused_for == [f"contact:{key}"]
    assert [(n.kind, n.contact) for n in outcomes[3].notifications] == [("milestone_update", None)]
    forget = parse_event(
        stories.dumps(stories.event("heard.forget", "T1", T0 + minutes(4), contact=key)), internal=True
    )
    assert decide(state, forget, T0 + minutes(4), RULES).state.updates_paused_for == []


def test_only_milestone_statuses_are_told_to_the_customer() -> None:
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.status_changed", "T1", T0 + minutes(1), to_status="triage"),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(2),
                to_status="escalated",
                note="A specialist has it",
            ),
            stories.event("ticket.status_changed", "T1", T0 + minutes(3), to_status="on_hold"),
        ]
    )
    assert kinds_sent(outcomes[1]) == [] and kinds_sent(outcomes[2]) == ["milestone_update"]
    # A status without the help desk's note would be an update with nothing in it.
    assert kinds_sent(outcomes[3]) == []
    assert "with no note: nothing to tell the customer" in outcomes[3].decisions[-1].reason


def test_a_reply_with_a_milestone_updates_the_customer_with_its_words_and_next_step() -> None:
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.reply(
                "T1",
                T0 + minutes(5),
                milestone={"text": "Found it"},
                next_milestone={"text": "Courier slot", "due_at": stories.iso(T0 + minutes(90))},
            ),
        ]
    )
    [update] = outcomes[1].notifications
    assert update.kind == "milestone_update" and update.context["milestone"]["text"] == "Found it"
    assert update.context["next_milestone"]["text"] == "Courier slot"


@pytest.mark.parametrize("story", ["before created", "on a resolved ticket"])
def test_a_refused_promise_leaves_no_promise_behind(story: str) -> None:
    promise = stories.promised("T1", T0 + minutes(20), T0 + timedelta(hours=3))
    events = (
        [promise]
        if story == "before created"
        else [stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(10)), promise]
    )
    state, _ = run(events)
    assert state is not None and state.promises == {}
    assert not [item for item in state.scheduled if item.kind.startswith("checkpoint_")]


def test_a_repeated_promise_changes_nothing_and_a_new_time_renegotiates() -> None:
    due = T0 + timedelta(hours=3)
    state, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.promised("T1", T0 + minutes(5), due),
            stories.promised("T1", T0 + minutes(6), due, eid="same-again"),
        ]
    )
    assert state is not None and state.promises["P1"].status == "pending"
    assert kinds_sent(outcomes[2]) == []
    later = stories.promised("T1", T0 + minutes(7), due + timedelta(hours=1), eid="moved")
    state, outcomes = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), due), later]
    )
    assert state is not None and state.promises["P1"].due_at == due + timedelta(hours=1)
    assert kinds_sent(outcomes[2]) == ["milestone_update"]


def test_no_nudge_when_the_promise_is_made_inside_the_nudge_lead() -> None:
    lead = timedelta(seconds=RULES.policy.nudge_lead_seconds)
    due = T0 + timedelta(hours=3)
    state, _ = run([stories.created("T1", urgent=True), stories.promised("T1", due - lead + minutes(1), due)])
    assert state is not None
    assert sorted(item.kind for item in state.scheduled if item.promise_id == "P1") == [
        "checkpoint_escalation",
        "checkpoint_holding",
    ]


def test_a_reply_exactly_at_the_due_time_keeps_the_promise_on_time() -> None:
    due = T0 + timedelta(hours=3)
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.promised("T1", T0 + minutes(5), due),
            stories.reply("T1", due),
        ]
    )
    assert state is not None and state.promises["P1"].status == "kept"


# ------------------------------------------------------------------ the contract's limits
def created_with(**fields: object) -> bytes:
    return json.dumps({**stories.created("T1"), **fields}).encode()


def test_producers_cannot_send_internal_timer_events() -> None:
    timer = stories.event("heard.timer_due", "T1", T0, due_at=stories.iso(T0))
    with pytest.raises(InvalidEvent, match=r"unknown event type 'heard\.timer_due'"):
        parse_event(stories.dumps(timer))
    assert parse_event(stories.dumps(timer), internal=True).type == "heard.timer_due"


@pytest.mark.parametrize(
    ("field", "ok", "too_long"),
    [
        ("name", "N" * MAX_NAME, "N" * (MAX_NAME + 1)),
        ("pronouns", "p" * 40, "p" * 41),
        ("email", "a" * 242 + "@example.net", "a" * 243 + "@example.net"),
    ],
)
def test_customer_fields_stop_exactly_at_their_limits(field: str, ok: str, too_long: str) -> None:
    assert getattr(parse_event(created_with(customer=stories.customer(**{field: ok}))).customer, field) == ok
    with pytest.raises(InvalidEvent, match=f"customer.{field}"):
        parse_event(created_with(customer=stories.customer(**{field: too_long})))


def test_ticket_ids_and_texts_stop_exactly_at_their_limits() -> None:
    assert parse_event(created_with(ticket_id="T" * 128, subject="s" * MAX_TEXT)).ticket_id
    for fields in (
        {"ticket_id": "T" * 129},
        {"ticket_id": ""},
        {"subject": "s" * (MAX_TEXT + 1)},
        {"ticket_id": "T 1"},
    ):
        with pytest.raises(InvalidEvent):
            parse_event(created_with(**fields))


def test_an_event_over_the_size_limit_is_refused_with_its_size() -> None:
    raw = created_with(subject="s" * 1000)
    with pytest.raises(InvalidEvent, match=f"event is {len(raw)} bytes; the limit is 1000"):
        parse_event(raw, max_bytes=1000)
    assert parse_event(raw, max_bytes=len(raw))


def test_defaults_are_the_safe_ones() -> None:
    event = parse_event(created_with())
    assert event.urgent is False and event.customer.accessibility.plain_text_only is False
    assert event.customer.consent.email is True and event.customer.consent.sms is False


def test_the_acknowledgment_promises_a_first_reply_in_the_teams_working_time() -> None:
    sunday_evening = T0.replace(day=22, hour=18, minute=13)  # Sunday 22 November, UTC team
    _, [normal] = run([stories.created("T1", sunday_evening)], now=sunday_evening)
    _, [urgent] = run([stories.created("T2", sunday_evening, urgent=True)], now=sunday_evening)
    state = normal.state
    [ack] = tick(state, sunday_evening + timedelta(minutes=2)).notifications
    assert ack.context["next_milestone"]["due_at"] == "2026-11-23T13:00:00+00:00"
    [urgent_ack] = urgent.notifications
    assert urgent_ack.context["next_milestone"]["due_at"] == "2026-11-23T09:30:00+00:00"


def test_a_closed_tickets_data_is_erased_after_its_retention_unless_reopened() -> None:
    retention = timedelta(days=RULES.policy.closed_ticket_retention_days)
    closed_at = T0 + minutes(20)
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.resolved("T1", T0 + minutes(10)),
            stories.event("ticket.closed", "T1", closed_at),
        ]
    )
    assert state is not None and state.forget_at == closed_at + retention
    assert tick(state, closed_at + retention - minutes(1)).forget is False
    erased = tick(state, closed_at + retention)
    assert erased.forget and any(d.outcome == "erase" for d in erased.decisions)
    reopened, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.closed", "T1", closed_at),
            stories.event("ticket.reopened", "T1", closed_at + minutes(5)),
        ]
    )
    assert reopened is not None and reopened.forget_at is None
    assert tick(reopened, closed_at + retention).forget is False


def test_an_erasure_request_is_internal_only_and_erases_at_once() -> None:
    from heard.streams.policy.decide import decide

    forget = stories.event("heard.forget", "T1", T0 + minutes(1))
    with pytest.raises(InvalidEvent):
        parse_event(stories.dumps(forget))  # producers of ticket-events cannot send it
    state, _ = run([stories.created("T1", urgent=True)])
    outcome = decide(state, parse_event(stories.dumps(forget), internal=True), T0 + minutes(1), RULES)
    assert outcome.forget and outcome.state.scheduled == []


def assigned(at_minutes: float, name: str, team: str, **fields: object) -> dict[str, object]:
    return stories.event(
        "ticket.assigned",
        "T1",
        T0 + minutes(at_minutes),
        eid=f"a-{name}",
        agent={"name": name, "team": team},
        **fields,
    )


def test_transfers_are_counted_and_acknowledged_once_naming_the_owner() -> None:
    status = {"to_status": "in_progress", "note": "Checking the charge"}
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            assigned(1, "Ana", "support"),
            assigned(2, "Ben", "payments"),
            assigned(3, "Cleo", "billing", owner=True),
            stories.event("ticket.status_changed", "T1", T0 + minutes(4), **status),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(5),
                to_status="on_hold",
                note="Waiting for the bank",
            ),
        ]
    )
    [first] = outcomes[4].notifications
    assert first.context["transfers"] == {"count": 2, "acknowledge": True}
    assert first.context["owner"] == {"name": "Cleo", "new": False}
    [second] = outcomes[5].notifications
    assert second.context["transfers"]["acknowledge"] is False  # told once


def test_the_owner_follows_what_agents_do_unless_one_is_named() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=None),
            assigned(1, "Ana", "support"),
            assigned(2, "Ben", "support"),
        ]
    )
    # Nobody has acted yet: the latest assignee looks after it.
    assert state is not None and state.owner is not None and state.owner.name == "Ben"
    assert state.transfers == 0  # same team: not a transfer
    aisha = {"name": "Aisha Rahman", "team": "support", "email": "aisha@example.com"}
    state, _ = run_from(
        state,
        [stories.event("ticket.agent_reply", "T1", T0 + minutes(3), eid="r1", agent=aisha, public=True)],
    )
    assert state.owner is not None and state.owner.name == "Aisha Rahman"
    assert not state.owner_news  # her own reply told the customer who is on it
    named = {"name": "Jack Murphy", "team": "support"}
    state, _ = run_from(
        state, [stories.event("ticket.assigned", "T1", T0 + minutes(4), eid="a3", agent=named, owner=True)]
    )
    assert state.owner is not None and state.owner.name == "Jack Murphy" and state.owner_news
    state, _ = run_from(
        state, [stories.promised("T1", T0 + minutes(5), T0 + minutes(90), agent=aisha, eid="p1")]
    )
    assert state.owner.name == "Jack Murphy"  # named owner: only another naming changes it


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "we understand you are worried that the flowers miss the party"),
        ("es", "entendemos que te preocupa que las flores no lleguen a la fiesta"),
        ("fr", "nous comprenons que vous craignez que les fleurs n'arrivent pas à temps"),
        ("de", "wir verstehen Ihre Sorge, dass die Blumen zu spät kommen"),
    ],
)
def test_the_customers_concern_is_named_in_their_words_and_never_invented(locale: str, words: str) -> None:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    concern = words.split("worried ")[-1].split("preocupa ")[-1].split("craignez ")[-1].split("Sorge, ")[-1]
    _, [created] = run(
        [stories.created("T1", urgent=True, concern=concern, customer=stories.customer(language=locale))]
    )
    [ack] = created.notifications
    renderer = Renderer(REPO / "templates")
    text = renderer.render("acknowledgment", "email", locale, "UTC", ack.context).text
    assert words in text
    _, [plain] = run([stories.created("T2", urgent=True, customer=stories.customer(language=locale))])
    [ack] = plain.notifications
    assert ack.context["concern"] is None
    text = renderer.render("acknowledgment", "email", locale, "UTC", ack.context).text
    assert concern not in text


# ------------------------------------------------------------------ the decision log
# `heard explain` reads these lines: every rule says what it did and why. One story through
# most of the policy and the promise ladder, line by line.
STORY_DECISIONS = [
    ("created", "schedule", "acknowledgment", "acknowledge after 60 s unless an agent replies first"),
    (
        "created",
        "schedule",
        "checkpoint",
        "first reply promised by 2026-11-20T14:00:00+00:00; "
        "the team is nudged before it, the lead and the customer hear if it passes without one",
    ),
    ("m1", "skip", "acknowledgment", "an acknowledgment is already waiting to be sent"),
    ("promised", "send", "acknowledgment", "acknowledgment to the customer by email"),
    ("promised", "record", "checkpoint", "first-reply watch replaced by promise P1"),
    ("promised", "record", "checkpoint", "promise P1 pending until 2026-11-20T13:00:00+00:00"),
    (
        "promised",
        "schedule",
        "checkpoint_nudge",
        "checkpoint_nudge for promise P1 at 2026-11-20T12:30:00+00:00",
    ),
    (
        "promised",
        "schedule",
        "checkpoint_escalation",
        "checkpoint_escalation for promise P1 at 2026-11-20T13:00:00+00:00",
    ),
    (
        "promised",
        "schedule",
        "checkpoint_holding",
        "checkpoint_holding for promise P1 at 2026-11-20T13:00:00+00:00",
    ),
    (
        "promised",
        "defer",
        "milestone_update",
        "the customer heard from us 0 s ago; the promise's news goes at 2026-11-20T10:12:00+00:00",
    ),
    ("same", "skip", "checkpoint", "same promise repeated; nothing changes"),
    ("moved", "cancel", "checkpoint_nudge", "promise P1 settled"),
    ("moved", "cancel", "checkpoint_escalation", "promise P1 settled"),
    ("moved", "cancel", "checkpoint_holding", "promise P1 settled"),
    ("moved", "record", "checkpoint", "promise P1 renegotiated by P1"),
    ("moved", "record", "checkpoint", "promise P1 pending until 2026-11-20T14:00:00+00:00"),
    ("moved", "schedule", "checkpoint_nudge", "checkpoint_nudge for promise P1 at 2026-11-20T13:30:00+00:00"),
    (
        "moved",
        "schedule",
        "checkpoint_escalation",
        "checkpoint_escalation for promise P1 at 2026-11-20T14:00:00+00:00",
    ),
    (
        "moved",
        "schedule",
        "checkpoint_holding",
        "checkpoint_holding for promise P1 at 2026-11-20T14:00:00+00:00",
    ),
    ("moved", "send", "milestone_update", "milestone_update to the customer by email"),
    ("triage", "record", None, "status is now 'triage'; not one customers are told of"),
    # Sam made the promise and owned the ticket; Priya is assigned (no one named owner), then
    # Sam replies publicly: the owner follows what agents do.
    ("assigned", "record", None, "Priya owns the ticket now (assigned; Sam Reyes did)"),
    ("assigned", "record", None, "ticket assigned; 0 change(s) of team so far; this agent owns it now"),
    ("reply", "record", None, "Sam Reyes owns the ticket now (replied publicly; Priya did)"),
    ("reply", "cancel", "checkpoint_nudge", "promise P1 settled"),
    ("reply", "cancel", "checkpoint_escalation", "promise P1 settled"),
    ("reply", "cancel", "checkpoint_holding", "promise P1 settled"),
    ("reply", "record", "checkpoint", "promise P1 kept"),
    ("resolved", "schedule", "closure_summary", "closure summary held 900 s in case the ticket reopens"),
    ("reopened", "cancel", "closure_summary", "ticket reopened during the closure grace period"),
    (
        "resolved-again",
        "schedule",
        "closure_summary",
        "closure summary held 900 s in case the ticket reopens",
    ),
    (
        "closed",
        "record",
        None,
        "ticket closed: its data is erased at 2026-12-20T10:11:00+00:00 unless it is reopened",
    ),
    ("closed", "schedule", "closure_summary", "ticket closed: closure summary released now"),
    ("closed", "send", "closure_summary", "closure_summary to the customer by email"),
    ("timer", "erase", None, "ticket data erased: the closed ticket's retention period has passed"),
]


def test_the_decision_log_says_what_each_rule_did_and_why() -> None:
    due = T0 + timedelta(hours=3)
    events = [
        stories.created("T1", eid="created"),
        stories.event("ticket.customer_message", "T1", T0 + minutes(0.5), eid="m1"),
        stories.promised("T1", T0 + minutes(2), due, eid="promised"),
        stories.promised("T1", T0 + minutes(3), due, eid="same"),
        stories.promised(
            "T1", T0 + minutes(4), due + timedelta(hours=1), eid="moved", reason="the courier is late"
        ),
        stories.event("ticket.status_changed", "T1", T0 + minutes(5), eid="triage", to_status="triage"),
        stories.event(
            "ticket.assigned",
            "T1",
            T0 + minutes(6),
            eid="assigned",
            agent={"name": "Priya", "team": "billing"},
        ),
        stories.reply("T1", T0 + minutes(7), eid="reply"),
        stories.resolved("T1", T0 + minutes(8), eid="resolved"),
        stories.event("ticket.reopened", "T1", T0 + minutes(9), eid="reopened"),
        stories.resolved("T1", T0 + minutes(10), eid="resolved-again"),
        stories.event("ticket.closed", "T1", T0 + minutes(11), eid="closed"),
    ]
    state, outcomes = run(events)
    assert state is not None
    erased = tick(state, T0 + minutes(11) + timedelta(days=30))
    logged = [
        (event["id"], d.outcome, d.kind, d.reason)
        for event, outcome in zip(events, outcomes, strict=True)
        for d in outcome.decisions
    ]
    logged += [("timer", d.outcome, d.kind, d.reason) for d in erased.decisions]
    assert logged == STORY_DECISIONS


# ------------------------------------------------------------------ branches coverage found open
def test_a_language_chain_with_nothing_available_ends_at_the_default_locale() -> None:
    from heard.streams.policy.step import Rules, writing_locale

    rules = Rules(policy=RULES.policy, template_locales={"acknowledgment": ("de",)})
    assert writing_locale("ja", "acknowledgment", rules) == ("en", ["ja", "en"])


def test_events_older_than_the_status_do_not_move_it_back() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.closed", "T1", T0 + minutes(10), eid="closed"),
            stories.event("ticket.reopened", "T1", T0 + minutes(5), eid="old-reopen"),
            stories.created("T1", T0 + minutes(1), eid="late-created", urgent=True),
            stories.event("ticket.closed", "T1", T0 + minutes(2), eid="old-close"),
        ]
    )
    assert state is not None and state.status == "closed" and state.status_at == T0 + minutes(10)


def test_a_customer_message_the_agent_already_answered_gets_no_acknowledgment() -> None:
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.reply("T1", T0 + minutes(10)),
            stories.event("ticket.customer_message", "T1", T0 + minutes(5), eid="m"),
        ],
        now=T0 + minutes(11),
    )
    assert [d.reason for d in outcomes[2].decisions] == ["an agent already replied after this message"]


def test_an_internal_note_is_recorded_and_tells_the_customer_nothing() -> None:
    _, outcomes = run(
        [stories.created("T1", urgent=True), stories.reply("T1", T0 + minutes(5), public=False)]
    )
    assert outcomes[1].notifications == []
    assert [d.reason for d in outcomes[1].decisions] == ["internal note: nothing goes to the customer"]


def test_a_status_change_can_set_the_next_milestone() -> None:
    nxt = {"text": "Courier slot", "due_at": stories.iso(T0 + minutes(90))}
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.event(
                "ticket.status_changed", "T1", T0 + minutes(5), to_status="triage", next_milestone=nxt
            ),
        ]
    )
    assert state is not None and state.next_milestone is not None
    assert state.next_milestone.text == "Courier slot"


def test_a_message_before_the_ticket_is_known_waits_and_a_reply_cancels_its_ack() -> None:
    early = stories.event("ticket.customer_message", "T1", T0, eid="early")
    state, [outcome] = run([early])
    assert state is not None and outcome.notifications == []
    later = tick(state, T0 + minutes(5))
    assert later.notifications == []
    _, outcomes = run([stories.created("T1"), stories.reply("T1", T0 + minutes(0.5))])
    assert [n for o in outcomes for n in o.notifications] == []


def test_a_change_of_owner_is_told_once_in_the_next_update() -> None:
    first = {"name": "Sam Reyes", "team": "parcels", "id": "a-1"}
    second = {"name": "Aisha Khan", "team": "parcels", "id": "a-2"}
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.assigned", "T1", T0 + minutes(1), eid="a1", agent=first),
            stories.reply("T1", T0 + minutes(2), eid="r1", milestone={"text": "Found it."}),
            stories.event("ticket.assigned", "T1", T0 + minutes(3), eid="a2", agent=second, owner=True),
            stories.reply("T1", T0 + minutes(4), eid="r2", milestone={"text": "Booked it."}),
            stories.reply("T1", T0 + minutes(5), eid="r3", milestone={"text": "On its way."}),
        ]
    )
    owners = [n.context["owner"] for o in outcomes for n in o.notifications if n.kind == "milestone_update"]
    assert owners == [
        {"name": "Sam Reyes", "new": False},
        {"name": "Aisha Khan", "new": True},
        {"name": "Aisha Khan", "new": False},
    ]


def test_heards_emails_reference_the_customers_first_email_and_their_latest() -> None:
    """The Message-IDs a help desk gives: the first email is the conversation's root, the
    latest the one a reply threads under; a repeat changes nothing, and a ticket created
    after a customer's message puts its own first."""
    from heard.streams.policy.decide import remember_thread

    first, second, third = "<m1@mail.example>", "<m2@mail.example>", "<m3@mail.example>"
    state, _ = run([stories.created("T1", message_id=first)])
    assert state is not None and state.customer_message_ids == [first]
    told: list[list[str]] = []
    steps = (
        (second, [first, second]),
        (third, [first, third]),
        (third, [first, third]),
        (first, [first, third]),
    )
    for n, (message_id, expected) in enumerate(steps):
        event = stories.event(
            "ticket.customer_message",
            "T1",
            T0 + minutes(5),
            eid=f"m-{n}",
            message_id=message_id,
            excerpt="Any news?",
        )
        outcome = decide(state, parse_event(stories.dumps(event)), T0 + minutes(5), RULES)
        told += [note.context["ticket"]["references"] for note in outcome.notifications]
        state = outcome.state
        assert state is not None and state.customer_message_ids == expected, message_id
    later = state.model_copy(update={"customer_message_ids": [second]})
    remember_thread(later, first, first=True)
    assert later.customer_message_ids == [first, second]
    # Through the policy: the help desk's message event arrives before the ticket's.
    early = stories.event("ticket.customer_message", "T2", T0, eid="m-early", message_id=second, excerpt="Hi")
    before, _ = run([early, stories.created("T2", T0 + minutes(1), message_id=first)])
    assert before is not None and before.customer_message_ids == [first, second]
    assert told == [[first]], (
        "the acknowledgment, decided when the ticket began, threads under its first email"
    )


def test_a_paused_reader_gets_no_holding_update_when_a_promise_breaks_and_the_lead_still_hears() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.event(
                "customer.preferences_updated", "T1", T0 + minutes(2), changes={"updates_paused": True}
            ),
            stories.promised("T1", T0 + minutes(3), T0 + minutes(60)),
        ]
    )
    assert state is not None
    broken = tick(state, T0 + minutes(61))
    sent = [(n.kind, n.audience) for n in broken.notifications]
    assert ("checkpoint_escalation", "lead") in sent
    assert ("checkpoint_holding", "customer") not in sent
    assert any(
        d.outcome == "suppress"
        and d.kind == "checkpoint_holding"
        and "paused updates about this ticket" in d.reason
        for d in broken.decisions
    )


@pytest.mark.parametrize(
    ("asked", "kind"),
    [
        (
            stories.event("customer.preferences_requested", "T1", T0 + minutes(20), via="sms"),
            "preferences_link",
        ),
        (
            stories.event(
                "ticket.answer_unclear",
                "T1",
                T0 + minutes(20),
                offer_id="O1",
                via="sms",
                text="maybe the blue",
            ),
            "options_unclear",
        ),
    ],
)
def test_an_answer_to_the_customers_own_words_goes_to_them_alone(asked: dict[str, object], kind: str) -> None:
    """A requester hears all a customer does, but not a reply to the customer's own words
    (their keyword, their unclear answer): that is the customer's alone."""
    requester = {"name": "Rui Req", "email": "rui@example.com", "role": "requester", "id": "c-rui"}
    texting = stories.customer(phone="+14155550123", consent={"email": True, "sms": True})
    state, _ = run(
        [
            stories.created("T1", urgent=True, customer=texting, contacts=[requester]),
            stories.offered("T1", T0 + minutes(5)),
        ]
    )
    assert state is not None
    answered = decide(state, parse_event(stories.dumps(asked)), T0 + minutes(20), RULES)
    assert [(n.audience, n.contact) for n in answered.notifications if n.kind == kind] == [("customer", None)]


def test_a_reply_written_before_the_customers_follow_up_leaves_that_follow_ups_acknowledgment() -> None:
    """Events reach heard out of order: an agent's reply written at 10:05 and read after the
    customer's 10:10 message answers what came before it, not the later message, whose
    acknowledgment still goes."""
    follow_up = stories.event(
        "ticket.customer_message", "T1", T0 + minutes(10), eid="cm", excerpt="Any news?"
    )
    state, _ = run([stories.created("T1"), follow_up])
    assert state is not None
    replied = decide(
        state, parse_event(stories.dumps(stories.reply("T1", T0 + minutes(5)))), T0 + minutes(11), RULES
    )
    assert replied.state is not None
    assert [(i.kind, i.trigger_at) for i in replied.state.scheduled if i.kind == "acknowledgment"] == [
        ("acknowledgment", T0 + minutes(10))
    ]
    assert not any(d.outcome == "cancel" and d.kind == "acknowledgment" for d in replied.decisions)


def test_a_link_asked_for_by_a_contact_no_longer_on_the_ticket_is_refused_at_once() -> None:
    asked = stories.event(
        "customer.preferences_requested", "T1", T0 + minutes(20), via="sms", contact="c-gone"
    )
    state, outcomes = run([stories.created("T1", urgent=True), asked])
    assert state is not None
    assert [(d.outcome, d.reason) for d in outcomes[-1].decisions if d.kind == "preferences_link"] == [
        ("skip", "the contact who asked is no longer on the ticket")
    ]
    assert not any(item.kind == "preferences_link" for item in state.scheduled)


def test_a_reopening_older_than_the_resolution_leaves_the_closure_summary_to_go() -> None:
    """Read late, a reopening written before the ticket was resolved is history: the
    resolution after it stands, and its closure summary still goes."""
    state, _ = run([stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(10))])
    assert state is not None
    assert any(item.kind == "closure_summary" for item in state.scheduled)
    reopened = stories.event("ticket.reopened", "T1", T0 + minutes(5), eid="old-reopen")
    later = decide(state, parse_event(stories.dumps(reopened)), T0 + minutes(11), RULES)
    assert later.state is not None
    assert any(item.kind == "closure_summary" for item in later.state.scheduled)
    assert not any(d.outcome == "cancel" and d.kind == "closure_summary" for d in later.decisions)


def test_a_reply_read_before_its_ticket_skips_the_acknowledgment_and_says_which() -> None:
    reply = stories.reply("T1", T0 + minutes(1))
    _, outcomes = run([reply, stories.created("T1", T0)])
    assert ("skip", "acknowledgment", "a real agent reply landed first; no acknowledgment needed") in [
        (d.outcome, d.kind, d.reason) for d in outcomes[-1].decisions
    ]


@pytest.mark.parametrize("urgent", [True, False])
def test_a_customers_message_carries_the_tickets_urgency(urgent: bool) -> None:
    state, outcomes = run([stories.created("T1", urgent=urgent)])
    assert state is not None
    sent = [*outcomes[0].notifications, *tick(state, T0 + minutes(30)).notifications]
    [ack] = [n for n in sent if n.kind == "acknowledgment"]
    assert ack.urgent is urgent


def test_a_link_asked_for_through_the_help_desk_goes_by_the_channel_they_prefer() -> None:
    """Only a link asked for by text is answered by text; asked through the help desk, it goes
    as they prefer to be written to."""
    both = stories.customer(
        phone="+14155550123", consent={"email": True, "sms": True}, preferred_channel="email"
    )
    asked = stories.event("customer.preferences_requested", "T1", T0 + minutes(20), via="help_desk")
    _, outcomes = run([stories.created("T1", urgent=True, customer=both), asked])
    [link] = [n for n in outcomes[-1].notifications if n.kind == "preferences_link"]
    assert link.channel == "email"


def test_each_fate_of_a_customers_follow_up_is_an_acknowledgment_decision_with_its_reason() -> None:
    def message(at: int, eid: str) -> dict[str, object]:
        return stories.event("ticket.customer_message", "T1", T0 + minutes(at), eid=eid, excerpt="Any news?")

    _, answered = run([stories.created("T1", urgent=True), message(30, "m1")])
    assert (
        "schedule",
        "acknowledgment",
        "acknowledge the customer's message after 60 s unless an agent replies first",
    ) in [(d.outcome, d.kind, d.reason) for d in answered[-1].decisions]
    _, late = run(
        [stories.created("T1", urgent=True), stories.reply("T1", T0 + minutes(10)), message(5, "m2")]
    )
    assert ("skip", "acknowledgment", "an agent already replied after this message") in [
        (d.outcome, d.kind, d.reason) for d in late[-1].decisions
    ]
    closed = [
        stories.created("T1", urgent=True),
        stories.event("ticket.closed", "T1", T0 + minutes(20)),
        message(40, "m3"),
    ]
    _, after = run(closed)
    assert ("skip", "acknowledgment", "ticket is closed; the help desk reopens it if needed") in [
        (d.outcome, d.kind, d.reason) for d in after[-1].decisions
    ]


def test_a_status_update_naming_the_next_milestones_time_is_kept_like_a_promise() -> None:
    due = T0 + timedelta(hours=3)
    update = stories.event(
        "ticket.status_changed",
        "T1",
        T0 + minutes(5),
        to_status="in_progress",
        note="The part is ordered.",
        next_milestone={"text": "fitting the new part", "due_at": stories.iso(due)},
    )
    state, _ = run([stories.created("T1", urgent=True), update])
    assert state is not None
    [kept] = [p for p in state.promises.values() if p.status == "pending"]
    assert (kept.due_at, kept.what) == (due, "fitting the new part")


@pytest.mark.parametrize("urgent", [True, False])
def test_a_milestone_update_carries_the_replys_urgency(urgent: bool) -> None:
    reply = stories.reply("T1", T0 + minutes(5), urgent=urgent, milestone={"text": "The part has arrived."})
    _, outcomes = run([stories.created("T1", urgent=True), reply])
    [update] = [n for n in outcomes[-1].notifications if n.kind == "milestone_update"]
    assert update.urgent is urgent


def test_a_ticket_resolved_before_its_acknowledgment_says_why_each_step_ends() -> None:
    _, outcomes = run([stories.created("T1"), stories.resolved("T1", T0 + timedelta(seconds=30))])
    said = [(d.outcome, d.kind, d.reason) for d in outcomes[-1].decisions]
    assert ("cancel", "acknowledgment", "ticket resolved before the acknowledgment went out") in said
    assert ("record", "checkpoint", "ticket resolved: the closure summary is the reply") in said
