"""What each event writes into a ticket's state, field by field, and the boundaries the
rules compare on (equal times, a closed ticket, an urgent hold). Found by mutation testing:
each test here fails when one line of the policy is changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Decision, TicketState
from heard.streams.contract.stories import AGENT, T0, minutes
from heard.streams.policy.decide import decide
from tests.unit.test_policy import RULES, run

MILESTONE = {"text": "A courier update", "due_at": stories.iso(T0 + timedelta(hours=2))}


def applied(state: TicketState | None, raw: dict[str, Any]) -> tuple[TicketState, list[Decision]]:
    event = parse_event(stories.dumps(raw))
    outcome = decide(state, event, event.occurred_at, RULES)
    assert outcome.state is not None
    return outcome.state, outcome.decisions


def test_a_created_ticket_remembers_its_subject_agent_owner_milestone_and_status() -> None:
    state, _ = run(
        [stories.created("T1", agent=AGENT, next_milestone=MILESTONE, subject="Gift for Saturday")]
    )
    assert state is not None
    assert state.subject == "Gift for Saturday" and state.status == "open"
    assert state.agent is not None and state.agent.name == "Sam Reyes"
    assert state.owner is not None and state.owner.name == "Sam Reyes"
    assert state.next_milestone is not None and state.next_milestone.text == "A courier update"
    assert state.created_at == T0


def test_a_created_event_without_an_agent_keeps_the_one_assigned_before_it() -> None:
    state, _ = applied(
        None,
        stories.event("ticket.assigned", "T1", T0 - minutes(1), agent={"name": "Priya", "team": "billing"}),
    )
    state, _ = applied(state, stories.created("T1"))
    assert state.agent is not None and state.agent.name == "Priya"
    assert state.owner is not None and state.owner.name == "Priya"


def test_a_created_event_in_the_past_of_the_status_does_not_reopen_it() -> None:
    state, _ = applied(
        None, stories.event("ticket.status_changed", "T1", T0 + minutes(5), to_status="in_progress")
    )
    state, _ = applied(state, stories.created("T1"))
    assert state.status == "in_progress"
    # At the very same moment the created event does set it.
    state, _ = applied(None, stories.event("ticket.status_changed", "T2", T0, to_status="in_progress"))
    state, _ = applied(state, stories.created("T2"))
    assert state.status == "open"


def test_a_customer_message_is_remembered_and_a_closed_ticket_is_not_acknowledged() -> None:
    state, _ = run(
        [
            stories.created("T1"),
            stories.resolved("T1", T0 + minutes(5)),
            stories.event("ticket.closed", "T1", T0 + minutes(6)),
        ]
    )
    assert state is not None
    state, decisions = applied(
        state, stories.event("ticket.customer_message", "T1", T0 + minutes(30), eid="late")
    )
    assert state.last_customer_message_at == T0 + minutes(30)
    assert [(d.outcome, d.reason) for d in decisions] == [
        ("skip", "ticket is closed; the help desk reopens it if needed")
    ]
    assert not any(item.kind == "acknowledgment" for item in state.scheduled)


def test_a_message_before_the_ticket_is_known_schedules_nothing() -> None:
    state, decisions = applied(None, stories.event("ticket.customer_message", "T1", T0))
    assert state.scheduled == [] and state.last_customer_message_at == T0
    assert [d.reason for d in decisions] == [
        "customer message for a ticket not yet created; kept for ordering"
    ]


def test_a_public_reply_names_its_agent_and_concern_from_then_on() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.reply("T1", T0 + minutes(5), concern="that the gift is late"),
        ]
    )
    assert state is not None
    assert state.agent is not None and state.agent.name == "Sam Reyes"
    assert state.concern == "that the gift is late"
    # A later reply without a concern keeps the one named.
    state, _ = applied(state, stories.reply("T1", T0 + minutes(6), eid="r2"))
    assert state.concern == "that the gift is late"


def test_a_first_reply_exactly_at_the_target_is_on_time() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None and state.first_reply_due is not None
    state, decisions = applied(state, stories.reply("T1", state.first_reply_due))
    assert "first reply given on time" in [d.reason for d in decisions]


def test_a_reply_with_a_milestone_clears_the_milestone_it_reached() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True, next_milestone=MILESTONE),
            stories.reply("T1", T0 + minutes(5), milestone={"text": "The courier has it."}),
        ]
    )
    assert state is not None and state.next_milestone is None


def test_a_resolution_records_its_time_and_stops_a_waiting_acknowledgment() -> None:
    state, _ = run([stories.created("T1"), stories.resolved("T1", T0 + minutes(0.5))])
    assert state is not None
    assert state.resolved_at == T0 + minutes(0.5) and state.status == "resolved"
    assert not any(item.kind == "acknowledgment" for item in state.scheduled)


def test_a_reopen_sets_the_status_and_a_close_ends_the_first_reply_watch() -> None:
    state, _ = run(
        [
            stories.created("T1"),
            stories.resolved("T1", T0 + minutes(1)),
            stories.event("ticket.reopened", "T1", T0 + minutes(2)),
        ]
    )
    assert state is not None and state.status == "reopened"
    state, _ = run([stories.created("T2"), stories.event("ticket.closed", "T2", T0 + minutes(3))])
    assert state is not None and state.first_reply_due is None
    assert not any(item.context.get("promise") for item in state.scheduled)


def test_status_changes_at_the_same_moment_both_apply() -> None:
    state, _ = run(
        [
            stories.created("T1"),
            stories.event("ticket.status_changed", "T1", T0 + minutes(5), eid="a", to_status="on_hold"),
            stories.event("ticket.status_changed", "T1", T0 + minutes(5), eid="b", to_status="in_progress"),
        ]
    )
    assert state is not None and state.status == "in_progress"
    # A resolve, a reopen and a close at the moment of the last status still apply.
    for kind, status in (
        ("ticket.resolved", "resolved"),
        ("ticket.reopened", "reopened"),
        ("ticket.closed", "closed"),
    ):
        raw = (
            stories.resolved("T1", T0 + minutes(5), eid=kind)
            if kind == "ticket.resolved"
            else stories.event(kind, "T1", T0 + minutes(5), eid=kind)
        )
        state, _ = applied(state, raw)
        assert state.status == status


def test_an_urgent_acknowledgment_goes_in_the_same_step() -> None:
    _, [created] = run([stories.created("T1", urgent=True)])
    assert [n.kind for n in created.notifications] == ["acknowledgment"]
    assert created.notifications[0].decided_at == T0


def test_only_the_acknowledgment_words_the_first_reply() -> None:
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.event(
                "ticket.status_changed",
                "T1",
                T0 + minutes(20),
                to_status="in_progress",
                note="Checking the depot",
            ),
        ]
    )
    [update] = [n for n in outcomes[1].notifications if n.kind == "milestone_update"]
    assert update.context["next_milestone"] is None
    assert "summary" not in update.context


def test_the_applied_events_are_remembered_up_to_the_cap_and_the_oldest_forgotten() -> None:
    from heard.streams.contract.state import SEEN_EVENTS_KEPT

    state = TicketState(ticket_id="T1")
    for n in range(SEEN_EVENTS_KEPT + 3):
        assert not state.has_seen(f"e{n}")
        state.remember_event(f"e{n}")
        assert state.has_seen(f"e{n}")
    assert len(state.seen_event_ids) == SEEN_EVENTS_KEPT
    assert state.seen_event_ids[0] == "e3"
    assert not any(state.has_seen(f"e{n}") for n in range(3))
    assert state.has_seen("e3") and state.has_seen(f"e{SEEN_EVENTS_KEPT + 2}")


def test_what_was_seen_is_answered_from_the_list_itself_after_a_copy_decode_or_assignment() -> None:
    state = TicketState(ticket_id="T1")
    state.remember_event("a")
    copy = state.model_copy(deep=True)
    copy.remember_event("b")
    assert copy.has_seen("b") and not state.has_seen("b")
    decoded = TicketState.from_json(copy.to_json())
    assert decoded.has_seen("a") and decoded.has_seen("b")
    decoded.seen_event_ids = ["c", "d"]  # as many as before: the set must still be rebuilt
    assert decoded.has_seen("c") and not decoded.has_seen("a")


def test_the_seen_set_is_no_part_of_equality_and_a_shallow_copy_keeps_its_own_events() -> None:
    state = TicketState(ticket_id="T1")
    state.remember_event("a")
    decoded = TicketState.from_json(state.to_json())
    assert state.has_seen("a")  # the original's set is built; the decoded one's is not
    assert decoded == state
    decoded.remember_event("b")
    assert decoded != state
    shallow = state.model_copy()
    shallow.remember_event("c")
    assert shallow.has_seen("c") and not state.has_seen("c")
    assert state.seen_event_ids == ["a"] and shallow.seen_event_ids == ["a", "c"]
    state.remember_event("d")
    assert not shallow.has_seen("d") and state.has_seen("d") and not state.has_seen("c")
