"""Publishing the templates folder, and the what-if before it, as the command line and the
studio both offer them: each returns what to tell the writer, line by line, and whether it
went (docs/templates.md, "Publishing")."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from heard.streams.content.lint import load_linter, sms_budget
from heard.streams.content.published import TemplateSet, lay_out
from heard.streams.content.rendering import Renderer
from heard.streams.content.whatif import whatif
from heard.streams.contract.state import Notification
from heard.streams.delivery.config import Settings
from heard.streams.delivery.template_store import publish, read_store
from heard.streams.kafka.readback import read_topic
from heard.streams.kafka.topics import ensure_topics

SPAN = re.compile(r"^(\d+)([dhm])$")


@dataclass
class Told:
    """What a publish or a what-if tells the writer, and whether it went."""

    ok: bool
    lines: list[str] = field(default_factory=list)
    version: str | None = None


def since_span(text: str) -> timedelta:
    """`7d`, `12h`, `90m`: how far back a what-if looks."""
    found = SPAN.match(text.strip())
    if found is None:
        raise ValueError(f"--since {text!r}: give a number and d, h or m (7d, 12h, 90m)")
    number, unit = int(found[1]), found[2]
    hours = {"d": 24 * number, "h": number, "m": number / 60}[unit]
    return timedelta(hours=hours)


async def publish_folder(settings: Settings, by: str) -> Told:
    """Lint the whole folder; refuse on any error; else publish it and make it current."""
    folder = Path(settings.engine.templates_dir)
    findings = load_linter(Path(settings.config_dir), folder).run()
    errors = [str(finding) for finding in findings if finding.level == "error"]
    if errors:
        said = f"not published: {len(errors)} error(s) in {folder}; workers keep the version they have"
        return Told(False, [*errors, said])
    templates = TemplateSet.pack(folder)
    engine = settings.engine
    await ensure_topics(engine, settings.channels.retry.deferred_seconds)
    current = await publish(engine, engine.topic("templates"), templates, by, datetime.now(UTC))
    if current.previous == templates.version:
        return Told(
            True,
            [f"{templates.version} is already the published version; nothing changed"],
            templates.version,
        )
    return Told(
        True,
        [
            f"published {templates.version} ({len(templates.files)} files; was "
            f"{current.previous or 'the templates folder'}): workers render with it from their next message"
        ],
        templates.version,
    )


async def whatif_folder(settings: Settings, span: timedelta, samples: int) -> Told:
    """The draft against the published version, over the messages decided in `span`."""
    engine = settings.engine
    store = await read_store(engine, engine.topic("templates"))
    current = store.versions.get(store.current.version) if store.current else None
    if current is None:
        return Told(
            False, ["nothing published yet: workers render the folder itself (heard templates publish)"]
        )
    folder = Path(engine.templates_dir)
    budget = sms_budget(Path(settings.config_dir))
    start = datetime.now(UTC) - span
    sent = [
        notification
        for _, value, _ in await read_topic(engine, engine.topic("outbound"))
        if (notification := Notification.model_validate_json(value)).decided_at >= start
    ]
    with tempfile.TemporaryDirectory(prefix="heard-whatif-") as laid:
        before = Renderer(
            lay_out(current.templates, Path(laid)), engine.default_locale, budget, current.version
        )
        reports = whatif(sent, before, Renderer(folder, engine.default_locale, budget), samples)
    lines = [
        f"what-if: the draft in {folder} against the published {current.version}, over "
        f"{sum(r.messages for r in reports.values())} message(s) decided since {start:%Y-%m-%d %H:%M} UTC"
    ]
    for report in sorted(reports.values(), key=lambda each: each.kind):
        lines.extend(report.lines())
    findings = load_linter(Path(settings.config_dir), folder).run()
    errors = sum(1 for f in findings if f.level == "error")
    warnings = sum(1 for f in findings if f.level == "warning")
    lines.append(
        f"lint of the draft: {errors} error(s), {warnings} warning(s) (heard templates lint shows them)"
    )
    return Told(not errors and not any(report.errors for report in reports.values()), lines, current.version)
