"""The promise state machine through every transition, with an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from heard.streams.contract import stories
from heard.streams.contract.state import Notification, TicketState
from heard.streams.contract.stories import T0, minutes
from heard.streams.policy.step import Outcome
from tests.unit.test_policy import RULES, run, tick

DUE = T0 + timedelta(hours=3)  # 13:00 UTC, inside team hours (UTC, 09-18)


def promised_state() -> TicketState:
    state, _ = run([stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), DUE)])
    assert state is not None
    return state


def ladder(out: Outcome) -> list[Notification]:
    """The ladder's messages: without the first promise's announcement to the customer."""
    return [n for n in out.notifications if not n.context.get("promised")]


def test_promise_is_pending_with_a_ladder() -> None:
    state = promised_state()
    assert state.promises["P1"].status == "pending"
    assert sorted(item.kind for item in state.scheduled) == [
        "checkpoint_escalation",
        "checkpoint_holding",
        "checkpoint_nudge",
        "milestone_update",
    ]


def test_the_first_promise_is_announced_to_the_customer_after_the_acknowledgment() -> None:
    state = promised_state()  # the urgent acknowledgment went at T0, the promise at T0+5
    [announcement] = [item for item in state.scheduled if item.kind == "milestone_update"]
    assert announcement.due_at == T0 + minutes(10)  # the coalesce window after the ack
    out = tick(state, T0 + minutes(10))
    [note] = out.notifications
    assert (note.kind, note.context["promised"]["by"], note.context["promised"]["due_at"]) == (
        "milestone_update",
        "Sam Reyes",
        DUE.isoformat(),
    )
    assert note.context["next_milestone"]["due_at"] == DUE.isoformat()


def test_a_promise_kept_before_its_announcement_is_not_announced() -> None:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    out = decide(
        promised_state(),
        parse_event(stories.dumps(stories.reply("T1", T0 + minutes(7)))),
        T0 + minutes(7),
        RULES,
    )
    later = tick(out.state, T0 + minutes(10))
    assert later.notifications == []
    assert "kept or changed before it was announced" in later.decisions[-1].reason


def test_nudge_goes_to_the_agent_before_the_due_time() -> None:
    out = tick(promised_state(), DUE - timedelta(seconds=RULES.policy.nudge_lead_seconds))
    [nudge] = ladder(out)
    assert (nudge.kind, nudge.audience, nudge.recipient) == ("checkpoint_nudge", "agent", "sam@example.com")
    assert out.state.promises["P1"].nudged


def test_kept_before_due_cancels_the_ladder() -> None:
    state = promised_state()
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    out = decide(
        state, parse_event(stories.dumps(stories.reply("T1", T0 + minutes(60)))), T0 + minutes(60), RULES
    )
    assert out.state.promises["P1"].status == "kept"
    assert out.state.scheduled == []
    assert tick(out.state, DUE + minutes(1)).notifications == []


def test_broken_promise_escalates_and_sends_one_honest_holding_update() -> None:
    out = tick(promised_state(), DUE)
    assert sorted((n.kind, n.audience) for n in ladder(out)) == [
        ("checkpoint_escalation", "lead"),
        ("checkpoint_holding", "customer"),
    ]
    assert out.state.promises["P1"].status == "broken"
    again = tick(out.state, DUE + minutes(5))
    assert again.notifications == []


def test_renegotiated_promise_replaces_the_old_one_and_tells_the_customer() -> None:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    state = promised_state()
    new = stories.promised("T1", T0 + minutes(30), DUE + timedelta(hours=2), pid="P2")
    out = decide(state, parse_event(stories.dumps(new)), T0 + minutes(30), RULES)
    assert out.state.promises["P1"].status == "renegotiated"
    assert out.state.promises["P2"].version == 2
    assert [n.kind for n in ladder(out)] == ["milestone_update"]
    # The old promise's ladder is gone: nothing fires at its due time.
    assert tick(out.state, DUE).notifications == []


def test_resolving_cancels_pending_promises() -> None:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    out = decide(
        promised_state(),
        parse_event(stories.dumps(stories.resolved("T1", T0 + minutes(20)))),
        T0 + minutes(20),
        RULES,
    )
    assert out.state.promises["P1"].status == "cancelled"


def test_promise_in_the_past_is_refused_with_a_reason() -> None:
    _, outcomes = run([stories.created("T1"), stories.promised("T1", T0 + minutes(10), T0 + minutes(5))])
    # (The held acknowledgment, due before the promise was made, is released first.)
    assert [d.reason for d in outcomes[1].decisions if d.kind != "acknowledgment"] == [
        "the promised time was already past when the promise was made"
    ]


def test_promise_outside_team_hours_is_flagged_to_the_agent_at_once() -> None:
    night_due = T0.replace(hour=22)
    _, outcomes = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), night_due)]
    )
    [flag] = outcomes[1].notifications
    assert flag.kind == "checkpoint_nudge"
    assert flag.context["promise"]["outside_team_hours"] is True


def test_every_status_change_is_a_record_for_the_report() -> None:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    made = decide(None, parse_event(stories.dumps(stories.created("T1", urgent=True))), T0, RULES)
    promised = decide(
        made.state,
        parse_event(stories.dumps(stories.promised("T1", T0 + minutes(5), DUE))),
        T0 + minutes(5),
        RULES,
    )
    [record] = promised.promise_records
    assert (record.status, record.agent, record.team, record.due_at) == (
        "pending",
        "Sam Reyes",
        "parcels",
        DUE,
    )
    broken = tick(promised.state, DUE + minutes(1))
    assert [r.status for r in broken.promise_records] == ["broken"]
    assert broken.promise_records[0].settled_at == DUE
    late = decide(
        broken.state,
        parse_event(stories.dumps(stories.reply("T1", DUE + minutes(20)))),
        DUE + minutes(20),
        RULES,
    )
    assert [(r.status, r.settled_at) for r in late.promise_records] == [("kept_late", DUE + minutes(20))]


def test_the_first_message_to_the_customer_records_how_long_they_waited() -> None:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    out = decide(
        None, parse_event(stories.dumps(stories.created("T1", urgent=True))), T0 + timedelta(seconds=3), RULES
    )
    assert out.first_acknowledgment is not None
    assert out.first_acknowledgment.seconds == 3.0
    again = tick(out.state, T0 + minutes(30))
    assert again.first_acknowledgment is None


def escalation_text(customer: dict[str, object]) -> tuple[str, list[str]]:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    state, _ = run(
        [
            stories.created("T1", urgent=True, customer=stories.customer(**customer)),
            stories.promised("T1", T0 + minutes(5), DUE),
        ]
    )
    assert state is not None
    out = tick(state, DUE)
    [escalation] = [n for n in out.notifications if n.kind == "checkpoint_escalation"]
    text = (
        Renderer(REPO / "templates")
        .render("checkpoint_escalation", "email", "en", escalation.timezone, escalation.context)
        .text
    )
    return text, sorted(n.kind for n in ladder(out))


def test_an_escalation_says_what_really_reached_the_customer_in_their_own_time() -> None:
    sent, kinds = escalation_text({"timezone": "Asia/Tokyo"})
    assert kinds == ["checkpoint_escalation", "checkpoint_holding"]
    assert "Amara (she/her)" in sent and "has just been sent an honest holding update by email" in sent
    # 13:00 UTC is 22:00 in Tokyo; the lead reads both.
    assert (
        "1:00\u202fPM (Coordinated Universal Time), Fri, November 20, 10:00\u202fPM "
        "(Japan Time) for Amara," in sent
    ), sent
    quiet, kinds = escalation_text(
        {
            "timezone": "Asia/Tokyo",
            "quiet_hours": {"start": "21:00", "end": "08:00"},
            "accessibility": {"plain_text_only": True},
        }
    )
    assert kinds == ["checkpoint_escalation"]  # the holding update waits for the morning
    # Amara (she/her) is spoken of as she asked.
    assert "is in her quiet hours" in quiet and "Nothing has reached her yet" in quiet
    assert "her time" in quiet and "needs plain-text messages" in quiet
    assert "has just been sent" not in quiet
    unreachable, _ = escalation_text({"consent": {"email": False, "sms": False}})
    assert "No holding update can reach Amara" in unreachable


def test_a_moved_promise_tells_the_customer_from_when_to_when_and_why() -> None:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    moved_to = DUE + timedelta(hours=2)
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.promised("T1", T0 + minutes(5), DUE),
            stories.promised(
                "T1",
                T0 + minutes(30),
                moved_to,
                eid="moved",
                reason="the courier has not confirmed the slot yet",
            ),
        ]
    )
    [update] = ladder(outcomes[2])
    assert update.context["moved"] == {
        "from": DUE.isoformat(),
        "to": moved_to.isoformat(),
        "reason": "the courier has not confirmed the slot yet",
        "promise_id": "P1",
        "version": 2,
    }
    renderer = Renderer(REPO / "templates")
    text = renderer.render("milestone_update", "email", "en", "Europe/London", update.context).text
    assert (
        "We have moved your next update from Fri, November 20, 1:00\u202fPM (British Time) to "
        "Fri, November 20, 3:00\u202fPM (British Time), because the courier has not "
        "confirmed the slot yet."
    ) in text
    assert "Confirm the delivery slot" not in text  # the agent's task line is not the news
    assert "Next:" not in text
    sms = renderer.render("milestone_update", "sms", "en", "Europe/London", update.context).text
    assert "we moved your next update to 3:00 PM because the courier has not confirmed" in sms


def test_a_promise_is_checked_against_the_calendar_it_names() -> None:
    # 13:00 UTC is inside the default team's hours (UTC, 09-18) and 22:00 in Tokyo: a
    # promise made for the Tokyo team is outside its hours, so its agent is nudged at once.
    from heard.streams.base.settings import TeamCalendar
    from heard.streams.policy.step import Rules

    rules = Rules(
        policy=RULES.policy.model_copy(
            update={"team_calendars": {"support-apac": TeamCalendar(timezone="Asia/Tokyo")}}
        ),
        internal_recipients=RULES.internal_recipients,
    )
    created = stories.created("T1", urgent=True)
    state, outcomes = run(
        [created, stories.promised("T1", T0 + minutes(5), DUE, team_calendar="support-apac")], rules=rules
    )
    assert state is not None and state.promises["P1"].outside_team_hours
    assert ("record", "team hours from the 'support-apac' calendar") in [
        (d.outcome, d.reason) for d in outcomes[1].decisions
    ]
    assert ("checkpoint_nudge", "agent") in [(n.kind, n.audience) for n in outcomes[1].notifications]
    # An unknown name: the default team's hours decide, and the decision log says so.
    state, outcomes = run(
        [created, stories.promised("T1", T0 + minutes(5), DUE, team_calendar="nowhere")], rules=rules
    )
    assert state is not None and not state.promises["P1"].outside_team_hours
    assert any(d.reason.startswith("no team calendar 'nowhere'") for d in outcomes[1].decisions)


def test_the_team_speaks_of_the_customer_by_the_pronouns_they_gave() -> None:
    from heard.streams.contract.pronouns import object_pronouns

    assert object_pronouns("she/her") == {"them": "her", "their": "her"}
    assert object_pronouns("He/Him") == {"them": "him", "their": "his"}
    assert object_pronouns("they/them") == {"them": "them", "their": "their"}
    # Pronouns heard does not know the forms of, or none given: "they" forms, never a guess.
    assert object_pronouns("ze/zir") == object_pronouns(None) == {"them": "them", "their": "their"}


def test_an_urgent_tickets_holding_update_names_a_nearer_next_time() -> None:
    """The interval follows urgency (policy: 30 minutes urgent, 120 otherwise, team time)."""

    def next_word(urgent: bool) -> datetime:
        state, _ = run([stories.created("T1", urgent=urgent), stories.promised("T1", T0 + minutes(5), DUE)])
        assert state is not None
        out = tick(state, DUE)
        [holding] = [n for n in ladder(out) if n.kind == "checkpoint_holding"]
        return datetime.fromisoformat(holding.context["next_update"]["due_at"])

    assert next_word(urgent=True) == DUE + minutes(30)
    assert next_word(urgent=False) == DUE + minutes(120)
