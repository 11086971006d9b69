"""Every path of the promise ladder, read through the decision log it writes: what heard
did, and why, is the product's record for `heard explain` — so each line is asserted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Scheduled, TicketState
from heard.streams.contract.stories import T0, minutes
from heard.streams.policy.decide import decide
from heard.streams.policy.step import Outcome, Rules
from tests.unit.test_policy import RULES, run, tick

DUE = T0 + timedelta(hours=3)


def log(outcome: Outcome) -> list[tuple[str, str | None, str]]:
    return [(d.outcome, d.kind, d.reason) for d in outcome.decisions]


def promised() -> TicketState:
    state, _ = run(
        [
            stories.created("T1", urgent=True, agent=stories.AGENT),
            stories.promised("T1", T0 + minutes(5), DUE),
        ]
    )
    assert state is not None
    return state


def apply(state: TicketState, raw: dict[str, Any], rules: Rules = RULES) -> Outcome:
    event = parse_event(stories.dumps(raw))
    return decide(state, event, event.occurred_at, rules)


def test_a_promise_heard_cannot_track_is_skipped_and_says_why() -> None:
    _, unknown = run([stories.promised("T1", T0, DUE)])
    assert log(unknown[-1]) == [("skip", "checkpoint", "promise for a ticket heard has not seen created")]
    _, resolved = run(
        [
            stories.created("T1"),
            stories.resolved("T1", T0 + minutes(1)),
            stories.promised("T1", T0 + minutes(2), DUE),
        ]
    )
    assert log(resolved[-1]) == [("skip", "checkpoint", "promise on a resolved ticket is not tracked")]
    # A time equal to the moment it was made is already past: nothing to keep.
    _, now = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(2), T0 + minutes(2))]
    )
    assert log(now[-1])[-1] == (
        "skip",
        "checkpoint",
        "the promised time was already past when the promise was made",
    )
    assert now[-1].state.promises == {}


def test_a_backlog_past_the_due_time_skips_the_nudge_and_the_stale_announcement() -> None:
    out = tick(promised(), DUE + minutes(1))
    assert log(out) == [
        ("cancel", "milestone_update", "the promised time passed before it could be announced"),
        ("cancel", "checkpoint_nudge", "nudge released after the due time; the escalation takes over"),
        ("send", "checkpoint_escalation", "checkpoint_escalation to the lead by email"),
        (
            "schedule",
            "checkpoint",
            "the holding update promises news by 2026-11-20T13:31:00+00:00; "
            "the lead and the customer hear if nothing real reaches them by then",
        ),
        ("send", "checkpoint_holding", "checkpoint_holding to the customer by email"),
    ]
    assert out.state.promises["P1"].escalated is True
    assert out.state.promises["P1"].status == "broken"


def test_three_holding_updates_in_a_row_then_none_names_a_time() -> None:
    first = tick(promised(), DUE)  # an urgent ticket: the next word in 30 minutes
    assert (first.state.next_update_due, first.state.holding_updates_in_a_row) == (
        T0 + timedelta(hours=3, minutes=30),
        1,
    )
    [holding] = [n for n in first.notifications if n.kind == "checkpoint_holding"]
    assert holding.context["next_update"] == {"due_at": (T0 + timedelta(hours=3, minutes=30)).isoformat()}
    watched = [item for item in first.state.scheduled if item.context["promise"].get("next_update")]
    assert sorted(item.kind for item in watched) == ["checkpoint_escalation", "checkpoint_holding"]
    assert watched[0].context["promise"]["agent_name"] == "Sam Reyes"
    assert watched[0].context["promise"]["outside_team_hours"] is False
    second = tick(first.state, T0 + timedelta(hours=3, minutes=30))
    assert len([i for i in second.state.scheduled if i.context["promise"].get("next_update")]) == 2
    third = tick(second.state, T0 + timedelta(hours=4))
    assert (
        "record",
        "checkpoint",
        "3 holding updates in a row: this one names no next time; the lead has the ticket",
    ) in log(third)
    assert third.state.next_update_due is None and third.state.scheduled == []
    [last] = [n for n in third.notifications if n.kind == "checkpoint_holding"]
    assert last.context["next_update"] is None


def test_a_reply_ends_the_next_update_watch_and_keeps_the_broken_promise_late() -> None:
    first = tick(promised(), DUE)
    out = apply(first.state, stories.reply("T1", DUE + minutes(10)))
    assert log(out) == [
        ("record", "checkpoint", "next-update watch ended: an agent replied publicly"),
        ("record", "checkpoint", "promise P1 kept late"),
    ]
    assert out.state.scheduled == [] and out.state.holding_updates_in_a_row == 0
    assert out.state.promises["P1"].status == "kept_late"
    # Kept exactly at the moment it was broken counts too.
    at_break = apply(first.state, stories.reply("T1", DUE))
    assert at_break.state.promises["P1"].status == "kept"


def test_with_no_address_for_the_lead_the_escalation_is_suppressed_and_says_so() -> None:
    bare = Rules(policy=RULES.policy)
    state, _ = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), DUE)], rules=bare
    )
    assert state is not None
    out = tick(state, DUE, rules=bare)
    assert ("suppress", "checkpoint_escalation", "no address configured for the lead") in log(out)
    assert [n.kind for n in out.notifications] == ["checkpoint_holding"]


def test_a_step_left_by_an_older_promise_version_is_cancelled() -> None:
    # A rolling upgrade can leave a ladder step whose promise has since been replaced.
    state = promised()
    stale = Scheduled(
        kind="checkpoint_escalation",
        audience="lead",
        due_at=DUE,
        trigger_event_id="old",
        trigger_at=T0,
        promise_id="P1",
        promise_version=7,
        context={"promise": {"id": "P1", "what": "x", "due_at": DUE.isoformat()}},
    )
    holding = stale.model_copy(update={"kind": "checkpoint_holding", "audience": "customer"})
    state = state.model_copy(update={"scheduled": [stale, holding]})
    out = tick(state, DUE)
    assert log(out) == [
        ("cancel", "checkpoint_escalation", "promise replaced by a newer one"),
        ("cancel", "checkpoint_holding", "promise replaced by a newer one"),
    ]
    assert out.notifications == []


def test_a_promise_moved_tells_the_customer_its_words_and_from_when() -> None:
    state = promised()
    out = apply(
        state,
        stories.promised(
            "T1",
            T0 + minutes(30),
            DUE + timedelta(hours=1),
            eid="moved",
            customer_text="the delivery slot",
            reason="the courier is late",
        ),
    )
    [moved] = [n for n in out.notifications if n.kind == "milestone_update" and n.context.get("moved")]
    assert moved.context["milestone"]["text"] == "the delivery slot"
    assert moved.context["next_milestone"] == {
        "text": "the delivery slot",
        "due_at": (DUE + timedelta(hours=1)).isoformat(),
    }
    assert moved.context["moved"] == {
        "from": DUE.isoformat(),
        "to": (DUE + timedelta(hours=1)).isoformat(),
        "reason": "the courier is late",
        "promise_id": "P1",
        "version": 2,
    }


def test_the_first_promise_announcement_carries_the_agents_words() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.promised("T1", T0 + minutes(5), DUE, customer_text="the slot"),
        ]
    )
    assert state is not None
    [note] = tick(state, T0 + minutes(10)).notifications
    assert note.context["promised"]["text"] == "the slot"
    assert note.context["next_milestone"]["text"] == "the slot"


def test_the_first_reply_watch_escalates_then_a_late_reply_ends_it() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None and state.first_reply_due == T0 + timedelta(hours=4)
    acknowledged = tick(state, T0 + minutes(1))
    due = tick(acknowledged.state, T0 + timedelta(hours=4))
    assert [n.kind for n in due.notifications] == ["checkpoint_escalation", "checkpoint_holding"]
    assert due.state.first_reply_escalated is True
    late = apply(due.state, stories.reply("T1", T0 + timedelta(hours=4, minutes=5)))
    assert ("record", "checkpoint", "first reply given late") in log(late)
    assert late.state.first_reply_escalated is False and late.state.first_reply_due is None


def test_the_owner_is_nudged_not_the_last_agent_assigned() -> None:
    owner = {"name": "Olu Owner", "email": "olu@example.com", "team": "t"}
    other = {"name": "Bea Other", "email": "bea@example.com", "team": "t"}
    state, _ = run(
        [
            stories.created("T1"),
            stories.event("ticket.assigned", "T1", T0 + minutes(0.5), eid="own", agent=owner, owner=True),
            stories.event("ticket.assigned", "T1", T0 + minutes(1), eid="as", agent=other),
        ]
    )
    assert state is not None
    nudge = tick(tick(state, T0 + minutes(1)).state, T0 + timedelta(hours=3, minutes=30))
    assert [(n.kind, n.recipient) for n in nudge.notifications] == [("checkpoint_nudge", "olu@example.com")]
    first = tick(tick(state, T0 + minutes(1)).state, T0 + timedelta(hours=4))
    watched = [i for i in first.state.scheduled if i.context["promise"].get("next_update")]
    assert {i.context["promise"]["agent_name"] for i in watched} == {"Olu Owner"}


def test_a_promise_on_a_closed_ticket_is_not_tracked() -> None:
    _, closed = run(
        [
            stories.created("T1"),
            stories.event("ticket.closed", "T1", T0 + minutes(1), eid="cl"),
            stories.promised("T1", T0 + minutes(2), DUE),
        ]
    )
    assert log(closed[-1]) == [("skip", "checkpoint", "promise on a closed ticket is not tracked")]


def test_resolving_cancels_a_pending_promise_and_its_ladder() -> None:
    out = apply(promised(), stories.resolved("T1", T0 + minutes(30)))
    assert [line for line in log(out) if line[1] != "milestone_update"][:4] == [
        ("cancel", "checkpoint_nudge", "promise P1 settled"),
        ("cancel", "checkpoint_escalation", "promise P1 settled"),
        ("cancel", "checkpoint_holding", "promise P1 settled"),
        ("record", "checkpoint", "promise P1 cancelled: ticket resolved"),
    ]
    assert out.state.promises["P1"].status == "cancelled"
    assert [i.kind for i in out.state.scheduled] == ["closure_summary"]


def leftovers(state: TicketState, *items: Scheduled) -> TicketState:
    """A state holding steps a newer rule would have dropped (as after a rolling upgrade)."""
    return state.model_copy(update={"scheduled": list(items)})


def step_for(kind: str, audience: str, **context: Any) -> Scheduled:
    return Scheduled(
        kind=kind,
        audience=audience,
        due_at=DUE,
        trigger_event_id="left",
        trigger_at=T0,
        promise_id="P1",
        promise_version=1,
        context={"promise": {"id": "P1", "what": "x", "due_at": DUE.isoformat(), **context}},
    )


def test_ladder_steps_for_a_promise_already_kept_are_cancelled_with_its_status() -> None:
    kept = apply(promised(), stories.reply("T1", T0 + minutes(30))).state
    assert kept.promises["P1"].status == "kept"
    state = leftovers(
        kept,
        step_for("checkpoint_nudge", "agent"),
        step_for("checkpoint_escalation", "lead"),
        step_for("checkpoint_holding", "customer"),
    )
    out = tick(state, DUE)
    assert log(out) == [
        ("cancel", "checkpoint_nudge", "promise is kept"),
        ("cancel", "checkpoint_escalation", "promise is kept"),
        ("cancel", "checkpoint_holding", "promise is kept"),
    ]


def test_a_holding_update_alone_still_breaks_the_promise_it_speaks_for() -> None:
    state = leftovers(promised(), step_for("checkpoint_holding", "customer"))
    out = tick(state, DUE)
    assert out.state.promises["P1"].status == "broken"
    assert [n.kind for n in out.notifications] == ["checkpoint_holding"]


def test_watch_steps_left_after_the_watch_ended_are_cancelled_with_the_reason() -> None:
    base = promised().model_copy(update={"first_reply_due": None, "next_update_due": None})
    first = Scheduled(
        kind="checkpoint_escalation",
        audience="lead",
        due_at=DUE,
        trigger_event_id="w1",
        trigger_at=T0,
        context={"promise": {"id": "first-reply", "first_reply": True, "due_at": DUE.isoformat()}},
    )
    nxt = first.model_copy(
        update={"trigger_event_id": "w2", "context": {"promise": {"id": "next-update", "next_update": True}}}
    )
    out = tick(leftovers(base, first, nxt), DUE)
    assert log(out) == [
        ("cancel", "checkpoint_escalation", "the first reply was given"),
        ("cancel", "checkpoint_escalation", "the customer has heard from us since"),
    ]
    closed = base.model_copy(update={"first_reply_due": DUE, "status": "closed"})
    assert log(tick(leftovers(closed, first), DUE)) == [
        ("cancel", "checkpoint_escalation", "the first reply was given")
    ]


def test_after_the_last_holding_update_a_reply_starts_the_count_again() -> None:
    first = tick(promised(), DUE)
    third = tick(tick(first.state, T0 + timedelta(hours=5)).state, T0 + timedelta(hours=7))
    assert (third.state.holding_updates_in_a_row, third.state.next_update_due) == (3, None)
    out = apply(third.state, stories.reply("T1", T0 + timedelta(hours=8)))
    assert out.state.holding_updates_in_a_row == 0
    assert not any("next-update watch ended" in line[2] for line in log(out))


def test_a_renegotiation_by_a_new_promise_says_what_moved_from_the_old_time() -> None:
    out = apply(
        promised(), stories.promised("T1", T0 + minutes(30), DUE + timedelta(hours=2), pid="P2", eid="p2")
    )
    [moved] = [n for n in out.notifications if n.context.get("moved")]
    assert moved.context["moved"]["from"] == DUE.isoformat()
    assert out.state.promises["P1"].status == "renegotiated"


def test_a_nudge_is_only_scheduled_when_there_is_time_for_it() -> None:
    lead = timedelta(seconds=RULES.policy.nudge_lead_seconds)
    for made, nudged in ((DUE - lead - minutes(1), True), (DUE - lead, False), (DUE - minutes(10), False)):
        state, outcomes = run([stories.created("T1", urgent=True), stories.promised("T1", made, DUE)])
        assert state is not None
        kinds = [i.kind for i in state.scheduled if i.promise_id == "P1"]
        kinds += [n.kind for n in outcomes[-1].notifications]
        assert ("checkpoint_nudge" in kinds) is nudged, made


def test_the_teams_messages_are_never_plain_text_only_whatever_the_customer_needs() -> None:
    plain = stories.customer(accessibility={"plain_text_only": True})
    state, _ = run(
        [stories.created("T1", urgent=True, customer=plain), stories.promised("T1", T0 + minutes(5), DUE)]
    )
    assert state is not None
    out = tick(state, DUE)
    lead = [n for n in out.notifications if n.audience == "lead"]
    customer = [n for n in out.notifications if n.audience == "customer"]
    assert [n.plain_text_only for n in lead] == [False]
    assert [n.plain_text_only for n in customer] == [True]
    assert lead[0].context["customer"]["plain_text_only"] is True  # the lead is told of it


def test_a_promise_heard_learns_of_after_its_time_gets_its_holding_update_beside_an_earlier_message() -> None:
    """A backlog (a restarted worker, a slow broker) can bring an agent's promise to heard after
    its time, moments after the customer's acknowledgment went. The acknowledgment could not
    speak of a promise heard did not know: the customer hears the honest holding update all
    the same (a message that went after heard knew of the promise would speak alone)."""
    created = decide(None, parse_event(stories.dumps(stories.created("T1", T0))), T0, RULES)
    assert created.state is not None
    acknowledged = tick(created.state, T0 + minutes(1))
    assert [n.kind for n in acknowledged.notifications] == ["acknowledgment"]
    assert acknowledged.state is not None
    late = stories.promised("T1", T0 + timedelta(seconds=10), T0 + timedelta(seconds=45), eid="p-late")
    learned = decide(acknowledged.state, parse_event(stories.dumps(late)), T0 + minutes(1.5), RULES)
    assert learned.state is not None
    fired = tick(learned.state, T0 + minutes(1.5))
    sent = [(n.kind, n.audience) for n in [*learned.notifications, *fired.notifications]]
    assert ("checkpoint_escalation", "lead") in sent
    assert ("checkpoint_holding", "customer") in sent, [d.reason for d in fired.decisions]


def test_a_move_held_by_quiet_hours_is_not_announced_once_the_promise_is_kept() -> None:
    """A promise moved while the customer's quiet hours hold messages, then kept before they
    end: neither the first announcement nor the move goes, each with its reason."""
    quiet = stories.customer(quiet_hours={"start": "10:20", "end": "12:00"})
    state, _ = run(
        [
            stories.created("T1", urgent=True, customer=quiet),
            stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=3)),
            stories.promised("T1", T0 + minutes(30), T0 + timedelta(hours=5), eid="moved", reason="late van"),
            stories.reply("T1", T0 + minutes(60)),
        ]
    )
    assert state is not None
    morning = tick(state, T0 + timedelta(hours=2))
    assert [n.kind for n in morning.notifications if n.kind == "milestone_update"] == []
    assert [(d.outcome, d.reason) for d in morning.decisions if d.kind == "milestone_update"] == [
        ("cancel", "the promise was kept or changed before it was announced"),
        ("cancel", "the promise was kept or changed again before the move was announced"),
    ]


def test_an_update_held_past_the_next_milestones_time_keeps_its_words_and_loses_the_time() -> None:
    quiet = stories.customer(quiet_hours={"start": "10:20", "end": "13:00"})
    reply = stories.reply(
        "T1",
        T0 + minutes(30),
        milestone={"text": "The part has arrived."},
        next_milestone={"text": "a call from the fitter", "due_at": stories.iso(T0 + timedelta(hours=2))},
    )
    state, _ = run([stories.created("T1", urgent=True, customer=quiet), reply])
    assert state is not None
    released = tick(state, T0 + timedelta(hours=3))
    [update] = [n for n in released.notifications if n.kind == "milestone_update"]
    assert update.context["next_milestone"]["text"] == "a call from the fitter"
    assert update.context["next_milestone"]["due_at"] is None
