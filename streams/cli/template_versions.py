"""`heard templates publish | versions | rollback VERSION`: a writer's folder is a draft until
it is published; workers render with the published version (docs/templates.md, "Publishing")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from heard.streams.content.lint import load_linter
from heard.streams.content.published import TemplateSet
from heard.streams.delivery.config import Settings
from heard.streams.delivery.template_store import UnknownVersion, publish, read_store, rollback
from heard.streams.kafka.topics import ensure_topics


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
