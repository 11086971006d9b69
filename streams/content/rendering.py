"""Rendering writers' Jinja templates safely, strictly and in the reader's locale.

Layout: `templates/<kind>/<locale>/<file>` with the files `subject.txt`,
`email.txt`, `email.html` and `sms.txt`; a missing locale file falls back to
the language, then to the default locale. Templates run in an immutable
sandbox with StrictUndefined, so a missing variable is an error, never a blank.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time, match_skeleton
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    pass_context,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from heard.channels.mime import single_line
from heard.channels.registry import PLUGINS, template_parts
from heard.streams.content.sms_compose import PartExtension, compose, strip_parts
from heard.streams.contract.contexts import CONTEXTS, complete
from heard.streams.contract.state import KINDS

_SPACE = re.compile(r"\s+")


class TemplateProblem(Exception):
    """A template failed: `file line N: reason`, written for the writer who owns it."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        where = f"{file} line {line}" if line else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    template_hashes: dict[str, str] = field(default_factory=dict)
    # A text message's parts that gave way to fit its segment budget (heard.streams.content
    # .sms_compose), for lint, the studio and the decision log.
    gave_way: list[str] = field(default_factory=list)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(f"expected a date and time, got {type(value).__name__}")


# Messages about the same moment (a promise due at 3 pm, tomorrow's milestone) repeat
# across tickets; Babel's formatting was a tenth of a worker's time sending emails, so
# each (moment, zone, language, style) is formatted once. Inputs are hashable values.
@lru_cache(maxsize=8192)
def _formatted(style: str, moment: datetime, zone: Any, locale: str, fmt: str) -> str:
    if style == "datetime":
        return format_datetime(moment, fmt, tzinfo=zone, locale=locale)
    if style == "time":
        return format_time(moment, fmt, tzinfo=zone, locale=locale)
    if style == "date":
        return format_date(moment.astimezone(zone).date(), fmt, locale=locale)
    day = format_datetime(moment, _skeleton_pattern("MMMMEEEEd", locale), tzinfo=zone, locale=locale)
    clock = format_time(moment, "short", tzinfo=zone, locale=locale)
    return f"{day}, {clock} ({_zone_name(moment, zone, locale)})"


def _zone_name(moment: datetime, zone: Any, locale: str) -> str:
    """The zone's generic name ("Central European Time"); CLDR has none for UTC and the
    Etc/ zones ("Unknown Region (UTC) Time"), whose specific name is the right one."""
    name = format_datetime(moment, "vvvv", tzinfo=zone, locale=locale)
    if str(zone).startswith(("Etc/", "UTC", "GMT")) or not name:
        return format_datetime(moment, "zzzz", tzinfo=zone, locale=locale)
    return name


@pass_context
def _fmt_datetime(ctx: Context, value: Any, fmt: str = "medium") -> str:
    return _formatted("datetime", _as_datetime(value), ctx["_timezone"], str(ctx["_locale"]), fmt)


@pass_context
def _fmt_time(ctx: Context, value: Any, fmt: str = "short") -> str:
    return _formatted("time", _as_datetime(value), ctx["_timezone"], str(ctx["_locale"]), fmt)


@pass_context
def _fmt_date(ctx: Context, value: Any, fmt: str = "full") -> str:
    return _formatted("date", _as_datetime(value), ctx["_timezone"], str(ctx["_locale"]), fmt)


@lru_cache(maxsize=512)
def _skeleton_pattern(skeleton: str, locale: str) -> Any:
    """The locale's pattern for a skeleton, matched once (Babel searches on every call)."""
    patterns = Locale.parse(locale).datetime_skeletons
    return patterns[skeleton if skeleton in patterns else match_skeleton(skeleton, patterns)]


@pass_context
def _fmt_day_time(ctx: Context, value: Any) -> str:
    """A time, with its weekday when it is not on the day the message is sent, in the
    reader's zone: "3:00 PM" today, "Mon 9:13 AM" otherwise (short enough for an SMS)."""
    moment, zone, locale = _as_datetime(value), ctx["_timezone"], str(ctx["_locale"])
    if _on_the_day_sent(ctx, moment):
        return _formatted("time", moment, zone, locale, "short")
    return _formatted("datetime", moment, zone, locale, _skeleton_pattern(_day_time_skeleton(locale), locale))


def _on_the_day_sent(ctx: Context, moment: datetime) -> bool:
    """Whether `moment` falls on the day the message is sent, in the reader's zone."""
    zone, sent = ctx["_timezone"], ctx.get("sent_at")
    sent_at = _as_datetime(sent) if sent else datetime.now(UTC)
    return bool(moment.astimezone(zone).date() == sent_at.astimezone(zone).date())


def _time_phrase(ctx: Context, value: Any, form: str) -> str:
    """ "By" or "to" a time, with the words each language puts around it: Spanish needs its
    article ("antes de las 13:00", "antes del mié a las 9:13", "a la 1:00"), French its "à"."""
    moment, zone, locale = _as_datetime(value), ctx["_timezone"], str(ctx["_locale"])
    language = locale.split("_")[0]
    local = moment.astimezone(zone)
    today = _on_the_day_sent(ctx, moment)
    clock = format_time(moment, "short", tzinfo=zone, locale=locale)
    # Spanish short weekdays read as words ("antes del mar": before the sea): the whole day.
    day = format_datetime(moment, "EEEE" if language == "es" else "EEE", tzinfo=zone, locale=locale)
    if language == "es":
        # "la 1:30", "las 13:30", and on a 12-hour clock "la 1:30 p. m."
        hour = local.hour % 12 or 12 if _twelve_hour(locale) else local.hour
        art = "la" if hour == 1 else "las"
        if form == "by":
            return f"antes de {art} {clock}" if today else f"antes del {day} a {art} {clock}"
        return f"a {art} {clock}" if today else f"al {day} a {art} {clock}"
    if language == "fr":
        if form == "by":
            return f"au plus tard à {clock}" if today else f"au plus tard {day} à {clock}"
        return f"à {clock}" if today else f"au {day} à {clock}"
    words = {"en": {"by": "by", "to": "to"}, "de": {"by": "bis", "to": "auf"}}.get(language, {})
    prefix = words.get(form, "")
    shown = _fmt_day_time(ctx, value)
    return f"{prefix} {shown}" if prefix else shown


@pass_context
def _fmt_by_time(ctx: Context, value: Any) -> str:
    return _time_phrase(ctx, value, "by")


@pass_context
def _fmt_to_time(ctx: Context, value: Any) -> str:
    return _time_phrase(ctx, value, "to")


@lru_cache(maxsize=64)
def _twelve_hour(locale: str) -> bool:
    return "h" in Locale.parse(locale).time_formats["short"].pattern


@lru_cache(maxsize=64)
def _day_time_skeleton(locale: str) -> str:
    """Weekday and time on the locale's own clock (12 or 24 hours)."""
    return "Ehm" if "h" in Locale.parse(locale).time_formats["short"].pattern else "EHm"


@pass_context
def _fmt_when(ctx: Context, value: Any) -> str:
    """Day, time and zone, each in the reader's own conventions:
    'Friday 27 November, 3:00 PM (Central European Time)'."""
    return _formatted("when", _as_datetime(value), ctx["_timezone"], str(ctx["_locale"]), "")


@pass_context
def _fmt_when_in(ctx: Context, value: Any, zone: str) -> str:
    """`when` in another person's zone (the customer's, in a message to the team)."""
    return _formatted("when", _as_datetime(value), ZoneInfo(zone), str(ctx["_locale"]), "")


@lru_cache(maxsize=64)
def text_direction(locale: str) -> str:
    """`rtl` for a language written right to left (Arabic, Hebrew, Persian…), else `ltr`:
    the HTML `dir` of a message, so its text is laid out and read in the right order."""
    try:
        order = Locale.parse(str(locale).replace("-", "_")).character_order
    except (ValueError, TypeError, UnknownLocaleError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


SUBJECT_LIMIT = 200


def short_subject(text: str) -> str:
    """A subject a mail client shows whole, and one a long URL in a ticket's subject cannot
    push past the 998-character line limit: cut at a word, with an ellipsis."""
    if len(text) <= SUBJECT_LIMIT:
        return text
    return (text[: SUBJECT_LIMIT - 1].rsplit(" ", 1)[0] or text[: SUBJECT_LIMIT - 1]) + "…"


def sentence(value: Any) -> str:
    """Text that ends like a sentence, so what follows it in an SMS does not run on."""
    text = str(value).rstrip()
    return text if not text or text[-1] in ".!?…" else f"{text}."


def one_line(value: Any) -> str:
    """Collapse all whitespace, so no value can break a header or an SMS line."""
    return single_line(str(value))


RESOLVE_SECONDS = 1.0


class HashingLoader(FileSystemLoader):
    """Loads templates from disk and remembers a hash of exactly the source Jinja compiled.

    A receipt names the template versions a message was rendered from; hashing what the
    loader returned (not the file as it is later) keeps that true while writers edit.
    """

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.hashes: dict[str, str] = {}

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        self.hashes[template] = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
        return source, filename, uptodate


MAX_RANGE = 1000


def bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverflowError(
            f"range() of {len(numbers)} numbers; a template may loop at most {MAX_RANGE} times"
        )
    return numbers


# The escape each channel's own template file asks for, by file name (slack.txt: Slack's
# control characters in every printed value).
_ESCAPES = {
    plugin.parts.text: plugin.parts.escape for plugin in PLUGINS.values() if plugin.parts.escape is not None
}


@pass_context
def _escape_for_channel(context: Context, value: Any) -> Any:
    escape = _ESCAPES.get((context.name or "").rsplit("/", 1)[-1])
    return value if escape is None else escape(str(value))


class Renderer:
    def __init__(
        self,
        templates_dir: str | Path,
        default_locale: str = "en",
        sms_budget: Callable[[str], int] | None = None,
        version: str | None = None,
    ) -> None:
        self.root = Path(templates_dir)
        # The published version these templates are (None: a templates folder, a draft).
        self.version = version
        self.default_locale = default_locale
        # Segments a kind's text message may take (config/lint.yaml); None: every part sent.
        self.sms_budget = sms_budget
        self.loader = HashingLoader(str(self.root))
        self.env = ImmutableSandboxedEnvironment(
            loader=self.loader,
            undefined=StrictUndefined,
            finalize=_escape_for_channel,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
            extensions=[PartExtension],
        )
        # A message needs no long loops: a bounded range keeps a slip ({% for i in
        # range(99999) %} nested) from holding a worker, lint or the studio for minutes.
        self.env.globals["range"] = bounded_range
        self.env.filters.update(
            text_direction=text_direction,
            datetime=_fmt_datetime,
            time=_fmt_time,
            date=_fmt_date,
            when=_fmt_when,
            day_time=_fmt_day_time,
            by_time=_fmt_by_time,
            to_time=_fmt_to_time,
            one_line=one_line,
            sentence=sentence,
            when_in=_fmt_when_in,
        )
        self._resolved: dict[tuple[str, str, str], tuple[float, str | None]] = {}

    # ------------------------------------------------------------ lookup
    def resolve(self, kind: str, locale: str, file: str) -> str | None:
        """Template name for a kind/locale/file, falling back language -> default locale.

        The answer is kept for RESOLVE_SECONDS: looking on disk took up to three stat
        calls per part of every message. A template added or removed in a running
        worker is seen within that time; edits to existing ones Jinja sees at once.
        """
        key = (kind, locale, file)
        now = time.monotonic()
        known = self._resolved.get(key)
        if known is not None and now - known[0] < RESOLVE_SECONDS:
            return known[1]
        name = self._find(kind, locale, file)
        self._resolved[key] = (now, name)
        return name

    def forget_resolved(self) -> None:
        """Look on disk again at the next resolve (a file was added or removed just now)."""
        self._resolved.clear()

    def _find(self, kind: str, locale: str, file: str) -> str | None:
        candidates = [locale, locale.replace("_", "-").split("-")[0], self.default_locale]
        for candidate in dict.fromkeys(candidates):
            name = f"{kind}/{candidate}/{file}"
            if (self.root / name).is_file():
                return name
        return None

    def locales_by_kind(self) -> dict[str, tuple[str, ...]]:
        """The locale folders each message kind has templates in."""
        return {
            kind: tuple(
                sorted(
                    folder.name
                    for folder in (self.root / kind).iterdir()
                    if folder.is_dir() and any(folder.iterdir())
                )
            )
            for kind in KINDS
            if (self.root / kind).is_dir()
        }

    def template_names(self) -> list[str]:
        return sorted(
            str(path.relative_to(self.root))
            for path in self.root.rglob("*")
            if path.is_file() and path.suffix in (".txt", ".html")
        )

    def compile_all(self) -> list[TemplateProblem]:
        """Compile every template; the worker refuses to start if any fails."""
        problems = []
        for name in self.template_names():
            try:
                self.env.get_template(name)
            except TemplateSyntaxError as exc:
                problems.append(TemplateProblem(name, exc.lineno, exc.message or str(exc)))
            except TemplateError as exc:
                problems.append(TemplateProblem(name, None, str(exc)))
        return problems

    def content_hash(self, name: str) -> str:
        """Hash of the source `name` was last compiled from (load it first)."""
        if name not in self.loader.hashes:
            self.env.get_template(name)
        return self.loader.hashes[name]

    def _source_line(self, name: str, line: int | None) -> str:
        if line is None:
            return ""
        try:
            lines = (self.root / name).read_text(encoding="utf-8").splitlines()
        except OSError:
            return ""
        return lines[line - 1] if 0 < line <= len(lines) else ""

    # ------------------------------------------------------------ render
    def render_file(self, name: str, context: dict[str, Any], locale: str, timezone: str) -> str:
        from zoneinfo import ZoneInfo

        variables = dict(context)
        variables["_locale"] = locale.replace("-", "_")
        variables["_timezone"] = ZoneInfo(timezone)
        try:
            template = self.env.get_template(name)
            return template.render(variables)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(name, exc.lineno, plain_words(exc.message or str(exc))) from exc
        except SecurityError as exc:
            raise TemplateProblem(name, _template_line(exc, name), f"not allowed: {exc}") from exc
        except TemplateNotFound as exc:
            raise TemplateProblem(name, None, f"includes a missing template {exc.name}") from exc
        except TemplateError as exc:
            line = _template_line(exc, name)
            raise TemplateProblem(
                name, line, plain_words(str(exc), context, self._source_line(name, line))
            ) from exc
        # A filter's or an expression's error is the template's problem, never a crash.
        except (TypeError, ValueError, LookupError, AttributeError, ArithmeticError) as exc:
            raise TemplateProblem(name, _template_line(exc, name), str(exc)) from exc

    def render(
        self,
        kind: str,
        channel: str,
        locale: str,
        timezone: str,
        context: dict[str, Any],
        plain_text_only: bool = False,
    ) -> Rendered:
        hashes: dict[str, str] = {}
        context = completed_context(kind, context)

        def one(file: str, required: bool = True) -> str | None:
            name = self.resolve(kind, locale, file)
            if name is None:
                if required:
                    raise TemplateProblem(
                        f"{kind}/{locale}/{file}", None, "template missing for this kind and locale"
                    )
                return None
            text = self.render_file(name, context, locale, timezone)
            hashes[name] = self.content_hash(name)
            return text

        parts = template_parts(channel)
        if parts.one_line:
            budget = self.sms_budget(kind) if self.sms_budget and channel == "sms" else None
            try:
                composed = compose(one_line(one(parts.text) or ""), budget)
            except ValueError as exc:
                raise TemplateProblem(self.resolve(kind, locale, parts.text) or kind, None, str(exc)) from exc
            return Rendered(
                subject=None,
                text=composed.text,
                html=None,
                template_hashes=hashes,
                gave_way=composed.gave_way,
            )
        subject = short_subject(one_line(strip_parts(one(parts.subject) or ""))) if parts.subject else None
        text = _tidy_text(strip_parts(one(parts.text) or ""))
        html = None if plain_text_only or parts.html is None else one(parts.html, required=False)
        return Rendered(subject=subject, text=text, html=html and strip_parts(html), template_hashes=hashes)


def completed_context(kind: str, context: dict[str, Any]) -> dict[str, Any]:
    """The context as its kind's model has it (heard.streams.contract.contexts): every field
    the contract leaves optional present, as None or its default, so a notification decided
    by an earlier release (still on the topic during a rolling upgrade) lacks none. A context
    its model refuses is a problem of this message: it is never sent."""
    if kind not in CONTEXTS:
        return context
    try:
        return complete(kind, context)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise TemplateProblem(
            f"{kind} context", None, f"{where}: {first['msg']} (see docs/templates.md)"
        ) from None


_MISSING_ATTRIBUTE = re.compile(r"'dict object' has no attribute '(\w+)'")


def plain_words(message: str, context: dict[str, Any] | None = None, source: str = "") -> str:
    """Jinja's messages in a writer's words, with a "did you mean" from the context: among
    the fields of the object the template line reads (`customer.first_name`: the customer's
    fields), or of every object when the line does not say which."""
    missing = _MISSING_ATTRIBUTE.search(message)
    if missing and context is not None:
        name = missing.group(1)
        owners = {
            owner
            for owner in re.findall(rf"\b(\w+)\s*\.\s*{re.escape(name)}\b", source)
            if isinstance(context.get(owner), dict)
        }
        objects = [context[owner] for owner in owners] if owners else list(context.values())
        known = sorted({key for value in objects if isinstance(value, dict) for key in value})
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.4)
        hint = f"; did you mean `{near[0]}`?" if near else ""
        where = f" in `{sorted(owners)[0]}`" if len(owners) == 1 else " here"
        return f"there is no `{name}`{where}{hint} (docs/templates.md lists what there is)"
    if "expected token 'end of print statement'" in message:
        return (
            "a {{ ... }} holds one value: a filter needs a `|` before it, or a `}}` is "
            f"missing ({message})"
        )
    if "Unexpected end of template" in message:
        return f"a block is opened and never closed: add its {{% end... %}} ({message})"
    return message


def _tidy_text(text: str) -> str:
    """Drop the blank lines a dropped sentence leaves behind; keep paragraphs."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if not line and tidy and not tidy[-1]:
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"


def _template_line(exc: BaseException, name: str) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    tb: types.TracebackType | None = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
