"""Options offered and chosen, and feedback given, through the pure policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from heard.streams.policy import Outcome, Rules
from heard.streams.records import InvalidEvent, parse_event
from heard.streams.replies import question_asked
from heard.streams.settings import load_settings
from heard.streams.state import Question
from tests import stories
from tests.peers import REPO
from tests.stories import T0, minutes
from tests.unit.test_policy import RULES, kinds, run, tick

SMS_CUSTOMER = stories.customer(phone="+14155550123", preferred_channel="sms",
                                consent={"email": True, "sms": True})
FEEDBACK_RULES = Rules(policy=RULES.policy, internal_recipients=RULES.internal_recipients,
                       feedback=load_settings(REPO / "config").feedback)


def test_options_go_to_the_customer_at_once_with_every_path_and_its_tradeoff() -> None:
    _, outcomes = run([stories.created("T1"),
                       stories.offered("T1", T0 + minutes(5), intro="It is out of stock.")])
    # The acknowledgment fell due before the offer, so it goes first.
    assert kinds(outcomes[-1]) == [("acknowledgment", "email"), ("options", "email")]
    note = outcomes[-1].notifications[-1]
    assert note.audience == "customer"
    offer = note.context["offer"]
    assert offer["count"] == 3 and offer["intro"] == "It is out of stock."
    assert [o["number"] for o in offer["options"]] == [1, 2, 3]
    assert offer["options"][0]["tradeoff"] == "no extra cost"
    assert all(o["link"] is None for o in offer["options"])


def asked(outcome: Outcome) -> list[Question]:
    """The questions the outcome's messages ask, once each is accepted by the provider."""
    found = [question_asked(n, T0 + minutes(30), 14) for n in outcome.notifications]
    return [question for question in found if question is not None]


def test_an_sms_offer_asks_a_question_of_that_phone() -> None:
    _, outcomes = run([stories.created("T1", customer=SMS_CUSTOMER),
                       stories.offered("T1", T0 + minutes(5))])
    [question] = asked(outcomes[-1])
    assert (question.phone, question.ticket_id, question.asks, question.offer_id,
            question.choices, question.expires_at) == (
        "+14155550123", "T1", "option", "O1", 3, T0 + minutes(30) + timedelta(days=14))
    _, by_email = run([stories.created("T1"), stories.offered("T1", T0 + minutes(5))])
    assert asked(by_email[-1]) == []


def test_a_choice_is_confirmed_recorded_and_told_to_the_owner() -> None:
    state, outcomes = run([stories.created("T1"), stories.offered("T1", T0 + minutes(5)),
                           stories.chosen("T1", T0 + minutes(9), 2, text="the red one")])
    chose = outcomes[-1]
    assert kinds(chose) == [("option_confirmed", "email"), ("options_answered", "email")]
    confirmed, team = chose.notifications
    assert confirmed.context["chosen"]["label"] == "Take the newer model now"
    assert confirmed.context["text"] == "the red one"
    assert (team.audience, team.recipient) == ("agent", "sam@example.com")
    [record] = chose.replies
    assert (record.record, record.option, record.label, record.via, record.owner) == (
        "option_chosen", 2, "Take the newer model now", "sms", "Sam Reyes")
    assert state is not None and state.offers["O1"].chosen == 2


def test_the_same_choice_twice_changes_nothing_and_a_new_one_is_confirmed_as_a_change() -> None:
    _, outcomes = run([stories.created("T1"), stories.offered("T1", T0 + minutes(5)),
                       stories.chosen("T1", T0 + minutes(9), 2),
                       stories.chosen("T1", T0 + minutes(10), 2, eid="again"),
                       stories.chosen("T1", T0 + minutes(11), 1, eid="changed")])
    assert outcomes[-2].notifications == [] and outcomes[-2].replies == []
    assert "already chosen" in outcomes[-2].decisions[-1].reason
    confirmed = outcomes[-1].notifications[0]
    assert (confirmed.kind, confirmed.context["changed_from"]) == ("option_confirmed", 2)


def test_a_choice_the_help_desk_records_is_confirmed_without_telling_the_team() -> None:
    _, outcomes = run([stories.created("T1"), stories.offered("T1", T0 + minutes(5)),
                       stories.chosen("T1", T0 + minutes(9), 3, via="help_desk")])
    assert kinds(outcomes[-1]) == [("option_confirmed", "email")]


@pytest.mark.parametrize(("offer", "option", "why"), [
    ("O9", 1, "no offer 'O9'"), ("O1", 3, "option 3 was not offered (O1 has 2)")])
def test_a_choice_of_nothing_offered_is_refused_with_the_reason(offer: str, option: int,
                                                                 why: str) -> None:
    _, outcomes = run([stories.created("T1"),
                       stories.offered("T1", T0 + minutes(5), options=stories.OPTIONS[:2]),
                       stories.chosen("T1", T0 + minutes(9), option, offer=offer)])
    assert outcomes[-1].notifications == [] and outcomes[-1].replies == []
    assert why in outcomes[-1].decisions[-1].reason


def test_an_unanswered_offer_nudges_the_owner_at_its_deadline_and_a_choice_cancels_it() -> None:
    deadline = T0 + minutes(120)
    state, _ = run([stories.created("T1"),
                    stories.offered("T1", T0 + minutes(5), choose_by=deadline)])
    assert state is not None
    assert tick(state, deadline - minutes(1)).notifications == []
    nudge = tick(state, deadline)
    assert kinds(nudge) == [("options_unanswered", "email")]
    assert nudge.notifications[0].recipient == "sam@example.com"
    answered, _ = run([stories.created("T1"),
                       stories.offered("T1", T0 + minutes(5), choose_by=deadline),
                       stories.chosen("T1", T0 + minutes(30), 1)])
    assert answered is not None
    assert tick(answered, deadline).notifications == []


def test_a_newer_offer_replaces_an_open_one_and_its_deadline() -> None:
    deadline = T0 + minutes(120)
    state, _ = run([stories.created("T1"),
                    stories.offered("T1", T0 + minutes(5), choose_by=deadline),
                    stories.offered("T1", T0 + minutes(10), offer="O2")])
    assert state is not None and state.offers["O1"].withdrawn
    assert tick(state, deadline).notifications == []
    _, late = run([stories.created("T1"), stories.offered("T1", T0 + minutes(5)),
                   stories.offered("T1", T0 + minutes(10), offer="O2"),
                   stories.chosen("T1", T0 + minutes(12), 1, offer="O1")])
    # A choice of the replaced offer is recorded and the team told (the customer's word is
    # never dropped), but not confirmed to them: it is no longer what the team offers.
    assert late[-1].replies[0].offer_id == "O1"
    assert kinds(late[-1]) == [("options_answered", "email")]
    assert "replaced by a newer one" in " ".join(d.reason for d in late[-1].decisions)


def test_options_on_a_resolved_ticket_are_not_offered() -> None:
    _, outcomes = run([stories.created("T1"), stories.resolved("T1", T0 + minutes(3)),
                       stories.offered("T1", T0 + minutes(5))])
    assert outcomes[-1].notifications == []
    assert "resolved ticket" in outcomes[-1].decisions[-1].reason


def test_the_closure_asks_for_feedback_and_registers_the_question_by_sms() -> None:
    state, _ = run([stories.created("T1", customer=SMS_CUSTOMER),
                    stories.resolved("T1", T0 + minutes(3))])
    assert state is not None
    closure = tick(state, T0 + minutes(3) + minutes(15))
    [note] = [n for n in closure.notifications if n.kind == "closure_summary"]
    assert note.context["feedback"] == {"scale": 5, "links": None}
    [question] = asked(closure)
    assert (question.asks, question.choices, question.ticket_id) == ("feedback", 5, "T1")
    quiet = Rules(policy=RULES.policy, feedback=FEEDBACK_RULES.feedback.model_copy(
        update={"ask": False}))
    state, _ = run([stories.created("T1", customer=SMS_CUSTOMER),
                    stories.resolved("T1", T0 + minutes(3))], rules=quiet)
    assert state is not None
    unasked = tick(state, T0 + minutes(18), rules=quiet)
    assert asked(unasked) == []
    assert [n.context["feedback"] for n in unasked.notifications] == [None]


def test_feedback_is_recorded_with_its_signals_and_the_owner() -> None:
    _, outcomes = run([
        stories.created("T1"), stories.reply("T1", T0 + minutes(1)),
        stories.resolved("T1", T0 + minutes(3)),
        stories.event("ticket.feedback", "T1", T0 + minutes(40), score=5, via="sms",
                      text="Sam listened, and kept me updated the whole way"),
    ], rules=FEEDBACK_RULES)
    [record] = outcomes[-1].replies
    assert (record.score, record.agent, record.team, record.via) == (5, "Sam Reyes",
                                                                     "parcels", "sms")
    assert record.signals == ["felt_heard", "kept_updated"]


def test_feedback_needs_a_score_or_words() -> None:
    with pytest.raises(InvalidEvent, match=r"score \(1 to 5\), a text, or both"):
        parse_event(stories.dumps(stories.event("ticket.feedback", "T1", T0, via="sms")))
    with pytest.raises(InvalidEvent, match="less than or equal to 5"):
        parse_event(stories.dumps(stories.event("ticket.feedback", "T1", T0, score=6)))
    with pytest.raises(InvalidEvent, match="at least 2"):
        parse_event(stories.dumps(stories.offered("T1", T0, options=stories.OPTIONS[:1])))


def test_feedback_for_an_erased_or_unknown_ticket_is_not_kept() -> None:
    _, outcomes = run([stories.event("ticket.feedback", "T9", T0, score=2, via="sms",
                                     text="nobody called me back")], rules=FEEDBACK_RULES)
    assert outcomes[-1].replies == []
    assert "does not know" in outcomes[-1].decisions[-1].reason
