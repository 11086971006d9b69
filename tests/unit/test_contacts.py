"""Every stakeholder hears how it goes: contacts on a ticket, each by their own channel,
language, timezone, quiet hours and consent, with one notification id each."""

from __future__ import annotations

from datetime import timedelta

from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.stories import T0, minutes
from heard.streams.policy.decide import decide
from tests.unit.test_choices import asked
from tests.unit.test_policy import RULES, kinds, run, tick

VP = {
    "id": "c-vp",
    "name": "Jorge Ruiz",
    "language": "es",
    "timezone": "Europe/Madrid",
    "phone": "+34612345679",
    "preferred_channel": "sms",
    "consent": {"email": True, "sms": True},
    "role": "stakeholder",
}
CTO = {
    "id": "c-cto",
    "name": "Heike Braun",
    "language": "de",
    "timezone": "Europe/Berlin",
    "email": "heike@example.de",
    "role": "stakeholder",
    # 10:00 UTC is 11:00 in Berlin: inside these quiet hours until 12:00 local.
    "quiet_hours": {"start": "10:30", "end": "12:00"},
}
OPS = {"id": "c-ops", "name": "Ops desk", "email": "ops@example.org", "role": "requester"}


def created_with_contacts() -> dict[str, object]:
    return stories.created("T1", contacts=[VP, CTO, OPS])


def test_a_milestone_reaches_every_contact_by_their_own_channel_and_language() -> None:
    _, outcomes = run(
        [created_with_contacts(), stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."})]
    )
    sent = [n for n in outcomes[-1].notifications if n.kind == "milestone_update"]
    assert [(n.kind, n.channel, n.recipient, n.locale, n.contact) for n in sent] == [
        ("milestone_update", "email", "amara@example.net", "en", None),
        ("milestone_update", "sms", "+34612345679", "es", "c-vp"),
        ("milestone_update", "email", "ops@example.org", "en", "c-ops"),
    ]
    assert sent[1].context["customer"]["greeting_name"] == "Jorge Ruiz"
    assert sent[1].timezone == "Europe/Madrid"
    assert len({n.notification_id for n in sent}) == 3


def test_a_contact_in_quiet_hours_gets_it_when_they_end_and_only_once() -> None:
    state, outcomes = run(
        [created_with_contacts(), stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."})]
    )
    assert state is not None
    assert any("a contact's quiet hours (stakeholder)" in d.reason for d in outcomes[-1].decisions)
    later = tick(state, T0 + timedelta(hours=1))  # 12:00 in Berlin
    assert [(n.kind, n.recipient, n.locale) for n in later.notifications] == [
        ("milestone_update", "heike@example.de", "de")
    ]
    assert tick(later.state, T0 + timedelta(hours=2)).notifications == []


def test_stakeholders_do_not_get_the_acknowledgment_or_the_options_and_requesters_do() -> None:
    _, outcomes = run([created_with_contacts(), stories.offered("T1", T0 + minutes(5))])
    assert [(n.kind, n.contact) for n in outcomes[-1].notifications] == [
        ("acknowledgment", None),
        ("acknowledgment", "c-ops"),
        ("options", None),
        ("options", "c-ops"),
    ]


def test_the_closure_goes_to_each_contact_and_asks_each_sms_contact_for_feedback() -> None:
    state, _ = run([created_with_contacts(), stories.resolved("T1", T0 + minutes(3))])
    assert state is not None
    closure = tick(state, T0 + minutes(18))
    assert [(n.recipient, n.contact) for n in closure.notifications if n.kind == "closure_summary"] == [
        ("amara@example.net", None),
        ("+34612345679", "c-vp"),
        ("ops@example.org", "c-ops"),
    ]
    assert [(q.phone, q.asks, q.contact) for q in asked(closure)] == [("+34612345679", "feedback", "c-vp")]
    # Heike's, held by her quiet hours, still goes when they end.
    later = tick(closure.state, T0 + timedelta(hours=1))
    assert kinds(later) == [("closure_summary", "email")]


def test_contacts_can_be_replaced_and_an_old_event_without_them_still_works() -> None:
    _, outcomes = run(
        [
            created_with_contacts(),
            stories.event("ticket.contacts_updated", "T1", T0 + minutes(1), contacts=[VP]),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
        ]
    )
    assert [n.contact for n in outcomes[-1].notifications if n.kind == "milestone_update"] == [None, "c-vp"]
    plain = parse_event(stories.dumps(stories.created("T2")))
    assert plain.contacts is None


def test_erasing_a_contact_removes_them_and_their_waiting_messages_and_keeps_the_ticket() -> None:
    state, _ = run(
        [created_with_contacts(), stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."})]
    )
    assert state is not None and any(item.contact == "c-cto" for item in state.scheduled)
    forget = parse_event(
        stories.dumps(
            stories.event("heard.forget", "T1", T0 + minutes(6), eid="forget-cto", contact="c-cto")
        ),
        internal=True,
    )
    out = decide(state, forget, T0 + minutes(6), RULES)
    assert not out.forget and [c.key for c in out.state.contacts] == ["c-vp", "c-ops"]
    assert not any(item.contact == "c-cto" for item in out.state.scheduled)
    assert tick(out.state, T0 + timedelta(hours=1)).notifications == []
    vp = parse_event(
        stories.dumps(stories.event("heard.forget", "T1", T0 + minutes(7), eid="forget-vp", contact="c-vp")),
        internal=True,
    )
    assert decide(out.state, vp, T0 + minutes(7), RULES).forgotten_phones == ["+34612345679"]


def test_the_customer_listed_again_as_a_contact_gets_each_message_once() -> None:
    again = {"name": "Amara Okafor", "email": "amara@example.net", "role": "requester"}
    _, outcomes = run(
        [
            stories.created("T1", contacts=[again, OPS, dict(OPS, id="ops-2")]),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "Found it."}),
        ]
    )
    updates = [n for n in outcomes[-1].notifications if n.kind == "milestone_update"]
    assert [(n.recipient, n.contact) for n in updates] == [
        ("amara@example.net", None),
        ("ops@example.org", "c-ops"),
    ]


def test_everyone_hears_of_a_new_owner_in_the_same_update_and_only_once() -> None:
    _, outcomes = run(
        [
            stories.created("T1", contacts=[VP]),
            stories.event(
                "ticket.assigned", "T1", T0 + minutes(1), eid="a1", agent={"name": "Sam Reyes", "id": "a-1"}
            ),
            stories.event(
                "ticket.assigned",
                "T1",
                T0 + minutes(2),
                eid="a2",
                agent={"name": "Aisha Khan", "id": "a-2"},
                owner=True,
            ),
            stories.reply("T1", T0 + minutes(3), eid="r1", milestone={"text": "Found it."}),
            stories.reply("T1", T0 + minutes(4), eid="r2", milestone={"text": "Booked it."}),
        ]
    )
    told = [
        [(n.contact, n.context["owner"]["new"]) for n in o.notifications if n.kind == "milestone_update"]
        for o in outcomes[-2:]
    ]
    assert told == [[(None, True), ("c-vp", True)], [(None, False), ("c-vp", False)]]


def test_a_first_promise_waiting_for_the_customer_waits_for_everyone() -> None:
    state, outcomes = run(
        [
            stories.created("T1", urgent=True, contacts=[VP]),
            stories.promised("T1", T0 + minutes(1), T0 + timedelta(hours=3)),
        ]
    )
    assert [n.kind for n in outcomes[-1].notifications] == []
    later = tick(state, T0 + minutes(10))
    assert [(n.kind, n.contact) for n in later.notifications] == [
        ("milestone_update", None),
        ("milestone_update", "c-vp"),
    ]


def test_a_contacts_holding_update_names_the_next_time_while_the_customer_sleeps() -> None:
    sleepy = stories.customer(quiet_hours={"start": "09:00", "end": "18:00"}, timezone="Europe/London")
    state, _ = run(
        [
            stories.created("T1", customer=sleepy, contacts=[VP]),
            stories.promised("T1", T0 + minutes(1), T0 + timedelta(hours=1)),
        ]
    )
    assert state is not None
    due = tick(state, T0 + timedelta(hours=1))
    [holding] = [n for n in due.notifications if n.kind == "checkpoint_holding"]
    assert holding.contact == "c-vp" and holding.context["next_update"] is not None
