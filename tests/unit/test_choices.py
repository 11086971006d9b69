"""Options offered and chosen, and feedback given, through the pure policy."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from heard.streams.contract import stories
from heard.streams.contract.records import InvalidEvent, parse_event
from heard.streams.contract.state import Question, Scheduled
from heard.streams.contract.stories import T0, minutes
from heard.streams.delivery.config import load_settings
from heard.streams.policy.decide import decide
from heard.streams.policy.replies import question_asked
from heard.streams.policy.step import Outcome, Rules
from tests.peers import REPO
from tests.unit.test_policy import RULES, kinds, run, tick

SMS_CUSTOMER = stories.customer(
    phone="+14155550123", preferred_channel="sms", consent={"email": True, "sms": True}
)
FEEDBACK_RULES = Rules(
    policy=RULES.policy,
    internal_recipients=RULES.internal_recipients,
    feedback=load_settings(REPO / "config").feedback,
)


def test_options_go_to_the_customer_at_once_with_every_path_and_its_tradeoff() -> None:
    _, outcomes = run(
        [stories.created("T1"), stories.offered("T1", T0 + minutes(5), intro="It is out of stock.")]
    )
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
    _, outcomes = run([stories.created("T1", customer=SMS_CUSTOMER), stories.offered("T1", T0 + minutes(5))])
    [question] = asked(outcomes[-1])
    assert (
        question.phone,
        question.ticket_id,
        question.asks,
        question.offer_id,
        question.choices,
        question.expires_at,
    ) == ("+14155550123", "T1", "option", "O1", 3, T0 + minutes(30) + timedelta(days=14))
    _, by_email = run([stories.created("T1"), stories.offered("T1", T0 + minutes(5))])
    assert asked(by_email[-1]) == []


def test_a_choice_is_confirmed_recorded_and_told_to_the_owner() -> None:
    state, outcomes = run(
        [
            stories.created("T1"),
            stories.offered("T1", T0 + minutes(5)),
            stories.chosen("T1", T0 + minutes(9), 2, text="the red one"),
        ]
    )
    chose = outcomes[-1]
    assert kinds(chose) == [("option_confirmed", "email"), ("options_answered", "email")]
    confirmed, team = chose.notifications
    assert confirmed.context["chosen"]["label"] == "Take the newer model now"
    assert confirmed.context["text"] == "the red one"
    assert (team.audience, team.recipient) == ("agent", "sam@example.com")
    [record] = chose.replies
    assert (record.record, record.option, record.label, record.via, record.owner) == (
        "option_chosen",
        2,
        "Take the newer model now",
        "sms",
        "Sam Reyes",
    )
    assert state is not None and state.offers["O1"].chosen == 2


def test_the_same_choice_twice_changes_nothing_and_a_new_one_is_confirmed_as_a_change() -> None:
    _, outcomes = run(
        [
            stories.created("T1"),
            stories.offered("T1", T0 + minutes(5)),
            stories.chosen("T1", T0 + minutes(9), 2),
            stories.chosen("T1", T0 + minutes(10), 2, eid="again"),
            stories.chosen("T1", T0 + minutes(11), 1, eid="changed"),
        ]
    )
    assert outcomes[-2].notifications == [] and outcomes[-2].replies == []
    assert "already chosen" in outcomes[-2].decisions[-1].reason
    confirmed = outcomes[-1].notifications[0]
    assert (confirmed.kind, confirmed.context["changed_from"]) == ("option_confirmed", 2)


def test_a_choice_the_help_desk_records_is_confirmed_without_telling_the_team() -> None:
    _, outcomes = run(
        [
            stories.created("T1"),
            stories.offered("T1", T0 + minutes(5)),
            stories.chosen("T1", T0 + minutes(9), 3, via="help_desk"),
        ]
    )
    assert kinds(outcomes[-1]) == [("option_confirmed", "email")]


@pytest.mark.parametrize(
    ("offer", "option", "why"), [("O9", 1, "no offer 'O9'"), ("O1", 3, "option 3 was not offered (O1 has 2)")]
)
def test_a_choice_of_nothing_offered_is_refused_with_the_reason(offer: str, option: int, why: str) -> None:
    _, outcomes = run(
        [
            stories.created("T1"),
            stories.offered("T1", T0 + minutes(5), options=stories.OPTIONS[:2]),
            stories.chosen("T1", T0 + minutes(9), option, offer=offer),
        ]
    )
    assert outcomes[-1].notifications == [] and outcomes[-1].replies == []
    assert why in outcomes[-1].decisions[-1].reason


def test_an_unanswered_offer_nudges_the_owner_at_its_deadline_and_a_choice_cancels_it() -> None:
    deadline = T0 + minutes(120)
    state, _ = run([stories.created("T1"), stories.offered("T1", T0 + minutes(5), choose_by=deadline)])
    assert state is not None
    assert tick(state, deadline - minutes(1)).notifications == []
    nudge = tick(state, deadline)
    assert kinds(nudge) == [("options_unanswered", "email")]
    assert nudge.notifications[0].recipient == "sam@example.com"
    answered, _ = run(
        [
            stories.created("T1"),
            stories.offered("T1", T0 + minutes(5), choose_by=deadline),
            stories.chosen("T1", T0 + minutes(30), 1),
        ]
    )
    assert answered is not None
    assert tick(answered, deadline).notifications == []


def test_a_newer_offer_replaces_an_open_one_and_its_deadline() -> None:
    deadline = T0 + minutes(120)
    state, _ = run(
        [
            stories.created("T1"),
            stories.offered("T1", T0 + minutes(5), choose_by=deadline),
            stories.offered("T1", T0 + minutes(10), offer="O2"),
        ]
    )
    assert state is not None and state.offers["O1"].withdrawn
    assert tick(state, deadline).notifications == []
    _, late = run(
        [
            stories.created("T1"),
            stories.offered("T1", T0 + minutes(5)),
            stories.offered("T1", T0 + minutes(10), offer="O2"),
            stories.chosen("T1", T0 + minutes(12), 1, offer="O1"),
        ]
    )
    # A choice of the replaced offer is recorded and the team told (the customer's word is
    # never dropped), but not confirmed to them: it is no longer what the team offers.
    assert late[-1].replies[0].offer_id == "O1"
    assert kinds(late[-1]) == [("options_answered", "email")]
    assert "replaced by a newer one" in " ".join(d.reason for d in late[-1].decisions)


def test_options_on_a_resolved_ticket_are_not_offered() -> None:
    _, outcomes = run(
        [
            stories.created("T1"),
            stories.resolved("T1", T0 + minutes(3)),
            stories.offered("T1", T0 + minutes(5)),
        ]
    )
    assert outcomes[-1].notifications == []
    assert "resolved ticket" in outcomes[-1].decisions[-1].reason


def test_the_closure_asks_for_feedback_and_registers_the_question_by_sms() -> None:
    state, _ = run([stories.created("T1", customer=SMS_CUSTOMER), stories.resolved("T1", T0 + minutes(3))])
    assert state is not None
    closure = tick(state, T0 + minutes(3) + minutes(15))
    [note] = [n for n in closure.notifications if n.kind == "closure_summary"]
    assert note.context["feedback"] == {"scale": 5, "links": None}
    [question] = asked(closure)
    assert (question.asks, question.choices, question.ticket_id) == ("feedback", 5, "T1")
    quiet = Rules(policy=RULES.policy, feedback=FEEDBACK_RULES.feedback.model_copy(update={"ask": False}))
    state, _ = run(
        [stories.created("T1", customer=SMS_CUSTOMER), stories.resolved("T1", T0 + minutes(3))], rules=quiet
    )
    assert state is not None
    unasked = tick(state, T0 + minutes(18), rules=quiet)
    assert asked(unasked) == []
    assert [n.context["feedback"] for n in unasked.notifications] == [None]


def test_feedback_is_recorded_with_its_signals_and_the_owner() -> None:
    _, outcomes = run(
        [
            stories.created("T1"),
            stories.reply("T1", T0 + minutes(1)),
            stories.resolved("T1", T0 + minutes(3)),
            stories.event(
                "ticket.feedback",
                "T1",
                T0 + minutes(40),
                score=5,
                via="sms",
                text="Sam listened, and kept me updated the whole way",
            ),
        ],
        rules=FEEDBACK_RULES,
    )
    [record] = outcomes[-1].replies
    assert (record.score, record.agent, record.team, record.via) == (5, "Sam Reyes", "parcels", "sms")
    assert record.signals == ["felt_heard", "kept_updated"]


def test_feedback_needs_a_score_or_words() -> None:
    with pytest.raises(InvalidEvent, match=r"score \(1 to 5\), a text, or both"):
        parse_event(stories.dumps(stories.event("ticket.feedback", "T1", T0, via="sms")))
    with pytest.raises(InvalidEvent, match="less than or equal to 5"):
        parse_event(stories.dumps(stories.event("ticket.feedback", "T1", T0, score=6)))
    with pytest.raises(InvalidEvent, match="at least 2"):
        parse_event(stories.dumps(stories.offered("T1", T0, options=stories.OPTIONS[:1])))


def test_feedback_for_an_erased_or_unknown_ticket_is_not_kept() -> None:
    _, outcomes = run(
        [stories.event("ticket.feedback", "T9", T0, score=2, via="sms", text="nobody called me back")],
        rules=FEEDBACK_RULES,
    )
    assert outcomes[-1].replies == []
    assert "does not know" in outcomes[-1].decisions[-1].reason


# ------------------------------------------------------------------ every path, by its log
def log(outcome: Outcome) -> list[tuple[str, str | None, str]]:
    return [(d.outcome, d.kind, d.reason) for d in outcome.decisions]


def test_options_heard_cannot_offer_are_skipped_and_say_why() -> None:
    _, unknown = run([stories.offered("T1", T0)])
    assert log(unknown[-1]) == [("skip", "options", "options for a ticket heard has not seen created")]
    _, closed = run(
        [
            stories.created("T1"),
            stories.event("ticket.closed", "T1", T0 + minutes(1), eid="cl"),
            stories.offered("T1", T0 + minutes(2)),
        ]
    )
    assert log(closed[-1]) == [("skip", "options", "options on a closed ticket are not offered")]
    _, again = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(2)),
            stories.offered("T1", T0 + minutes(3), eid="again"),
        ]
    )
    assert log(again[-1]) == [("skip", "options", "offer O1 was already made; nothing changes")]


def test_the_agent_who_offers_owns_a_ticket_nobody_owned() -> None:
    state, _ = run([stories.created("T1", urgent=True), stories.offered("T1", T0 + minutes(2))])
    assert state is not None and state.owner is not None and state.agent is not None
    assert (state.owner.name, state.agent.name) == ("Sam Reyes", "Sam Reyes")


def test_a_newer_offer_withdraws_only_an_open_one_and_drops_its_deadline() -> None:
    deadline = T0 + minutes(120)
    state, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(5), choose_by=deadline),
            stories.offered("T1", T0 + minutes(10), offer="O2"),
        ]
    )
    assert ("record", "options", "offer O1 replaced by O2") in log(outcomes[-1])
    assert ("cancel", "options_unanswered", "the offer was replaced by a newer one") in log(outcomes[-1])
    assert state is not None and not any(i.kind == "options_unanswered" for i in state.scheduled)
    chosen_first, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(5)),
            stories.chosen("T1", T0 + minutes(6), 1),
            stories.offered("T1", T0 + minutes(10), offer="O2"),
        ]
    )
    assert chosen_first is not None and chosen_first.offers["O1"].withdrawn is False


def test_a_deadline_at_the_moment_of_the_offer_is_no_deadline() -> None:
    state, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(5), choose_by=T0 + minutes(5)),
        ]
    )
    assert state is not None and not any(i.kind == "options_unanswered" for i in state.scheduled)
    assert kinds(outcomes[-1]) == [("options", "email")]


def test_a_deadline_step_left_for_an_answered_offer_is_cancelled() -> None:
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(5), choose_by=T0 + minutes(60)),
            stories.chosen("T1", T0 + minutes(9), 1),
        ]
    )
    assert state is not None
    left = Scheduled(
        kind="options_unanswered",
        audience="agent",
        due_at=T0 + minutes(60),
        trigger_event_id="left",
        trigger_at=T0,
        context={"offer": {"id": "O1"}},
    )
    out = tick(state.model_copy(update={"scheduled": [left]}), T0 + minutes(60))
    assert log(out) == [
        ("cancel", "options_unanswered", "the customer has chosen, or the offer was replaced")
    ]


def test_a_closed_ticket_gets_no_confirmation_and_its_owner_no_deadline_nudge() -> None:
    deadline = T0 + minutes(120)
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(2), choose_by=deadline),
            stories.event("ticket.closed", "T1", T0 + minutes(3), eid="cl"),
        ]
    )
    assert state is not None
    chose = decide(
        state, parse_event(stories.dumps(stories.chosen("T1", T0 + minutes(4), 1))), T0 + minutes(4), RULES
    )
    assert kinds(chose) == [("options_answered", "email")]
    left = Scheduled(
        kind="options_unanswered",
        audience="agent",
        due_at=deadline,
        trigger_event_id="left",
        trigger_at=T0,
        context={"offer": {"id": "O1"}},
    )
    out = tick(state.model_copy(update={"scheduled": [left]}), deadline)
    assert log(out) == [("cancel", "options_unanswered", "the ticket is closed")]


def test_a_choice_logs_who_chose_how_and_cancels_only_its_own_deadline() -> None:
    later = T0 + minutes(300)
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(5), choose_by=T0 + minutes(120)),
            stories.chosen("T1", T0 + minutes(9), 2),
            stories.chosen("T1", T0 + minutes(10), 1, eid="changed"),
        ]
    )
    assert ("cancel", "options_unanswered", "the customer chose") in log(outcomes[2])
    assert ("record", "option_confirmed", "option 2 chosen by sms") in log(outcomes[2])
    assert ("record", "option_confirmed", "option 1 chosen by sms (was 2)") in log(outcomes[3])
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(5), choose_by=later),
            stories.offered("T1", T0 + minutes(6), offer="O2", choose_by=later),
            stories.chosen("T1", T0 + minutes(9), 1, offer="O1"),
        ]
    )
    assert state is not None
    assert [i.context["offer"]["id"] for i in state.scheduled if i.kind == "options_unanswered"] == ["O2"]


def test_a_choice_after_the_ticket_was_resolved_is_recorded_and_told_not_confirmed() -> None:
    _, outcomes = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(2)),
            stories.resolved("T1", T0 + minutes(3)),
            stories.chosen("T1", T0 + minutes(4), 2),
        ]
    )
    assert (
        "skip",
        "option_confirmed",
        "the ticket is resolved: the choice is recorded and "
        "the team told, with no confirmation to the customer",
    ) in log(outcomes[-1])
    assert kinds(outcomes[-1]) == [("options_answered", "email")]
    assert outcomes[-1].replies[0].option == 2


def test_the_owner_not_the_last_agent_hears_of_a_choice_and_of_silence() -> None:
    owner = {"name": "Olu Owner", "email": "olu@example.com", "team": "t"}
    other = {"name": "Bea Other", "email": "bea@example.com", "team": "t"}
    deadline = T0 + minutes(120)
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.event("ticket.assigned", "T1", T0 + minutes(1), eid="own", agent=owner, owner=True),
            stories.event("ticket.assigned", "T1", T0 + minutes(1.5), eid="as", agent=other),
            stories.offered("T1", T0 + minutes(2), choose_by=deadline, agent=other),
        ]
    )
    assert state is not None
    silence = tick(state, deadline)
    assert [(n.kind, n.recipient) for n in silence.notifications if n.kind == "options_unanswered"] == [
        ("options_unanswered", "olu@example.com")
    ]
    chose = decide(
        state, parse_event(stories.dumps(stories.chosen("T1", T0 + minutes(9), 1))), T0 + minutes(9), RULES
    )
    [team] = [n for n in chose.notifications if n.kind == "options_answered"]
    assert team.recipient == "olu@example.com" and chose.replies[0].owner == "Olu Owner"


def test_the_owner_is_not_nudged_about_a_choice_on_a_resolved_ticket() -> None:
    deadline = T0 + minutes(120)
    state, _ = run(
        [
            stories.created("T1", urgent=True),
            stories.offered("T1", T0 + minutes(2), choose_by=deadline),
            stories.resolved("T1", T0 + minutes(3)),
        ]
    )
    assert state is not None
    out = tick(state, deadline)
    assert ("cancel", "options_unanswered", "the ticket is resolved") in log(out)
    assert not [n for n in out.notifications if n.kind == "options_unanswered"]


def test_feedback_logs_what_was_said_and_a_contacts_answer_is_hashed() -> None:
    contact = {
        "id": "c-9",
        "name": "Jorge Ruiz",
        "email": "jorge@example.es",
        "language": "es",
        "role": "stakeholder",
    }
    _, outcomes = run(
        [
            stories.created("T1", urgent=True, contacts=[contact]),
            stories.event("ticket.feedback", "T1", T0 + minutes(5), eid="f1", score=4, via="sms"),
            stories.event(
                "ticket.feedback",
                "T1",
                T0 + minutes(6),
                eid="f2",
                via="sms",
                contact="c-9",
                text="me mantuvieron informado",
            ),
        ],
        rules=FEEDBACK_RULES,
    )
    assert log(outcomes[1]) == [("record", None, "feedback by sms: score 4; signals: none")]
    assert log(outcomes[2]) == [("record", None, "feedback by sms: words only; signals: kept_updated")]
    assert outcomes[1].replies[0].respondent is None
    assert outcomes[2].replies[0].respondent == hashlib.sha256(b"c-9").hexdigest()[:16]


def test_a_choice_without_timeline_or_tradeoff_is_confirmed_and_the_owner_told() -> None:
    """The contract makes an option's timeline and trade-off optional: the customer's
    confirmation and the owner's notice render (every channel) without them."""
    from heard.streams.content.rendering import Renderer

    bare = [{"label": "Wait for the same model"}, {"label": "A full refund"}]
    _, outcomes = run(
        [
            stories.created("T1", T0, urgent=True),
            stories.event("ticket.assigned", "T1", T0 + minutes(1), agent=stories.AGENT, owner=True),
            stories.offered("T1", T0 + minutes(2), options=bare),
            stories.chosen("T1", T0 + minutes(3), 2),
        ]
    )
    told = [n for n in outcomes[-1].notifications if n.kind in ("option_confirmed", "options_answered")]
    assert {n.kind for n in told} == {"option_confirmed", "options_answered"}
    renderer = Renderer(REPO / "templates")
    for notification in told:
        rendered = renderer.render(
            notification.kind,
            notification.channel,
            notification.locale,
            notification.timezone,
            notification.context,
        )
        assert "A full refund" in rendered.text and "None" not in rendered.text


# --- a low answer reaches someone ------------------------------------------------------
SPANISH = stories.customer(
    phone="+34600000123", preferred_channel="sms", language="es", consent={"email": True, "sms": True}
)


def closed_then_answered(
    score: int | None, text: str | None, customer: dict[str, object] = SPANISH
) -> tuple[Outcome, Outcome]:
    rules = FEEDBACK_RULES
    state = None
    for raw in [
        stories.created("T1", customer=customer, agent=stories.AGENT),
        stories.resolved("T1", T0 + minutes(5)),
    ]:
        event = parse_event(stories.dumps(raw))
        state = decide(state, event, event.occurred_at, rules).state
    assert state is not None
    closed = tick(state, T0 + minutes(30), rules)
    fields = {key: value for key, value in (("score", score), ("text", text)) if value is not None}
    answer = decide(
        closed.state,
        parse_event(
            stories.dumps(
                stories.event("ticket.feedback", "T1", T0 + minutes(40), eid="f1", via="sms", **fields)
            )
        ),
        T0 + minutes(40),
        rules,
    )
    return closed, answer


def test_a_low_score_reaches_the_owner_and_the_lead_with_the_words_and_the_customer_is_answered() -> None:
    from heard.streams.content.rendering import Renderer

    _, answer = closed_then_answered(2, "2, nadie me llamó")
    assert answer.replies[0].signals == ["not_kept_updated"]  # Spanish negatives read too
    sent = [(n.kind, n.audience, n.channel, n.recipient) for n in answer.notifications]
    assert ("feedback_low", "agent", "email", "sam@example.com") in sent
    assert ("feedback_low", "lead", "email", "lead@example.com") in sent
    [reply] = [n for n in answer.notifications if n.kind == "feedback_reply"]
    assert (reply.audience, reply.channel, reply.locale) == ("customer", "sms", "es")
    renderer = Renderer(REPO / "templates")
    owner = next(n for n in answer.notifications if n.kind == "feedback_low" and n.audience == "agent")
    text = renderer.render("feedback_low", "email", "en", "UTC", owner.context).text
    assert '"2, nadie me llamó"' in text and "2 out of 5" in text and "T1" in text
    words = renderer.render("feedback_reply", "sms", "es", "Europe/Madrid", reply.context).text
    assert words.startswith("Amara, gracias por tu respuesta. Un 2/5 en T1")
    assert any("a low answer (by its score)" in d.reason for d in answer.decisions)


def test_a_good_score_with_words_that_say_otherwise_is_low_and_a_plain_good_one_is_not() -> None:
    _, mixed = closed_then_answered(4, "4, but nobody called me back", stories.customer())
    assert {n.kind for n in mixed.notifications} == {"feedback_low", "feedback_reply"}
    assert mixed.notifications[0].context["answer"]["low_because"] == "words"
    _, happy = closed_then_answered(5, "Sam kept me updated all the way", stories.customer())
    assert happy.notifications == []


def test_a_low_answer_from_a_contact_is_answered_to_that_contact_alone() -> None:
    boss = {"name": "Vera Boss", "email": "vera@example.com", "role": "stakeholder", "id": "c-vera"}
    requester = {"name": "Rui Req", "email": "rui@example.com", "role": "requester", "id": "c-rui"}
    state = None
    for raw in [stories.created("T1", contacts=[boss, requester]), stories.resolved("T1", T0 + minutes(5))]:
        event = parse_event(stories.dumps(raw))
        state = decide(state, event, event.occurred_at, FEEDBACK_RULES).state
    assert state is not None
    closed = tick(state, T0 + minutes(30), FEEDBACK_RULES)
    answer = decide(
        closed.state,
        parse_event(
            stories.dumps(
                stories.event(
                    "ticket.feedback",
                    "T1",
                    T0 + minutes(40),
                    eid="f1",
                    via="email",
                    score=1,
                    contact="c-vera",
                )
            )
        ),
        T0 + minutes(40),
        FEEDBACK_RULES,
    )
    replies = [n.recipient for n in answer.notifications if n.kind == "feedback_reply"]
    assert replies == ["vera@example.com"]
    # The customer's own low answer is theirs alone too: the requester, who hears all the
    # customer does, does not get the reply to someone else's words.
    own = decide(
        closed.state,
        parse_event(
            stories.dumps(
                stories.event("ticket.feedback", "T1", T0 + minutes(41), eid="f2", via="email", score=1)
            )
        ),
        T0 + minutes(41),
        FEEDBACK_RULES,
    )
    assert [(n.audience, n.contact) for n in own.notifications if n.kind == "feedback_reply"] == [
        ("customer", None)
    ]
