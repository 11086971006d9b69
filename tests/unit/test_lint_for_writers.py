"""Lint that speaks a writer's language: each problem a writer can make, seeded into a copy
of the templates, and the message they get."""

from __future__ import annotations

from pathlib import Path

import pytest

from heard.streams.content.lint import load_linter
from tests.peers import REPO


def findings(templates: Path) -> list[str]:
    return [str(f) for f in load_linter(REPO / "config", templates).run()]


def edit(templates: Path, name: str, old: str, new: str) -> None:
    path = templates / name
    text = path.read_text()
    assert old in text, name
    path.write_text(text.replace(old, new, 1))


def test_a_clean_tree_has_no_findings(templates: Path) -> None:
    found = findings(templates)
    assert [f for f in found if not f.startswith("note: ")] == []
    # Notes say which SMS parts gave way for the worst-case personas: nothing else.
    assert all(f.split(": ")[1].endswith("/sms.txt") and "to fit" in f for f in found)


def test_tone_rules_read_the_html_part_too(templates: Path) -> None:
    edit(
        templates,
        "acknowledgment/en/email.html",
        "Thank you for writing to us",
        "Dear valued customer, thank you for writing to us",
    )
    [problem] = [f for f in findings(templates) if "valued customer" in f]
    assert problem.startswith("error: acknowledgment/en/subject.txt + acknowledgment/en/email.txt")
    assert "(personas: everyday, long-name," in problem  # one line for every persona


def test_an_empty_value_that_reaches_the_reader_is_an_error(templates: Path) -> None:
    edit(
        templates,
        "acknowledgment/en/email.txt",
        "Hi {{ customer.greeting_name }},",
        "Hi {{ customer.greeting_name }} ({{ customer.pronouns }}),",
    )
    found = [f for f in findings(templates) if "reaches the reader" in f]
    [problem] = [f for f in found if "a value that can be empty" in f]
    assert "'None' reaches the reader: a value that can be empty needs {% if ... %}" in problem
    assert "long-name" in problem and "everyday" not in problem  # only personas without pronouns
    # The model says pronouns are optional: lint takes them away and names the field too.
    assert any("`customer.pronouns` can be absent" in f for f in found), found


@pytest.mark.parametrize(
    ("file", "guarded", "bare", "field"),
    [
        # No hand-made sample leaves these out: the contexts' models say they can be absent.
        (
            "acknowledgment/en/email.txt",
            '{% if concern %}, and we understand you are worried {{ concern | trim(".") }}: we are '
            "treating it that way{% else %}, and we understand it matters to you{% endif %}",
            ', and we understand you are worried {{ concern | trim(".") }}',
            "concern",
        ),
        (
            "checkpoint_holding/en/email.txt",
            "{% if next_update %}You will hear from us again by {{ next_update.due_at | when }}, or "
            "before then if there is news.{% else %}",
            "You will hear from us again by {{ next_update.due_at | when }}.{% if false %}",
            "next_update",
        ),
    ],
)
def test_each_optional_field_is_taken_away_in_turn_and_a_template_needing_it_is_named(
    templates: Path, file: str, guarded: str, bare: str, field: str
) -> None:
    edit(templates, file, guarded, bare)
    named = [f for f in findings(templates) if f"`{field}` can be absent" in f]
    assert named and all(f.startswith(f"error: {file}") for f in named), findings(templates)


def test_text_outside_blocks_is_flagged_with_its_line(templates: Path) -> None:
    path = templates / "closure_summary/en/email.html"
    path.write_text(path.read_text() + "<p>P.S. We are sorry it took so long.</p>\n")
    lines = len(path.read_text().splitlines())
    assert (
        f"error: closure_summary/en/email.html line {lines}: text outside {{% block %}} "
        "never reaches the reader: move it inside a block"
    ) in findings(templates)


def test_a_misspelt_variable_gets_a_did_you_mean(templates: Path) -> None:
    edit(
        templates,
        "milestone_update/en/email.txt",
        "{{ customer.greeting_name }}",
        "{{ customer.greting_name }}",
    )
    [problem] = [f for f in findings(templates) if "there is no" in f]
    assert "milestone_update/en/email.txt line 1" in problem
    assert "(personas: everyday, long-name, non-latin" in problem
    assert "there is no `greting_name` in `customer`; did you mean `greeting_name`?" in problem


def test_did_you_mean_offers_the_fields_of_the_object_in_question(templates: Path) -> None:
    # `first_name` is nearer to `first_reply` (a field of next_milestone) than to any of
    # the customer's: the suggestion must come from the customer's own fields.
    edit(
        templates, "acknowledgment/en/email.txt", "{{ customer.greeting_name }}", "{{ customer.first_name }}"
    )
    [problem] = {f.split(" (personas")[0] for f in findings(templates) if "there is no" in f}
    assert "there is no `first_name` in `customer`" in problem
    assert "first_reply" not in problem


def test_a_broken_print_is_explained_in_plain_words(templates: Path) -> None:
    edit(templates, "acknowledgment/en/subject.txt", "{{ ticket.subject }}", "{{ ticket.subject upper }}")
    [problem] = [f for f in findings(templates) if "subject.txt" in f]
    assert problem.startswith("error: acknowledgment/en/subject.txt line 1: a {{ ... }} holds one value")


def test_an_sms_over_budget_names_the_character_that_forced_ucs2(templates: Path) -> None:
    edit(
        templates,
        "acknowledgment/en/sms.txt",
        "Reply here anytime.",
        "Reply here anytime — we read every message, day and night, and we answer every one "
        "of them ourselves — nothing is automated on our side, we promise you that much.",
    )
    problems = [f for f in findings(templates) if f.startswith("error: acknowledgment/en/sms.txt")]
    # Readers whose names are written in GSM-7 are told which character to drop; a reader
    # whose own letters need UCS-2 anyway is told how much to cut, in UCS-2's units.
    assert problems and all(
        "'—' switch the whole text to UCS-2" in f or "characters (UCS-2)" in f for f in problems
    )
    assert all("'ë'" not in f and "'Ł'" not in f for f in problems)  # the customers' letters
    assert any("without them it would be 3 segment(s)" in f for f in problems)


def test_the_text_and_html_parts_of_one_email_must_not_drift(templates: Path) -> None:
    edit(
        templates,
        "closure_summary/en/email.html",
        '<p style="margin-top:0;">{{ summary.prevention }}</p>\n',
        "",
    )
    assert (
        "warning: closure_summary/en/email.html: email.txt tells the reader "
        "summary.prevention and email.html does not: the two parts of one email have "
        "drifted"
    ) in findings(templates)


def test_a_message_that_mixes_languages_fails(templates: Path) -> None:
    # The defect readers met: an engine default in English inside a Spanish acknowledgment.
    edit(
        templates,
        "acknowledgment/es/sms.txt",
        "una primera respuesta de nuestro equipo",
        "a first reply from our team",
    )
    [problem] = [f for f in findings(templates) if "one message, one language" in f]
    assert problem.startswith("error: acknowledgment/es/sms.txt:")
    assert 'words of \'en\' ("first", "from", "our", "reply") in a message written in \'es\'' in problem
    assert "(personas: spanish/no-milestone)" in problem  # the wording with no milestone


def test_a_fallback_to_another_language_is_read_in_the_language_it_was_written_in(templates: Path) -> None:
    # With no French acknowledgment the French reader gets the English one: its own words
    # are English throughout (dates too), so it is no mix; the fallback itself is a warning.
    # The agent's French words inside it are the agent's, not the template's.
    for file in ("subject.txt", "email.txt", "email.html", "sms.txt"):
        (templates / "acknowledgment/fr" / file).unlink()
    found = findings(templates)
    assert not [f for f in found if "one message, one language" in f]
    assert "warning: acknowledgment/fr/sms.txt: missing; falls back to acknowledgment/en/sms.txt" in found


def test_names_and_agents_words_are_not_taken_for_another_language() -> None:
    from heard.streams.content.lint import foreign_words, value_words

    markers = {"es": ["los", "del"], "de": ["der"], "en": ["the"]}
    text = "Hi Ana de los Santos, Van der Berg will update you about The North Face order."
    context = {
        "customer": {"name": "Ana de los Santos"},
        "agent": {"name": "Van der Berg"},
        "ticket": {"subject": "The North Face order"},
    }
    assert foreign_words(text, "en", markers) == {"es": ["los"], "de": ["der"]}
    assert foreign_words(text, "en", markers, value_words(context)) == {}
    # The template's own words still count.
    assert foreign_words(text + " Gracias del equipo.", "en", markers, value_words(context)) == {
        "es": ["del"]
    }


def test_each_of_heards_own_promises_is_linted_in_its_own_wording(templates: Path) -> None:
    # The first-reply wording of the holding SMS is only rendered for heard's own promise.
    edit(
        templates,
        "checkpoint_holding/en/sms.txt",
        "{% else %}a first reply{% endif %}",
        "{% else %}a first reply, the one our acknowledgment named when you "
        "first wrote to us and which we had every intention of keeping for you{% endif %}",
    )
    problems = [f for f in findings(templates) if "checkpoint_holding/en/sms.txt" in f]
    assert problems and all("segments" in f for f in problems)
    # Only that wording is over budget, and the finding names it.
    assert all("/first-reply" in f for f in problems)
    assert any("non-latin/first-reply" in f for f in problems)


def test_an_sms_over_budget_in_a_readers_own_letters_says_how_much_to_cut(templates: Path) -> None:
    edit(
        templates,
        "acknowledgment/en/sms.txt",
        "Reply here anytime.",
        "Reply here anytime. " + "We read every message and answer each one ourselves. " * 4,
    )
    problems = [f for f in findings(templates) if f.startswith("error: acknowledgment/en/sms.txt")]
    ucs2 = [f for f in problems if "UCS-2 units" in f]
    assert ucs2 and all("characters (UCS-2)" in f for f in ucs2)
    assert all(int(f.split("; cut ")[1].split()[0]) > 0 for f in problems)


def test_every_sample_wording_lint_renders_is_named_for_writers_in_the_studio() -> None:
    from heard.streams.content.lint import load_linter
    from heard.streams.content.samples import SAMPLE_NOW, sample_contexts
    from heard.streams.contract.state import KINDS
    from heard.streams.studio.server import WORDINGS

    linter = load_linter(REPO / "config", REPO / "templates")
    labels = {
        label
        for kind in KINDS
        for persona in linter.personas
        for label, _ in sample_contexts(kind, persona, SAMPLE_NOW)
    }
    assert labels - set(WORDINGS) == set()
    assert {"two-options", "changed-choice", "first-promise", "new-owner"} <= labels


def test_rating_links_side_by_side_are_refused_as_a_screen_reader_hears_them(templates: Path) -> None:
    # The pattern the rating once had: five links with nothing between them ("12345").
    edit(templates, "closure_summary/en/email.html", "</a></li> {% endfor %}</ul>", "</a>{% endfor %}</ul>")
    edit(
        templates,
        "closure_summary/en/email.html",
        '{% for score in range(1, 6) %}<li style="display:inline-block;margin:6px 6px 0 0;">',
        "{% for score in range(1, 6) %}",
    )
    [problem] = {
        f.split(": ", 2)[2]
        for f in findings(templates)
        if "closure_summary/en/email.html" in f and "nothing between" in f
    }
    assert problem.startswith(
        "links '2 out of 5', '3 out of 5', '4 out of 5', '5 out of 5 "
        "(great)' follow the one before with nothing between"
    )


def test_links_with_one_name_to_different_places_are_refused(templates: Path) -> None:
    # The options' links once all read "Choose this one".
    edit(
        templates,
        "options/en/email.html",
        """aria-label="Choose option {{ option.number }}: {{ option.label | trim('.') }}">"""
        "Choose option {{ option.number }}</a>",
        ">Choose this one</a>",
    )
    assert any(
        "options/en/email.html" in f and "links are named 'Choose this one' and go to different places" in f
        for f in findings(templates)
    ), findings(templates)


def test_a_template_that_assumes_an_optional_field_is_caught_before_a_customer_is(templates: Path) -> None:
    # An option's timeline is optional in the contract: a confirmation that reads it
    # without `{% if %}` would show "None" (or fail) for a choice made without one.
    edit(
        templates,
        "option_confirmed/en/email.txt",
        '{% if chosen.timeline %}: {{ chosen.timeline | trim(".") }}{% endif %}',
        ": {{ chosen.timeline }}",
    )
    assert any(
        "option_confirmed/en/email.txt" in f and "'None' reaches the reader" in f for f in findings(templates)
    ), findings(templates)


def test_a_text_part_edited_without_its_html_part_is_flagged(templates: Path) -> None:
    edit(
        templates,
        "acknowledgment/en/email.txt",
        "Thank you for writing to us about",
        "Thanks a lot for contacting us about",
    )
    drifted = [f for f in findings(templates) if "the two parts have drifted" in f]
    assert drifted and all(f.startswith("warning: acknowledgment/en/email.txt + email.html") for f in drifted)
    assert "the text part says contacting, thanks and the HTML part does not" in drifted[0]


def test_a_number_in_one_part_only_is_flagged(templates: Path) -> None:
    edit(
        templates,
        "acknowledgment/en/email.html",
        "Thank you for writing to us",
        "Thank you for writing to us within 24 hours",
    )
    drifted = [f for f in findings(templates) if "in one part of the email only" in f]
    assert drifted and "24 in one part of the email only" in drifted[0]
