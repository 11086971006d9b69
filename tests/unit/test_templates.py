"""Rendering in the sandbox, and each lint rule catching a seeded violation."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heard.streams.content.lint import load_linter
from heard.streams.content.rendering import Renderer, TemplateProblem
from heard.streams.content.samples import Persona, sample_context
from heard.streams.content.sms_segments import segments
from heard.streams.contract.contexts import CONTEXTS, complete
from tests.peers import REPO

PERSONA = Persona(
    key="p",
    customer={"name": "Zoë <script>x</script>", "greeting_name": "Zoë", "pronouns": None},
    locale="en",
    timezone="Europe/Paris",
    channel="email",
)
NOW = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)


def lint(templates: Path) -> list[str]:
    return [str(f) for f in load_linter(REPO / "config", templates).run(NOW)]


def test_shipped_templates_pass_lint_with_zero_errors() -> None:
    findings = lint(REPO / "templates")
    assert [f for f in findings if f.startswith("error")] == []


def test_times_are_formatted_in_the_readers_zone_and_language() -> None:
    renderer = Renderer(REPO / "templates")
    context = sample_context("acknowledgment", PERSONA, NOW)
    context["next_milestone"]["due_at"] = "2026-11-27T14:00:00+00:00"
    en = renderer.render("acknowledgment", "email", "en", "Europe/Paris", context)
    es = renderer.render("acknowledgment", "email", "es", "America/Mexico_City", context)
    # 14:00 UTC is 15:00 in Paris and 08:00 in Mexico City, each written the reader's way.
    assert "Fri, November 27, 3:00\u202fPM (Central European Time)" in en.text
    assert "vie, 27 de noviembre, 8:00 (hora central)" in es.text


def test_customer_text_is_escaped_in_html() -> None:
    renderer = Renderer(REPO / "templates")
    context = sample_context("acknowledgment", PERSONA, NOW)
    context["customer"]["greeting_name"] = "<script>alert(1)</script>"
    rendered = renderer.render("acknowledgment", "email", "en", "UTC", context)
    assert rendered.html is not None
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{% set x = customer.update({'name': 'pwned'}) %}{{ x }}",
    ],
)
def test_template_injection_payloads_fail_safely(templates: Path, payload: str) -> None:
    (templates / "acknowledgment" / "en" / "sms.txt").write_text(payload)
    renderer = Renderer(templates)
    with pytest.raises(TemplateProblem) as caught:
        renderer.render("acknowledgment", "sms", "en", "UTC", sample_context("acknowledgment", PERSONA, NOW))
    assert caught.value.file == "acknowledgment/en/sms.txt"


def test_receipt_hashes_name_the_template_source_that_rendered_the_message(templates: Path) -> None:
    sms = templates / "acknowledgment" / "en" / "sms.txt"
    renderer = Renderer(templates)
    context = sample_context("acknowledgment", PERSONA, NOW)
    first = renderer.render("acknowledgment", "sms", "en", "UTC", context)
    name = "acknowledgment/en/sms.txt"
    assert first.template_hashes == {name: hashlib.sha256(sms.read_bytes()).hexdigest()[:16]}
    sms.write_text("Hi {{ customer.greeting_name }}, edited.")
    os.utime(sms, (time.time() + 5, time.time() + 5))  # an edit Jinja's reload check sees
    second = renderer.render("acknowledgment", "sms", "en", "UTC", context)
    assert second.text.endswith("edited.")
    assert (
        second.template_hashes[name]
        == hashlib.sha256(b"Hi {{ customer.greeting_name }}, edited.").hexdigest()[:16]
    )
    assert second.template_hashes[name] != first.template_hashes[name]


def test_missing_variable_is_an_error_with_file_and_line_never_a_blank(templates: Path) -> None:
    (templates / "acknowledgment" / "en" / "email.txt").write_text("Hi,\n\n{{ customer.nmae }}\n")
    with pytest.raises(TemplateProblem) as caught:
        Renderer(templates).render(
            "acknowledgment", "email", "en", "UTC", sample_context("acknowledgment", PERSONA, NOW)
        )
    assert str(caught.value).startswith("acknowledgment/en/email.txt line 3:")
    assert "nmae" in str(caught.value)


def test_lint_catches_a_syntax_error_with_its_line(templates: Path) -> None:
    (templates / "milestone_update" / "en" / "email.txt").write_text("Hi\n{% if %}\n")
    assert any(f.startswith("error: milestone_update/en/email.txt line 2") for f in lint(templates))


def test_lint_catches_an_undocumented_variable(templates: Path) -> None:
    path = templates / "acknowledgment" / "en" / "email.txt"
    path.write_text(path.read_text() + "\n{{ secret_token }}\n")
    assert any("'secret_token' is not in the acknowledgment context" in f for f in lint(templates))


def test_lint_requires_the_parts_of_a_closure(templates: Path) -> None:
    path = templates / "closure_summary" / "en" / "email.txt"
    path.write_text(path.read_text().replace("{{ summary.prevention }}", "nothing"))
    assert "error: closure_summary/en/email.txt: a closure summary must carry summary.prevention" in lint(
        templates
    )


def test_lint_flags_cold_phrases_and_vague_timelines(templates: Path) -> None:
    path = templates / "acknowledgment" / "en" / "email.txt"
    path.write_text(path.read_text() + "\nAs per our policy we will answer soon. Do not reply.\n")
    findings = lint(templates)
    assert any(f.startswith("error") and '"as per our policy"' in f for f in findings)
    assert any(f.startswith("error") and '"do not reply"' in f for f in findings)
    assert any(f.startswith("warning") and '"soon"' in f for f in findings)


@pytest.mark.parametrize(
    "stock",
    [
        "We apologise for any inconvenience.",
        "Apologies for any inconvenience.",
        "Sorry for any inconvenience.",
        "We regret any inconvenience caused.",
        "Kindly do the needful.",
    ],
)
def test_lint_catches_stock_phrases_in_every_english_spelling(templates: Path, stock: str) -> None:
    path = templates / "acknowledgment" / "en" / "email.txt"
    path.write_text(path.read_text() + f"\n{stock}\n")
    assert any(f.startswith("error") and "acknowledgment/en/email.txt" in f for f in lint(templates))


def test_lint_counts_sms_segments_with_worst_case_values(templates: Path) -> None:
    path = templates / "acknowledgment" / "en" / "sms.txt"
    path.write_text(
        path.read_text().strip() + " {{ ticket.subject }} {{ ticket.subject }}"
        " {{ ticket.subject }} {{ ticket.subject }}"
    )
    assert any("acknowledgment/en/sms.txt" in f and "segments" in f for f in lint(templates))


def test_lint_warns_about_a_missing_locale_variant(templates: Path) -> None:
    (templates / "milestone_update" / "es" / "sms.txt").unlink()
    assert (
        "warning: milestone_update/es/sms.txt: missing; falls back to milestone_update/en/sms.txt"
    ) in lint(templates)


def test_lint_warns_on_hard_reading(templates: Path) -> None:
    path = templates / "acknowledgment" / "en" / "email.txt"
    path.write_text(
        path.read_text() + "\nNotwithstanding institutional considerations, "
        "comprehensive organisational reconfiguration necessitates "
        "multidimensional interdepartmental collaboration regarding remediation.\n"
    )
    assert any("reading ease" in f for f in lint(templates))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, (1, "GSM-7", 160)),
        ("a" * 161, (2, "GSM-7", 161)),
        ("{" * 80, (1, "GSM-7", 160)),
        ("Zoë" + "a" * 67, (1, "UCS-2", 70)),
        ("Łukasz" + "a" * 65, (2, "UCS-2", 71)),
        ("🎂" * 35, (1, "UCS-2", 70)),
    ],
)
def test_sms_segments(text: str, expected: tuple[int, str, int]) -> None:
    assert segments(text) == expected


@pytest.mark.parametrize(
    ("locale", "words", "foreign"),
    [
        ("en", "a first reply from our team", "una primera respuesta"),
        ("es", "una primera respuesta de nuestro equipo", "first reply"),
        ("fr", "une première réponse de notre équipe", "first reply"),
        ("de", "eine erste Antwort unseres Teams", "first reply"),
    ],
)
def test_the_default_next_step_is_written_in_the_readers_language(
    locale: str, words: str, foreign: str
) -> None:
    renderer = Renderer(REPO / "templates")
    context = sample_context("acknowledgment", PERSONA, NOW)
    context["next_milestone"] = {"text": None, "first_reply": True, "due_at": "2026-11-30T14:00:00+00:00"}
    for channel in ("email", "sms"):
        rendered = renderer.render("acknowledgment", channel, locale, "Europe/Paris", context)
        assert words in rendered.text and foreign not in rendered.text, (channel, rendered.text)
        if rendered.html is not None:
            assert f'<html lang="{locale}" dir="ltr">' in rendered.html
            # Webmail drops <html>: the wrapper says the language and direction again.
            assert f'<div lang="{locale}" dir="ltr" role="article" aria-label="' in rendered.html


def test_an_sms_time_on_another_day_carries_its_weekday() -> None:
    renderer = Renderer(REPO / "templates")
    context = sample_context("acknowledgment", PERSONA, NOW)
    context["sent_at"] = "2026-11-29T10:00:00+00:00"
    context["next_milestone"] = {"text": "a courier slot", "due_at": "2026-11-29T16:00:00+00:00"}
    today = renderer.render("acknowledgment", "sms", "en", "Europe/London", context).text
    context["next_milestone"]["due_at"] = "2026-11-30T09:13:00+00:00"
    tomorrow = renderer.render("acknowledgment", "sms", "en", "Europe/London", context).text
    # (SMS text is one line of plain spaces: CLDR's narrow no-break space is not GSM-7.)
    assert "by 4:00 PM." in today
    assert "by Mon 9:13 AM." in tomorrow


@pytest.mark.parametrize(
    ("locale", "reply", "first"),
    [
        ("en", "a reply from our team", "first"),
        ("es", "una respuesta de nuestro equipo", "primera"),
        ("fr", "une réponse de notre équipe", "première"),
        ("de", "eine Antwort unseres Teams", "erste"),
    ],
)
def test_a_customer_who_writes_again_is_promised_a_reply_not_a_first_one(
    locale: str, reply: str, first: str
) -> None:
    renderer = Renderer(REPO / "templates")
    context = sample_context("acknowledgment", PERSONA, NOW)
    context["next_milestone"] = {
        "text": None,
        "first_reply": True,
        "follow_up": True,
        "due_at": "2026-11-30T14:00:00+00:00",
    }
    for channel in ("email", "sms"):
        text = renderer.render("acknowledgment", channel, locale, "Europe/Paris", context).text
        assert reply in text and first not in text.split("\n\n", 2)[-1], (channel, text)
    holding = sample_context("checkpoint_holding", PERSONA, NOW)
    holding["promise"] = {**holding["promise"], "first_reply": True, "follow_up": True}
    for channel in ("email", "sms"):
        text = renderer.render("checkpoint_holding", channel, locale, "Europe/Paris", holding).text
        assert first not in text, (channel, text)


def test_a_notification_decided_before_follow_ups_existed_keeps_its_first_reply_wording() -> None:
    # On the topic during a rolling upgrade: no `follow_up` in its context.
    renderer = Renderer(REPO / "templates")
    context = sample_context("acknowledgment", PERSONA, NOW)
    context["next_milestone"] = {"text": None, "first_reply": True, "due_at": "2026-11-30T14:00:00+00:00"}
    holding = sample_context("checkpoint_holding", PERSONA, NOW)
    holding["promise"] = {key: value for key, value in holding["promise"].items() if key != "follow_up"} | {
        "first_reply": True
    }
    assert (
        "a first reply from our team" in renderer.render("acknowledgment", "sms", "en", "UTC", context).text
    )
    assert "a first reply" in renderer.render("checkpoint_holding", "sms", "en", "UTC", holding).text


def test_a_context_lacking_an_optional_field_renders_and_one_lacking_a_required_never_sends() -> None:
    """The renderer completes a context from its kind's model: an optional field an earlier
    release did not write is None, never an undefined mid-message; a required one missing
    is a problem of this message, naming the field (it becomes a dead letter, not a text)."""
    renderer = Renderer(REPO / "templates")
    context = sample_context("checkpoint_holding", PERSONA, NOW)
    for optional in ("concern", "owner", "next_update", "moved", "promised"):
        context.pop(optional, None)
    text = renderer.render("checkpoint_holding", "email", "en", "UTC", context).text
    assert "next message you get from us will say where things stand" in text
    del context["promise"]
    with pytest.raises(TemplateProblem) as caught:
        renderer.render("checkpoint_holding", "email", "en", "UTC", context)
    assert (caught.value.file, caught.value.reason) == (
        "checkpoint_holding context",
        "promise: Field required (see docs/templates.md)",
    )


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_sample_the_studio_and_lint_use_fits_its_kinds_model(kind: str) -> None:
    from heard.streams.content.samples import sample_contexts

    for label, context in sample_contexts(kind, PERSONA, NOW):
        assert complete(kind, context).keys() >= context.keys(), label


@pytest.mark.parametrize(
    ("locale", "due", "words"),
    [
        ("es", "2026-11-29T13:00:00+00:00", "Lo siguiente: un hueco del mensajero, antes de las 13:00."),
        ("es", "2026-11-29T01:30:00+00:00", "antes de la 1:30."),
        ("es", "2026-12-02T09:13:00+00:00", "antes del miércoles a las 9:13."),  # never "del mar"
        ("es_MX", "2026-11-29T13:30:00+00:00", "antes de la 1:30"),  # a 12-hour clock
        ("fr", "2026-11-29T15:00:00+00:00", "au plus tard à 15:00."),
        ("fr", "2026-12-02T09:13:00+00:00", "au plus tard mer. à 09:13."),
    ],
)
def test_an_sms_time_carries_the_words_its_language_needs_around_it(
    locale: str, due: str, words: str
) -> None:
    renderer = Renderer(REPO / "templates")
    context = sample_context("acknowledgment", PERSONA, NOW)
    context["sent_at"] = "2026-11-29T00:30:00+00:00"
    context["next_milestone"] = {"text": "un hueco del mensajero", "due_at": due, "follow_up": False}
    text = renderer.render("acknowledgment", "sms", locale, "UTC", context).text
    assert words in text, text


def test_the_teams_nudge_keeps_its_paragraphs_apart_and_her_pronouns() -> None:
    """The promise's own words, then the customer's quiet hours: two paragraphs, and a
    she/her customer is "her" in the team's words."""
    linter = load_linter(REPO / "config", REPO / "templates")
    [everyday] = [p for p in linter.personas if p.key == "everyday"]
    context = sample_context("checkpoint_nudge", everyday, NOW)
    assert context["customer"]["pronouns"] == "she/her"
    text = linter.renderer.render("checkpoint_nudge", "email", "en", "Europe/London", context).text
    what = context["promise"]["what"]
    assert f"  {what}\n\nAmara's quiet hours are 21:00 to 08:00, her time:" in text, text
    assert "\n\n\n" not in text
