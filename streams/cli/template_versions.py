"""`heard templates publish | versions | rollback VERSION | whatif`: a writer's folder is a
draft until it is published; workers render with the published version; `whatif` shows what
the draft would change in the messages heard really sent (docs/templates.md, "Publishing")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from heard.streams.delivery.config import Settings
from heard.streams.delivery.template_publishing import publish_folder, since_span, whatif_folder
from heard.streams.delivery.template_store import UnknownVersion, read_store, rollback


def publish_command(settings: Settings, by: str) -> int:
    told = asyncio.run(publish_folder(settings, by))
    print("\n".join(told.lines))
    return 0 if told.ok else 1


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


def whatif_command(settings: Settings, since: str, samples: int) -> int:
    try:
        span = since_span(since)
    except ValueError as exc:
        print(f"heard: {exc}")
        return 2
    told = asyncio.run(whatif_folder(settings, span, samples))
    print("\n".join(told.lines))
    if told.version is None:
        return 2  # nothing published to compare with
    return 0 if told.ok else 1
