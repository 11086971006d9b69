"""`heard templates lint` and `heard templates preview`.

Lint reads `config/lint.yaml` and `config/personas.yaml`, then checks every
template: syntax, variables against the documented context, required parts
per kind, missing locale variants, and — rendering each kind against every
persona with worst-case values — SMS segments, tone phrases and reading ease.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, meta, nodes
from pydantic import Field

from heard.channels.registry import PLUGINS, template_parts
from heard.streams.base.settings import Frozen, load_file
from heard.streams.content.absent_fields import absent_one_at_a_time
from heard.streams.content.rendering import Rendered, Renderer, TemplateProblem, plain_words
from heard.streams.content.samples import (
    SAMPLE_NOW,
    Persona,
    Personas,
    SampleTexts,
    sample_context,
    sample_contexts,
)
from heard.streams.content.sms_segments import segments
from heard.streams.contract.contexts import CONTEXTS, context_keys
from heard.streams.contract.state import CUSTOMER_KINDS, KINDS

# textstat 0.7.3 (pinned: later releases download a corpus at run time) imports
# pkg_resources, whose deprecation warning says nothing a writer running lint can act on.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    import textstat

# The context per kind, from its model (heard.streams.contract.contexts; docs/templates.md);
# `_locale`/`_timezone` are always set.
CONTEXT: dict[str, set[str]] = {kind: context_keys(kind) for kind in CONTEXTS}
ALWAYS = {"_locale", "_timezone"}


class ToneRule(Frozen):
    phrase: str
    level: Literal["error", "warning"]
    why: str


class LintSettings(Frozen):
    default_locale: str = "en"
    locales: list[str] = Field(default_factory=lambda: ["en"])
    required: dict[str, list[str]] = Field(default_factory=dict)
    required_sms: dict[str, list[str]] = Field(default_factory=dict)
    files: dict[str, list[str]] = Field(default_factory=dict)
    internal_kinds: list[str] = Field(default_factory=list)
    sms_max_segments: int = Field(3, ge=1, le=10)
    # A kind that needs more room (the options, each with its trade-off) says so here.
    sms_max_segments_by_kind: dict[str, int] = Field(default_factory=dict)
    tone: list[ToneRule] = Field(default_factory=list)
    # Words only one language uses, per language: a message written in one that shows
    # another's (an engine default, a fallback, a sentence left untranslated) fails lint.
    language_markers: dict[str, list[str]] = Field(default_factory=dict)
    min_reading_ease: float = 50

    def sms_budget(self, kind: str) -> int:
        return self.sms_max_segments_by_kind.get(kind, self.sms_max_segments)


@dataclass(frozen=True)
class Finding:
    # A note never fails lint: what a writer should know (an SMS part that gave way).
    level: Literal["error", "warning", "note"]
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def fold_personas(findings: list[Finding]) -> list[Finding]:
    """One finding per problem: the same message for several personas becomes one line
    that lists them, instead of one line each."""
    personas: dict[tuple[Literal["error", "warning", "note"], str, str], list[str]] = {}
    for finding in findings:
        match = re.match(r"persona (\S+): (.*)$", finding.message)
        key = (finding.level, finding.where, match.group(2) if match else finding.message)
        personas.setdefault(key, [])
        if match:
            personas[key].append(match.group(1))

    def shown(names: list[str]) -> list[str]:
        # "everyday/first-reply" says nothing more when "everyday" has the same finding.
        return [name for name in names if name.split("/")[0] == name or name.split("/")[0] not in names]

    return [
        Finding(level, where, f"{message} (personas: {', '.join(shown(names))})" if names else message)
        for (level, where, message), names in personas.items()
    ]


# What an empty value leaves behind: "None", "(None)", "()" or an empty quote.
EMPTY_VALUE = re.compile(r"\bNone\b|\(\s*\)|“\s*”|\"\s*\"")
_TAGS = re.compile(r"<[^>]+>")


def html_text(html: str) -> str:
    body = html.split("<body", 1)[-1]
    return unescape(re.sub(r"\s+", " ", _TAGS.sub(" ", body.split(">", 1)[-1])).strip())


_URL = re.compile(r"https?://\S+")


def told_words(text: str) -> set[str]:
    """The words a part tells its reader (four letters or more, links left out)."""
    return {word.lower() for word in re.findall(r"[^\W\d_]{4,}", _URL.sub(" ", text))}


def told_numbers(text: str) -> set[str]:
    """Amounts, times, dates and counts a part tells its reader (links left out)."""
    return set(re.findall(r"\d+(?:[.,:]\d+)*", _URL.sub(" ", text)))


class _Links(HTMLParser):
    """Each link of an HTML part: its accessible name (aria-label, else its text), where it
    goes, and whether only markup stands between it and the link before it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, bool]] = []
        self._open: tuple[str, str] | None = None
        self._text: list[str] = []
        self._between = ""
        self._seen_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("li", "br", "p", "tr", "td", "div"):
            self._between += " "  # a list item or a break separates links, to the ear too
        if tag == "a":
            named = dict(attrs)
            self._open = (named.get("aria-label") or "", named.get("href") or "")
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            label, href = self._open
            name = " ".join((label or "".join(self._text)).split())
            touching = self._seen_link and not self._between.strip() and " " not in self._between
            self.links.append((name, href, touching))
            self._open, self._between, self._seen_link = None, "", True

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)
        else:
            self._between += data


def link_problems(html: str) -> list[str]:
    """Links a screen reader cannot tell apart: side by side with nothing between them
    (their names run together: "12345"), or one name for links that go to different
    places ("Choose this one" three times)."""
    parser = _Links()
    parser.feed(html)
    problems = []
    touching = [name for name, _, close in parser.links if close]
    if touching:
        problems.append(
            f"links {', '.join(repr(n) for n in touching[:5])} follow the one "
            "before with nothing between: a screen reader runs their names "
            "together; put a space between them, or make them a list"
        )
    places: dict[str, set[str]] = {}
    for name, href, _ in parser.links:
        places.setdefault(name, set()).add(href)
    for name, hrefs in places.items():
        if len(hrefs) > 1:
            problems.append(
                f"{len(hrefs)} links are named {name!r} and go to different places: "
                "name each for what it does (an aria-label, or its own text)"
            )
    return problems


def sms_advice(text: str, budget: int, template: str) -> str:
    """How to get back under the budget: which of the template's own characters force UCS-2
    (a customer's ë is theirs to keep), or how much to cut."""
    forcing = sorted({char for char in text if segments(char)[1] == "UCS-2" and char in template})
    without = segments("".join("a" if char in forcing else char for char in text))
    if forcing and without[1] == "GSM-7" and without[0] <= budget:
        shown = " ".join(repr(char) for char in forcing[:8])
        return (
            f"; {shown} switch the whole text to UCS-2 (70 per part instead of 160): "
            f"without them it would be {without[0]} segment(s)"
        )
    _, encoding, units = segments(text)
    if encoding == "GSM-7":
        limit = 160 if budget == 1 else 153 * budget
    else:  # a reader's own letters (a name, their language) can need UCS-2: 70 per part
        limit = 70 if budget == 1 else 67 * budget
    return f"; cut {units - limit} characters ({encoding})"


def value_words(context: dict[str, Any]) -> set[str]:
    """Every word inside the context's values (names, subjects, the agents' texts): those
    are the people's, in whatever language they wrote them, however a filter reshaped them."""
    words: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            words.update(re.findall(r"[^\W\d_]+", value.lower()))
        elif isinstance(value, dict):
            for each in value.values():
                collect(each)
        elif isinstance(value, list):
            for each in value:
                collect(each)

    collect(context)
    return words


def foreign_words(
    text: str, language: str, markers: dict[str, list[str]], ignore: set[str] | None = None
) -> dict[str, list[str]]:
    """The marker words of each other language found in a text written in `language`,
    leaving out the words to `ignore` (the people's own, see `value_words`)."""
    words = set(re.findall(r"[^\W\d_]+", text.lower())) - (ignore or set())
    found = {
        other: sorted(words & {marker.lower() for marker in listed})
        for other, listed in markers.items()
        if other != language
    }
    return {other: hits for other, hits in found.items() if hits}


def _dotted_uses(source: str, dotted: str) -> bool:
    return re.search(r"\b" + re.escape(dotted).replace(r"\.", r"\s*\.\s*") + r"\b", source) is not None


class Linter:
    def __init__(
        self,
        templates: Path,
        settings: LintSettings,
        personas: list[Persona],
        samples: dict[str, SampleTexts] | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.renderer = renderer or Renderer(
            templates, settings.default_locale, sms_budget=settings.sms_budget
        )
        self.settings = settings
        self.personas = personas
        self.samples = samples or {}
        self.findings: list[Finding] = []

    def again(self) -> Linter:
        """A linter with no findings yet, on the same settings, personas and templates: its
        renderer (and the templates Jinja compiled) kept, so that linting again after a
        template was saved compiles only what changed."""
        self.renderer.forget_resolved()
        return Linter(self.renderer.root, self.settings, self.personas, self.samples, self.renderer)

    def samples_for(self, persona: Persona) -> SampleTexts | None:
        language = persona.locale.replace("_", "-").split("-")[0]
        return self.samples.get(persona.locale) or self.samples.get(language)

    def add(self, level: Literal["error", "warning", "note"], where: str, message: str) -> None:
        self.findings.append(Finding(level, where, message))

    def run(self, now: datetime | None = None, kinds: Collection[str] | None = None) -> list[Finding]:
        """Lint the whole set, or only the kinds named (what the studio re-checks after a
        save inside one kind's folder: every finding of a kind comes from its own files)."""
        moment = now or SAMPLE_NOW
        chosen = set(KINDS if kinds is None else kinds)
        self.check_syntax_and_variables(None if kinds is None else chosen)
        self.check_files_and_parts(chosen)
        if not any(f.level == "error" and "line" in f.where for f in self.findings):
            self.check_rendered(moment, chosen)
            self.check_team_channels(moment, chosen)
            self.check_optional_fields(moment, chosen)
        return fold_personas(self.findings)

    def check_syntax_and_variables(self, kinds: set[str] | None = None) -> None:
        """Every template file (layouts and pages too), or only those of the kinds named."""
        env = self.renderer.env
        for name in self.renderer.template_names():
            if kinds is not None and name.split("/")[0] not in kinds:
                continue
            source = (self.renderer.root / name).read_text(encoding="utf-8")
            try:
                ast = env.parse(source)
            except TemplateSyntaxError as exc:
                self.add("error", f"{name} line {exc.lineno}", plain_words(exc.message or "syntax error"))
                continue
            self.check_text_outside_blocks(name, ast)
            kind = name.split("/")[0]
            if kind not in CONTEXT:
                continue
            for variable in sorted(meta.find_undeclared_variables(ast) - CONTEXT[kind] - ALWAYS):
                line = next(
                    (
                        n
                        for n, text in enumerate(source.splitlines(), 1)
                        if re.search(rf"\b{re.escape(variable)}\b", text)
                    ),
                    None,
                )
                self.add(
                    "error",
                    f"{name} line {line}" if line else name,
                    f"'{variable}' is not in the {kind} context (see docs/templates.md)",
                )

    def check_parity(self, kind: str, locale: str, sources: dict[str, str]) -> None:
        """The two parts of one email say the same things: what the text part tells the
        reader, the HTML part tells too (they drift when only one is edited)."""
        if "email.txt" not in sources or "email.html" not in sources:
            return
        known = CONTEXT.get(kind, set())

        def told(source: str) -> set[str]:
            return {
                f"{name}.{field}"
                for name, field in re.findall(r"\b([a-z_]+)\s*\.\s*([a-z_]+)\b", source)
                if name in known
            }

        for missing in sorted(told(sources["email.txt"]) - told(sources["email.html"])):
            self.add(
                "warning",
                f"{kind}/{locale}/email.html",
                f"email.txt tells the reader {missing} and email.html does not: "
                "the two parts of one email have drifted",
            )

    def check_text_outside_blocks(self, name: str, ast: nodes.Template) -> None:
        """In a template that extends the layout, only blocks reach the reader: text outside
        them vanishes without a word."""
        if not any(isinstance(node, nodes.Extends) for node in ast.body):
            return
        for node in ast.body:
            if isinstance(node, nodes.Output) and any(
                isinstance(part, nodes.TemplateData) and part.data.strip() for part in node.nodes
            ):
                self.add(
                    "error",
                    f"{name} line {node.lineno}",
                    "text outside {% block %} never reaches the reader: move it inside a block",
                )

    def check_files_and_parts(self, kinds: set[str]) -> None:
        root = self.renderer.root
        for kind in (kind for kind in KINDS if kind in kinds):
            files = self.settings.files.get(kind, [])
            locales = (
                [self.settings.default_locale]
                if kind in self.settings.internal_kinds
                else self.settings.locales
            )
            for locale in locales:
                for file in files:
                    if not (root / kind / locale / file).is_file():
                        resolved = self.renderer.resolve(kind, locale, file)
                        if resolved is None:
                            self.add("error", f"{kind}/{locale}/{file}", "missing, and no fallback")
                        else:
                            self.add(
                                "warning", f"{kind}/{locale}/{file}", f"missing; falls back to {resolved}"
                            )
                sources = {
                    file: (root / resolved).read_text(encoding="utf-8")
                    for file in files
                    if (resolved := self.renderer.resolve(kind, locale, file)) is not None
                }
                self.check_parity(kind, locale, sources)
                for body_file in ("email.txt", "email.html", "sms.txt"):
                    if body_file not in sources:
                        continue
                    rules = self.settings.required_sms if body_file == "sms.txt" else self.settings.required
                    for part in rules.get(kind, []):
                        # "a|b": either will do (a greeting by first name, or formally).
                        if not any(_dotted_uses(sources[body_file], one) for one in part.split("|")):
                            self.add(
                                "error",
                                f"{kind}/{locale}/{body_file}",
                                f"a {kind.replace('_', ' ')} must carry {part.replace('|', ' or ')}",
                            )

    def check_rendered(self, now: datetime, kinds: set[str]) -> None:
        for kind in (kind for kind in CUSTOMER_KINDS if kind in kinds):
            for persona, context in self.persona_contexts(kind, now):
                for channel in ("email", "sms"):
                    try:
                        rendered = self.renderer.render(
                            kind, channel, persona.locale, persona.timezone, context, persona.plain_text_only
                        )
                    except TemplateProblem as exc:
                        self.add(
                            "error",
                            f"{exc.file}" + (f" line {exc.line}" if exc.line else ""),
                            f"persona {persona.key}: {exc.reason} (this message would not be sent)",
                        )
                        continue
                    self.check_message(kind, channel, persona, context, rendered)

    def check_message(
        self, kind: str, channel: str, persona: Persona, context: dict[str, Any], rendered: Rendered
    ) -> None:
        """One rendered message as its reader reads it: no empty value, its SMS budget, tone,
        one language, and (English email) reading ease."""
        files = ["sms.txt"] if channel == "sms" else ["subject.txt", "email.txt"]
        where = " + ".join(
            self.renderer.resolve(kind, persona.locale, file) or f"{kind}/{persona.locale}/{file}"
            for file in files
        )
        texts = [rendered.text, rendered.subject or ""]
        if rendered.html is not None:
            # Tone rules read what the reader reads: the HTML part's text too.
            texts.append(html_text(rendered.html))
            self.check_links(kind, persona, rendered.html, where)
            self.check_parts_agree(kind, persona, rendered.text, texts[-1])
        for text in texts:
            for shown in EMPTY_VALUE.findall(text):
                self.add(
                    "error",
                    where,
                    f"persona {persona.key}: {shown!r} reaches "
                    "the reader: a value that can be empty needs "
                    "{% if ... %} around its sentence",
                )
        if channel == "sms":
            self.check_sms_budget(kind, persona, rendered.text, where)
            for gave_way in rendered.gave_way:
                self.add(
                    "note",
                    where,
                    f"persona {persona.key}: to fit {self.settings.sms_budget(kind)} segments, {gave_way}",
                )
        self.check_tone(where, " ".join(texts), persona.key)
        written_in = (
            self.renderer.resolve(kind, persona.locale, files[-1]) or f"{kind}/{persona.locale}"
        ).split("/")[1]
        # The template's own words: names, subjects and agents' texts are the people's, in
        # whatever language they wrote them.
        self.check_language(where, " ".join(texts), written_in, persona.key, value_words(context))
        if channel == "email" and persona.locale.startswith("en") and persona.key == "everyday":
            ease = textstat.flesch_reading_ease(rendered.text)
            if ease < self.settings.min_reading_ease:
                self.add(
                    "warning",
                    where,
                    f"reading ease {ease:.0f} is below "
                    f"{self.settings.min_reading_ease:.0f}; use shorter sentences",
                )

    def check_parts_agree(self, kind: str, persona: Persona, text: str, html: str) -> None:
        """The rendered parts of one email tell the same: a number in one part only (an amount,
        a time) or words the text part says and the HTML part does not (one part edited, the
        other not). A single word apart is left alone: link instructions differ by a word."""
        where = f"{kind}/{persona.locale}/email.txt + email.html"
        numbers = told_numbers(text) ^ told_numbers(html)
        if numbers:
            self.add(
                "warning",
                where,
                f"persona {persona.key}: {', '.join(sorted(numbers))} in one part of the email only: "
                "the text and HTML parts have drifted",
            )
        words = told_words(text) - told_words(html)
        if len(words) >= 2:
            self.add(
                "warning",
                where,
                f"persona {persona.key}: the text part says {', '.join(sorted(words)[:6])} and the "
                "HTML part does not: the two parts have drifted",
            )

    def check_sms_budget(self, kind: str, persona: Persona, text: str, where: str) -> None:
        count, enc, units = segments(text)
        budget = self.settings.sms_budget(kind)
        if count > budget:
            advice = sms_advice(text, budget, self.source(kind, persona.locale, "sms.txt"))
            self.add(
                "error",
                where,
                f"persona {persona.key}: {count} segments ({units} {enc} units); budget {budget}{advice}",
            )

    def check_links(self, kind: str, persona: Persona, html: str, where: str) -> None:
        name = self.renderer.resolve(kind, persona.locale, "email.html") or where
        for problem in link_problems(html):
            self.add("error", name, f"persona {persona.key}: {problem}")

    def check_team_channels(self, now: datetime, kinds: set[str]) -> None:
        """The team's messages by each plug-in channel that carries them (a Slack post):
        rendered for every persona's sample, in the team's language, where the template
        exists; a failure would leave the team unwarned."""
        channels = [p for p in PLUGINS.values() if "team" in p.audiences and p.name != "email"]
        locale = self.settings.default_locale
        for kind in (kind for kind in self.settings.internal_kinds if kind in kinds):
            for plugin in channels:
                name = self.renderer.resolve(kind, locale, plugin.parts.text)
                if name is None:
                    continue
                for persona, context in self.persona_contexts(kind, now):
                    try:
                        rendered = self.renderer.render(kind, plugin.name, locale, persona.timezone, context)
                    except TemplateProblem as exc:
                        self.add(
                            "error",
                            f"{exc.file}" + (f" line {exc.line}" if exc.line else ""),
                            f"persona {persona.key}: {exc.reason} (the team would not be told)",
                        )
                        continue
                    for shown in EMPTY_VALUE.findall(rendered.text):
                        self.add(
                            "error",
                            name,
                            f"persona {persona.key}: {shown!r} reaches the "
                            "team: a value that can be empty needs {% if ... %} around it",
                        )

    def check_optional_fields(self, now: datetime, kinds: set[str]) -> None:
        """Every kind rendered once with each field its context leaves optional absent (one
        persona per language, each channel the kind goes by): a template that fails, or
        shows "None", without it is an error naming the field. A template that fails with
        every field present is reported by the other checks, not again here."""
        for kind in (kind for kind in KINDS if kind in kinds and kind in CONTEXTS):
            team = kind not in CUSTOMER_KINDS
            channels = (
                [p.name for p in PLUGINS.values() if "team" in p.audiences] if team else ["email", "sms"]
            )
            for persona in self.one_persona_per_language(team):
                base = sample_context(kind, persona, now, self.samples_for(persona))
                locale = self.settings.default_locale if team else persona.locale
                for channel in channels:
                    if self.shown_problem(kind, channel, locale, persona, base) is not None:
                        continue
                    for field, context in absent_one_at_a_time(kind, base):
                        self.report_absent(kind, channel, locale, persona, context, field)

    def one_persona_per_language(self, team: bool) -> list[Persona]:
        if team:
            return self.personas[:1]
        first: dict[str, Persona] = {}
        for persona in self.personas:
            first.setdefault(persona.locale, persona)
        return list(first.values())

    def shown_problem(
        self, kind: str, channel: str, locale: str, persona: Persona, context: dict[str, Any]
    ) -> tuple[str, str] | None:
        """(where, what) if the message fails to render or shows an empty value; None if it
        reads well (or the channel has no template for the kind)."""
        where = self.renderer.resolve(kind, locale, template_parts(channel).text)
        if where is None:
            return None  # a team channel without this kind's template: check_team_channels
        try:
            rendered = self.renderer.render(
                kind, channel, locale, persona.timezone, context, persona.plain_text_only
            )
        except TemplateProblem as exc:
            return (
                f"{exc.file}" + (f" line {exc.line}" if exc.line else ""),
                f"this message fails: {exc.reason}. Wrap what reads it in {{% if ... %}} "
                "or give it a default",
            )
        for text in (
            rendered.text,
            rendered.subject or "",
            html_text(rendered.html) if rendered.html else "",
        ):
            shown = EMPTY_VALUE.search(text)
            if shown:
                return where, (f"{shown.group(0)!r} reaches the reader: wrap its sentence in {{% if ... %}}")
        return None

    def report_absent(
        self, kind: str, channel: str, locale: str, persona: Persona, context: dict[str, Any], field: str
    ) -> None:
        problem = self.shown_problem(kind, channel, locale, persona, context)
        if problem is not None:
            where, what = problem
            self.add(
                "error",
                where,
                f"`{field}` can be absent (the contract leaves it "
                f"optional; docs/templates.md), and without it {what}",
            )

    def persona_contexts(self, kind: str, now: datetime) -> list[tuple[Persona, dict[str, Any]]]:
        """Each persona with each sample context of the kind; a variant's name is added to
        the persona's key so a finding says which wording it is about."""
        return [
            (persona.model_copy(update={"key": f"{persona.key}/{label}"}) if label else persona, context)
            for persona in self.personas
            for label, context in sample_contexts(kind, persona, now, self.samples_for(persona))
        ]

    def source(self, kind: str, locale: str, file: str) -> str:
        name = self.renderer.resolve(kind, locale, file)
        return (self.renderer.root / name).read_text(encoding="utf-8") if name else ""

    def check_language(
        self, where: str, text: str, written_in: str, persona: str, people_words: set[str]
    ) -> None:
        """A message is in one language, the engine's own words (defaults, dates) included."""
        language = written_in.replace("_", "-").split("-")[0]
        for other, found in foreign_words(
            text, language, self.settings.language_markers, people_words
        ).items():
            if found:
                shown = ", ".join(f'"{word}"' for word in found[:6])
                self.add(
                    "error",
                    where,
                    f"persona {persona}: words of {other!r} ({shown}) in a "
                    f"message written in {language!r}: one message, one language",
                )

    def check_tone(self, where: str, text: str, persona: str) -> None:
        lowered = text.lower()
        for rule in self.settings.tone:
            if re.search(rf"\b{re.escape(rule.phrase.lower())}\b", lowered):
                self.add(rule.level, where, f'persona {persona}: "{rule.phrase}": {rule.why}')


def sms_budget(config: Path) -> Callable[[str], int]:
    """The segments each kind's text message may take (config/lint.yaml, also what lint
    checks): the composer fits every text message sent into them."""
    path = config / "lint.yaml"
    return (load_file(path, LintSettings) if path.exists() else LintSettings()).sms_budget


def load_linter(config: Path, templates: Path | None = None) -> Linter:
    settings = load_file(config / "lint.yaml", LintSettings)
    personas = load_file(config / "personas.yaml", Personas)
    return Linter(templates or Path("templates"), settings, personas.personas, personas.samples)


def lint_command(config: Path, strict: bool = False) -> int:
    import os

    linter = load_linter(config, Path(os.environ.get("HEARD_TEMPLATES_DIR", "templates")))
    findings = linter.run()
    for finding in findings:
        print(finding)
    errors = sum(1 for f in findings if f.level == "error")
    warnings = sum(1 for f in findings if f.level == "warning")
    notes = len(findings) - errors - warnings
    print(f"templates lint: {errors} errors, {warnings} warnings, {notes} notes")
    return 1 if errors or (strict and warnings) else 0


def preview_command(config: Path, kind: str, out: Path) -> int:
    import os

    linter = load_linter(config, Path(os.environ.get("HEARD_TEMPLATES_DIR", "templates")))
    kinds = KINDS if kind == "all" else (kind,)
    for each in kinds:
        if each not in KINDS:
            print(f"unknown kind {each!r}; choose from {', '.join(KINDS)}")
            return 2
        for persona, context in linter.persona_contexts(each, SAMPLE_NOW):
            folder = out / each
            name = persona.key.replace("/", "--")  # a wording's file beside the persona's
            folder.mkdir(parents=True, exist_ok=True)
            try:
                email = linter.renderer.render(
                    each, "email", persona.locale, persona.timezone, context, persona.plain_text_only
                )
                sms = (
                    linter.renderer.render(each, "sms", persona.locale, persona.timezone, context)
                    if each in CUSTOMER_KINDS
                    else None
                )
            except TemplateProblem as exc:
                print(f"{each:<22} {persona.key:<13} not rendered: {exc}")
                continue
            (folder / f"{name}.txt").write_text(f"Subject: {email.subject}\n\n{email.text}")
            if email.html:
                (folder / f"{name}.html").write_text(email.html)
            if sms is None:
                print(f"{each:<22} {persona.key:<13} email only (written for the team)")
                continue
            (folder / f"{name}.sms.txt").write_text(sms.text + "\n")
            count, enc, units = segments(sms.text)
            print(f"{each:<22} {persona.key:<13} SMS {count} segment(s), {units} {enc} units")
    print(f"previews written to {out}/")
    return 0
