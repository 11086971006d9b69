"""Text messages composed to fit their budget from the parts the writer ranked: whole when
there is room, the least needed part first when there is not, and never a word, number,
amount, time or reference cut in two."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from heard.streams.content.lint import sms_budget
from heard.streams.content.rendering import Renderer
from heard.streams.content.samples import Persona, sample_context
from heard.streams.content.sms_compose import compose
from heard.streams.content.sms_segments import segments
from tests.peers import REPO

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PERSONA = Persona(
    key="everyday",
    customer={"name": "Amara Okafor", "greeting_name": "Amara", "pronouns": "she/her"},
    locale="en",
    timezone="Europe/London",
    channel="sms",
)
BUDGET = sms_budget(REPO / "config")
RENDERER = Renderer(REPO / "templates", sms_budget=BUDGET)


def milestone(text: str, **changes: object) -> dict[str, object]:
    context = sample_context("milestone_update", PERSONA, NOW)
    context["milestone"]["text"] = text
    return {**context, "transfers": {"count": 0, "acknowledge": False}, **changes}


def test_a_milestone_with_room_is_sent_whole_never_cut_at_a_fixed_length() -> None:
    # It was cut at 80 characters, 111 of 160 used: "... sent to the bank. I've..."
    words = (
        "I've found your refund: it was approved but never sent to the bank. I've sent it "
        "again: €125.40 reaches your card by Thursday."
    )
    text = RENDERER.render("milestone_update", "sms", "en", "Europe/London", milestone(words)).text
    assert words in text and "..." not in text
    assert segments(text)[0] <= BUDGET("milestone_update")


def test_a_long_update_gives_way_least_needed_first_and_keeps_numbers_whole() -> None:
    words = (
        "We found your parcel at the regional depot in Leeds. The courier collects it "
        "tomorrow between 08:00 and 12:00 and delivers by 17:30. Your refund of €1,250.00 "
        "under reference RF-88412 is on its way. We also checked the other two orders on "
        "your account and both are on time. Nothing else is needed from you right now. If the "
        "slot does not suit you, reply with a better one and we will move it for you."
    )
    context = milestone(words, transfers={"count": 3, "acknowledge": True})
    rendered = RENDERER.render("milestone_update", "sms", "en", "Europe/London", context)
    assert segments(rendered.text)[0] <= BUDGET("milestone_update")
    # The handovers' apology (part 3) went before the agent's news (part 1) was touched.
    assert "handovers" not in rendered.text
    assert rendered.gave_way[0].startswith("part 3 left out")
    assert rendered.gave_way[-1].startswith("part 1 shortened")
    # Cut at the end of a sentence: the time window and the amount stay whole.
    assert "between 08:00 and 12:00 and delivers by 17:30." in rendered.text
    source = set(words.split())
    kept = rendered.text.split("): ", 1)[1].split(" Next by")[0]
    assert all(word in source for word in kept.split()), kept


def test_an_option_keeps_its_trade_off_whole_when_there_is_room() -> None:
    context = sample_context("options", PERSONA, NOW)
    context["offer"]["options"][1] = {
        "number": 2,
        "label": "Recogida gratuita",
        "link": None,
        "timeline": "el jueves",
        "tradeoff": "sin coste, pero tienes que estar en casa de 9:00 a 14:00",
    }
    text = RENDERER.render("options", "sms", "es", "Europe/Madrid", context).text
    assert "(sin coste, pero tienes que estar en casa de 9:00 a 14:00)" in text
    assert segments(text)[0] <= BUDGET("options")


def test_a_closure_shortens_the_prevention_before_it_touches_what_changed() -> None:
    context = sample_context("closure_summary", PERSONA, NOW)
    context["summary"] = {
        "what_happened": "The payment service retried a timed-out request and charged you twice.",
        "what_changed": "We refunded the second charge of €89.99 (reference RF-88412).",
        "prevention": "Payments that time out are now checked against the bank before any retry. "
        "Our engineers added an alarm that tells them within a minute. We also "
        "review every double charge each morning until the end of the year, and we "
        "wrote to the bank so that their side flags a repeat to us the same day. From "
        "next month every refund is also confirmed to you by email and text on the day it leaves.",
    }
    rendered = RENDERER.render("closure_summary", "sms", "en", "Europe/London", context)
    assert segments(rendered.text)[0] <= BUDGET("closure_summary")
    assert "We refunded the second charge of €89.99 (reference RF-88412)." in rendered.text
    assert "How did we do? Reply 1-5" in rendered.text  # how to answer always goes
    assert any(note.startswith("part 4 shortened") for note in rendered.gave_way)


def test_what_must_go_is_never_dropped_to_save_a_segment_it_cannot_save() -> None:
    marked = RENDERER.env.from_string(
        "{{ must }}{% part 2 %} Next: the courier's slot by 3 PM.{% endpart %}"
    ).render(must="Amara, " + "a very long required sentence " * 12)
    composed = compose(marked, 1)
    assert "the courier's slot by 3 PM" in composed.text
    assert composed.gave_way == ["over 1 segment(s) even with every part left out: sent whole"]


WORD = st.one_of(
    st.sampled_from(["refund", "courier", "today", "your", "card", "the", "depot", "and"]),
    st.from_regex(r"€[1-9][0-9]{0,3}\.[0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-2][0-9]:[0-5][0-9]", fullmatch=True),
    st.from_regex(r"RF-[0-9]{5}", fullmatch=True),
).map(lambda word: word)
SENTENCE = st.lists(WORD, min_size=2, max_size=45).map(lambda words: " ".join(words) + ".")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    free=st.lists(SENTENCE, min_size=1, max_size=12).map(" ".join),
    budget=st.integers(min_value=1, max_value=3),
)
def test_a_free_text_is_cut_only_between_words_and_only_when_it_must(free: str, budget: int) -> None:
    marked = RENDERER.env.from_string(
        "Amara, T-1:{% part 1 shorten %} {{ free }}{% endpart %} Reply here."
    ).render(free=free)
    composed = compose(marked, budget)
    whole = f"Amara, T-1: {free} Reply here."
    if segments(whole)[0] <= budget:
        assert composed.text == whole and composed.gave_way == []
        return
    assert composed.text.startswith("Amara, T-1:") and composed.text.endswith("Reply here.")
    assert segments(composed.text)[0] <= budget or composed.gave_way[-1].endswith("sent whole")
    source = free.split()
    kept = composed.text.removeprefix("Amara, T-1:").removesuffix(" Reply here.").split()
    for n, word in enumerate(kept):
        whole_word = word.removesuffix("...") if n == len(kept) - 1 else word
        assert whole_word == source[n], (word, source[n])
