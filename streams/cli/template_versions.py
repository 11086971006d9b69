"""`heard templates publish | versions | rollback VERSION | whatif`: a writer's folder is a
draft until it is published; workers render with the published version; `whatif` shows what
the draft would change in the messages heard really sent (docs/templates.md, "Publishing")."""

from __future__ import annotations

import asyncio
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from heard.streams.content.lint import load_linter, sms_budget
from heard.streams.content.published import TemplateSet, lay_out
from heard.streams.content.rendering import Renderer
from heard.streams.contract.state import Notification
from heard.streams.delivery.config import Settings
from heard.streams.delivery.template_store import UnknownVersion, publish, read_store, rollback
from heard.streams.kafka.readback import read_topic
from heard.streams.kafka.topics import ensure_topics
from heard.streams.ops.whatif import whatif


def publish_command(settings: Settings, by: str) -> int:
    """Lint the whole folder; refuse on any error; else publish it and make it current."""
    folder = Path(settings.engine.templates_dir)
    findings = load_linter(Path(settings.config_dir), folder).run()
    errors = [finding for finding in findings if finding.level == "error"]
    if errors:
        for finding in errors:
            print(finding)
        print(f"not published: {len(errors)} error(s) in {folder}; workers keep the version they have")
        return 1
    templates = TemplateSet.pack(folder)
    engine = settings.engine

    async def publishing() -> str | None:
        await ensure_topics(engine, settings.channels.retry.deferred_seconds)
        current = await publish(engine, engine.topic("templates"), templates, by, datetime.now(UTC))
        return current.previous

    previous = asyncio.run(publishing())
    if previous == templates.version:
        print(f"{templates.version} is already the published version; nothing changed")
        return 0
    print(
        f"published {templates.version} ({len(templates.files)} files; was "
        f"{previous or 'the templates folder'}): workers render with it from their next message"
    )
    return 0


def versions_command(settings: Settings) -> int:
    engine = settings.engine
    store = asyncio.run(read_store(engine, engine.topic("templates")))
    if not store.versions:
        print("nothing published yet: workers render the templates folder (heard templates publish)")
        return 0
    current = store.current.version if store.current else None
    for published in sorted(store.versions.values(), key=lambda each: each.published_at):
        mark = "*" if published.version == current else " "
        when = published.published_at.strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"{mark} {published.version}  {when}  by {published.by}  ({len(published.templates.files)} files)"
        )
    if store.current is not None:
        print(f"current: {store.current.version} ({store.current.action} by {store.current.by})")
    return 0


def rollback_command(settings: Settings, version: str, by: str) -> int:
    engine = settings.engine
    try:
        current = asyncio.run(rollback(engine, engine.topic("templates"), version, by, datetime.now(UTC)))
    except UnknownVersion as exc:
        print(f"heard: {exc}")
        return 2
    print(
        f"rolled back to {current.version} (was {current.previous}): "
        "workers render with it from their next message"
    )
    return 0


SPAN = re.compile(r"^(\d+)([dhm])$")


def since_span(text: str) -> timedelta:
    """`7d`, `12h`, `90m`: how far back `whatif` looks."""
    found = SPAN.match(text.strip())
    if found is None:
        raise ValueError(f"--since {text!r}: give a number and d, h or m (7d, 12h, 90m)")
    number, unit = int(found[1]), found[2]
    return (
        timedelta(days=number)
        if unit == "d"
        else timedelta(hours=number)
        if unit == "h"
        else timedelta(minutes=number)
    )


def whatif_command(settings: Settings, since: str, samples: int) -> int:
    """The draft against the published version, over the messages sent since `since`."""
    engine = settings.engine
    try:
        span = since_span(since)
    except ValueError as exc:
        print(f"heard: {exc}")
        return 2
    store = asyncio.run(read_store(engine, engine.topic("templates")))
    current = store.versions.get(store.current.version) if store.current else None
    if current is None:
        print("nothing published yet: workers render the folder itself (heard templates publish)")
        return 2
    folder = Path(settings.engine.templates_dir)
    budget = sms_budget(Path(settings.config_dir))
    start = datetime.now(UTC) - span
    sent = [
        notification
        for _, value, _ in asyncio.run(read_topic(engine, engine.topic("outbound")))
        if (notification := Notification.model_validate_json(value)).decided_at >= start
    ]
    with tempfile.TemporaryDirectory(prefix="heard-whatif-") as laid:
        before = Renderer(
            lay_out(current.templates, Path(laid)), engine.default_locale, budget, current.version
        )
        reports = whatif(sent, before, Renderer(folder, engine.default_locale, budget), samples)
    print(
        f"what-if: the draft in {folder} against the published {current.version}, over "
        f"{sum(r.messages for r in reports.values())} message(s) decided since {start:%Y-%m-%d %H:%M} UTC"
    )
    for report in sorted(reports.values(), key=lambda each: each.kind):
        print("\n".join(report.lines()))
    findings = load_linter(Path(settings.config_dir), folder).run()
    errors = sum(1 for f in findings if f.level == "error")
    warnings = sum(1 for f in findings if f.level == "warning")
    print(f"lint of the draft: {errors} error(s), {warnings} warning(s) (heard templates lint shows them)")
    return 1 if errors or any(report.errors for report in reports.values()) else 0
