"""Every path of the promise ladder, read through the decision log it writes: what heard
did, and why, is the product's record for `heard explain` — so each line is asserted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from heard.streams.policy import Outcome, Rules, decide
from heard.streams.records import parse_event
from heard.streams.state import Scheduled, TicketState
from tests import stories
from tests.stories import T0, minutes
from tests.unit.test_policy import RULES, run, tick

DUE = T0 + timedelta(hours=3)


def log(outcome: Outcome) -> list[tuple[str, str | None, str]]:
    return [(d.outcome, d.kind, d.reason) for d in outcome.decisions]


def promised() -> TicketState:
    state, _ = run([stories.created("T1", urgent=True, agent=stories.AGENT),
                    stories.promised("T1", T0 + minutes(5), DUE)])
    assert state is not None
    return state


def apply(state: TicketState, raw: dict[str, Any], rules: Rules = RULES) -> Outcome:
    event = parse_event(stories.dumps(raw))
    return decide(state, event, event.occurred_at, rules)


def test_a_promise_heard_cannot_track_is_skipped_and_says_why() -> None:
    _, unknown = run([stories.promised("T1", T0, DUE)])
    assert log(unknown[-1]) == [("skip", "checkpoint",
                                 "promise for a ticket heard has not seen created")]
    _, resolved = run([stories.created("T1"), stories.resolved("T1", T0 + minutes(1)),
                       stories.promised("T1", T0 + minutes(2), DUE)])
    assert log(resolved[-1]) == [("skip", "checkpoint",
                                  "promise on a resolved ticket is not tracked")]
    # A time equal to the moment it was made is already past: nothing to keep.
    _, now = run([stories.created("T1", urgent=True),
                  stories.promised("T1", T0 + minutes(2), T0 + minutes(2))])
    assert log(now[-1])[-1] == ("skip", "checkpoint",
                                "the promised time was already past when the promise was made")
    assert now[-1].state.promises == {}


def test_a_backlog_past_the_due_time_skips_the_nudge_and_the_stale_announcement() -> None:
    out = tick(promised(), DUE + minutes(1))
    assert log(out) == [
        ("cancel", "milestone_update", "the promised time passed before it could be announced"),
        ("cancel", "checkpoint_nudge", "nudge released after the due time; the escalation takes over"),
        ("send", "checkpoint_escalation", "checkpoint_escalation to the lead by email"),
        ("schedule", "checkpoint", "the holding update promises news by 2026-11-20T15:01:00+00:00; "
                                   "the lead and the customer hear if nothing real reaches them by then"),
        ("send", "checkpoint_holding", "checkpoint_holding to the customer by email"),
    ]
    assert out.state.promises["P1"].escalated is True
    assert out.state.promises["P1"].status == "broken"


def test_three_holding_updates_in_a_row_then_none_names_a_time() -> None:
    first = tick(promised(), DUE)
    assert (first.state.next_update_due, first.state.holding_updates_in_a_row) == (
        T0 + timedelta(hours=5), 1)
    [holding] = [n for n in first.notifications if n.kind == "checkpoint_holding"]
    assert holding.context["next_update"] == {"due_at": (T0 + timedelta(hours=5)).isoformat()}
    watched = [item for item in first.state.scheduled if item.context["promise"].get("next_update")]
    assert sorted(item.kind for item in watched) == ["checkpoint_escalation", "checkpoint_holding"]
    assert watched[0].context["promise"]["agent_name"] == "Sam Reyes"
    assert watched[0].context["promise"]["outside_team_hours"] is False
    second = tick(first.state, T0 + timedelta(hours=5))
    assert len([i for i in second.state.scheduled if i.context["promise"].get("next_update")]) == 2
    third = tick(second.state, T0 + timedelta(hours=7))
    assert ("record", "checkpoint", "3 holding updates in a row: this one names no next time; "
            "the lead has the ticket") in log(third)
    assert third.state.next_update_due is None and third.state.scheduled == []
    [last] = [n for n in third.notifications if n.kind == "checkpoint_holding"]
    assert last.context["next_update"] is None


def test_a_reply_ends_the_next_update_watch_and_keeps_the_broken_promise_late() -> None:
    first = tick(promised(), DUE)
    out = apply(first.state, stories.reply("T1", DUE + minutes(10)))
    assert log(out) == [("record", "checkpoint", "next-update watch ended: an agent replied publicly"),
                        ("record", "checkpoint", "promise P1 kept late")]
    assert out.state.scheduled == [] and out.state.holding_updates_in_a_row == 0
    assert out.state.promises["P1"].status == "kept_late"
    # Kept exactly at the moment it was broken counts too.
    at_break = apply(first.state, stories.reply("T1", DUE))
    assert at_break.state.promises["P1"].status == "kept"


def test_with_no_address_for_the_lead_the_escalation_is_suppressed_and_says_so() -> None:
    bare = Rules(policy=RULES.policy)
    state, _ = run([stories.created("T1", urgent=True),
                    stories.promised("T1", T0 + minutes(5), DUE)], rules=bare)
    assert state is not None
    out = tick(state, DUE, rules=bare)
    assert ("suppress", "checkpoint_escalation", "no address configured for the lead") in log(out)
    assert [n.kind for n in out.notifications] == ["checkpoint_holding"]


def test_a_step_left_by_an_older_promise_version_is_cancelled() -> None:
    # A rolling upgrade can leave a ladder step whose promise has since been replaced.
    state = promised()
    stale = Scheduled(kind="checkpoint_escalation", audience="lead", due_at=DUE,
                      trigger_event_id="old", trigger_at=T0, promise_id="P1", promise_version=7,
                      context={"promise": {"id": "P1", "what": "x", "due_at": DUE.isoformat()}})
    holding = stale.model_copy(update={"kind": "checkpoint_holding", "audience": "customer"})
    state = state.model_copy(update={"scheduled": [stale, holding]})
    out = tick(state, DUE)
    assert log(out) == [("cancel", "checkpoint_escalation", "promise replaced by a newer one"),
                        ("cancel", "checkpoint_holding", "promise replaced by a newer one")]
    assert out.notifications == []


def test_a_promise_moved_tells_the_customer_its_words_and_from_when() -> None:
    state = promised()
    out = apply(state, stories.promised("T1", T0 + minutes(30), DUE + timedelta(hours=1),
                                        eid="moved", customer_text="the delivery slot",
                                        reason="the courier is late"))
    [moved] = [n for n in out.notifications
               if n.kind == "milestone_update" and n.context.get("moved")]
    assert moved.context["milestone"]["text"] == "the delivery slot"
    assert moved.context["next_milestone"] == {"text": "the delivery slot",
                                               "due_at": (DUE + timedelta(hours=1)).isoformat()}
    assert moved.context["moved"] == {"from": DUE.isoformat(),
                                      "to": (DUE + timedelta(hours=1)).isoformat(),
                                      "reason": "the courier is late"}


def test_the_first_promise_announcement_carries_the_agents_words() -> None:
    state, _ = run([stories.created("T1", urgent=True),
                    stories.promised("T1", T0 + minutes(5), DUE, customer_text="the slot")])
    assert state is not None
    [note] = tick(state, T0 + minutes(10)).notifications
    assert note.context["promised"]["text"] == "the slot"
    assert note.context["next_milestone"]["text"] == "the slot"
