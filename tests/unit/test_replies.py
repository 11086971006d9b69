"""Reading customers' answers: numbers in texts, and loyalty signals in their words."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Question
from heard.streams.contract.stories import T0
from heard.streams.delivery.config import load_settings
from heard.streams.policy.replies import (
    FILLER,
    NUMBER_WORDS,
    Answer,
    SignalMatcher,
    event_for_text,
    read_answer,
)
from tests.peers import REPO

MATCHER = SignalMatcher(load_settings(REPO / "config").feedback)


@pytest.mark.parametrize(
    ("body", "choices", "language", "number", "rest"),
    [
        ("2", 3, "en", 2, None),
        ("Option 2", 3, "en", 2, None),
        (" #3 please ", 3, "en", 3, "please"),
        ("two", 3, "en", 2, None),
        ("dos", 3, "es", 2, None),
        ("deux", 3, "fr", 2, None),
        ("Zwei", 3, "de", 2, None),
        ("２", 3, "en", 2, None),  # a full-width digit from a CJK keyboard
        ("2\ufe0f\u20e3", 3, "en", 2, None),  # the keycap emoji
        ("5/5 great service", 5, "en", 5, "great service"),
        ("4 - thanks Sam", 5, "en", 4, "thanks Sam"),
        ("5 stars!", 5, "en", 5, None),
        ("1.", 5, "en", 1, None),
        # Not answers: the number must come first, be in range, and a spelled one stand alone.
        ("I need 2 more days", 3, "en", None, "I need 2 more days"),
        ("7", 3, "en", None, "7"),
        ("10", 5, "en", None, "10"),
        ("one more thing: the box was wet", 3, "en", None, "one more thing: the box was wet"),
        ("ok", 3, "en", None, "ok"),
        ("2023 was better", 3, "en", None, "2023 was better"),
    ],
)
def test_read_answer(body: str, choices: int, language: str, number: int | None, rest: str | None) -> None:
    answer = read_answer(body, choices, language)
    assert (answer.number, answer.rest) == (number, rest)


@pytest.mark.parametrize(
    ("body", "number"),
    [
        ("2", 2),
        ("2, the red one", 2),
        ("2 please", 2),
        ("Option 3 - thanks", 3),
        ("2 more days please", None),
        ("3 times I called!!", None),
        ("1 or 2?", None),
        ("3-4 days", None),
        ("2.5", None),
    ],
)
def test_a_choice_is_a_number_not_a_sentence_that_starts_with_one(body: str, number: int | None) -> None:
    assert read_answer(body, 3, "en", strict=True).number == number


@pytest.mark.parametrize(
    ("text", "language", "signals"),
    [
        (
            "Sam really listened and kept me updated. She took ownership.",
            "en",
            ["felt_heard", "took_ownership", "kept_updated"],
        ),
        ("Nobody kept me updated, I had to chase twice", "en", ["not_kept_updated"]),
        ("I felt invisible after three transfers", "en", ["not_felt_heard"]),
        ("I was never listened to", "en", ["not_felt_heard"]),
        ("Me mantuvieron informada y se hizo cargo de todo", "es", ["took_ownership", "kept_updated"]),
        ("On ne m'a pas tenu informée", "fr", ["not_kept_updated"]),
        ("Man hat mir nicht zugehört", "de", ["not_felt_heard"]),
        ("great", "en", []),
        ("", "en", []),
        ("kept me updated", "pt", []),  # no phrases for the language: nothing is guessed
        ("No complaints, they listened and kept me updated", "en", ["felt_heard", "kept_updated"]),
        ("Je n'ai pas été tenu informé", "fr", ["not_kept_updated"]),
    ],
)
def test_signals(text: str, language: str, signals: list[str]) -> None:
    assert MATCHER.tag(text, language) == signals


QUESTION = Question(
    phone="+14155550123",
    ticket_id="T1",
    asks="option",
    offer_id="O1",
    choices=3,
    asked_at=T0,
    expires_at=T0 + timedelta(days=14),
)


def test_a_text_answering_an_option_becomes_a_valid_choice_event() -> None:
    sid = "SM" + "a" * 32
    event, why = event_for_text(QUESTION, sid, "2 - the red one", T0 + timedelta(hours=1))
    assert why == "option 2 chosen" and event is not None
    parsed = parse_event(json.dumps(event))
    assert (parsed.type, parsed.offer_id, parsed.option, parsed.via, parsed.text, parsed.id) == (
        "ticket.option_chosen",
        "O1",
        2,
        "sms",
        "the red one",
        f"sms:{sid}",
    )


def test_a_text_after_the_question_expired_or_without_a_choice_answers_nothing() -> None:
    late, why = event_for_text(QUESTION, "SM1", "2", T0 + timedelta(days=15))
    assert late is None and "expired" in why
    blank, why = event_for_text(QUESTION, "SM1", "   ", T0 + timedelta(hours=1))
    assert blank is None and why == "an empty text answers nothing"
    before, why = event_for_text(QUESTION, "SM1", "2", T0 - timedelta(minutes=1))
    assert before is None and "before heard asked" in why


@pytest.mark.parametrize("body", ["la segunda o la tercera, no sé", "not sure yet", "the cheaper one", "4"])
def test_a_text_that_names_no_one_option_becomes_an_unclear_answer_with_its_words(body: str) -> None:
    event, why = event_for_text(QUESTION, "SM" + "b" * 32, body, T0 + timedelta(hours=1))
    assert event is not None and why.startswith("not one choice between 1 and 3")
    parsed = parse_event(json.dumps(event))
    assert (parsed.type, parsed.offer_id, parsed.text, parsed.via) == (
        "ticket.answer_unclear",
        "O1",
        body,
        "sms",
    )


def test_a_text_answering_the_rating_becomes_feedback_with_or_without_a_score() -> None:
    rating = QUESTION.model_copy(update={"asks": "feedback", "offer_id": None, "choices": 5})
    scored, _ = event_for_text(rating, "SM1", "5 Sam kept me updated", T0)
    words, _ = event_for_text(rating, "SM2", "it is broken again", T0)
    empty, _ = event_for_text(rating, "SM3", "   ", T0)
    assert scored is not None and words is not None and empty is None
    assert (scored["score"], scored["text"]) == (5, "Sam kept me updated")
    assert "score" not in words and words["text"] == "it is broken again"
    for event in (scored, words):
        assert parse_event(json.dumps(event)).type == "ticket.feedback"


# Written out here, not read from the module: a wrong entry there must fail here.
SPELLED = {
    "en": "one 1 two 2 three 3 four 4 five 5 first 1 second 2 third 3",
    "es": "uno 1 una 1 dos 2 tres 3 cuatro 4 cinco 5 primera 1 segunda 2 tercera 3",
    "fr": "un 1 une 1 deux 2 trois 3 quatre 4 cinq 5 premier 1 première 1 deuxième 2 troisième 3",
    "de": "eins 1 zwei 2 drei 3 vier 4 fünf 5 erste 1 zweite 2 dritte 3",
}


def test_the_spelled_numbers_are_exactly_these() -> None:
    expected = {
        language: dict(zip(text.split()[::2], map(int, text.split()[1::2]), strict=True))
        for language, text in SPELLED.items()
    }
    assert expected == NUMBER_WORDS


@pytest.mark.parametrize(
    ("language", "word", "value"),
    [
        (language, word, int(value))
        for language, text in SPELLED.items()
        for word, value in zip(text.split()[::2], text.split()[1::2], strict=True)
    ],
)
def test_every_spelled_number_is_read_in_its_language(language: str, word: str, value: int) -> None:
    assert read_answer(word, 5, language).number == value
    assert read_answer(word.capitalize() + "!", 5, language).number == value


def test_the_courtesy_words_are_exactly_these() -> None:
    assert {
        "please",
        "pls",
        "thanks",
        "thank",
        "thx",
        "ok",
        "por",
        "gracias",
        "merci",
        "svp",
        "danke",
        "bitte",
    } == FILLER


@pytest.mark.parametrize("filler", sorted(FILLER))
def test_a_choice_may_end_with_a_courtesy_word(filler: str) -> None:
    assert read_answer(f"2 {filler}", 3, "en", strict=True) == Answer(2, filler)


def test_a_number_that_is_not_a_choice_keeps_the_whole_text_as_words() -> None:
    for body in ("2.5", "3-4 days", "7", "one more thing"):
        assert read_answer(body, 3, "en", strict=True) == Answer(None, body)
    # A rating is looser than a choice: "2 more days" is a 2 with words.
    assert read_answer("2 more days", 5, "en") == Answer(2, "more days")


def test_the_choice_question_is_strict_and_the_rating_is_not() -> None:
    option, why = event_for_text(QUESTION, "SM1", "2 more days please", T0)
    assert option is not None and option["type"] == "ticket.answer_unclear" and "not one choice" in why
    rating = QUESTION.model_copy(update={"asks": "feedback", "offer_id": None, "choices": 5})
    scored, _ = event_for_text(rating, "SM1", "2 more days please", T0)
    assert scored is not None and (scored["score"], scored["text"]) == (2, "more days please")


def test_a_question_answers_until_its_expiry_exactly_and_words_are_kept_to_2000() -> None:
    on_time, _ = event_for_text(QUESTION, "SM1", "1", QUESTION.expires_at)
    assert on_time is not None and on_time["option"] == 1
    rating = QUESTION.model_copy(update={"asks": "feedback", "offer_id": None, "choices": 5})
    long, _ = event_for_text(rating, "SM1", "5 " + "w" * 2500, T0)
    assert long is not None and len(long["text"]) == 2000
    assert parse_event(json.dumps(long)).text == "w" * 2000


def test_an_answer_and_a_signal_rule_cannot_be_changed_after_they_are_made() -> None:
    answer = read_answer("2", 3)
    with pytest.raises(AttributeError):
        answer.number = 3  # type: ignore[misc]
    assert MATCHER.tag("   ", "en") == [] and MATCHER.tag(None, "en") == []


@pytest.mark.parametrize(
    ("body", "language", "number"),
    [
        ("la 2", "es", 2),
        ("La segunda", "es", 2),
        ("la opción 2", "es", 2),
        ("quiero la 2", "es", 2),
        ("me quedo con la tercera", "es", 3),
        ("option two", "en", 2),
        ("the second one", "en", 2),
        ("I'll take the 2nd", "en", 2),
        ("die zweite", "de", 2),
        ("ich nehme die zweite Option", "de", 2),
        ("la deuxième", "fr", 2),
        ("je prends l'option 3", "fr", 3),
        ("2ª", "es", 2),
        # Not a choice: two numbers, a sentence, a number out of range, a fraction.
        ("la segunda o la tercera, no sé", "es", None),
        ("I need 2 more days", "en", None),
        ("the 3 of us waited", "en", None),
        ("la 7", "es", None),
        ("2.5", "en", None),
        ("quiero hablar con alguien", "es", None),
    ],
)
def test_a_choice_is_read_as_people_write_it_in_each_language(
    body: str, language: str, number: int | None
) -> None:
    assert read_answer(body, 3, language, strict=True).number == number


def test_a_rating_takes_no_lead_in_words() -> None:
    # "The 3 of us waited" is a sentence about people, not a score of 3.
    assert read_answer("the 3 of us waited all day", 5, "en").number is None
    assert read_answer("3 of 5, we waited all day", 5, "en").number == 3
