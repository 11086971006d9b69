"""The published template versions, on the compacted `heard-templates` topic: each version
once (`version:<version>`), and which one workers render with (`current`). Every record goes
to partition 0, so a reader always meets a version before the `current` that names it.

`heard templates publish` lints the folder and refuses on errors, then publishes it;
`heard templates rollback VERSION` points `current` back at a version already published.
Workers read the topic to its end before their first message, render with the current
version, and switch between two messages when it changes (`follow_published`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from heard.streams.base.settings import EngineSettings
from heard.streams.content.published import Current, NotAVersion, Published, TemplateSet, lay_out
from heard.streams.content.rendering import Renderer
from heard.streams.kafka.client import client_options
from heard.streams.kafka.readback import read_topic

log = logging.getLogger("heard.templates")
CURRENT = b"current"
VERSION_PREFIX = "version:"
STARTUP_TIMEOUT_SECONDS = 30.0
RETRY_SECONDS = 5.0


class UnknownVersion(LookupError):
    """A rollback to a version that was never published."""


@dataclass
class Store:
    versions: dict[str, Published] = field(default_factory=dict)
    current: Current | None = None

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            return
        try:
            if key == CURRENT:
                self.current = Current.from_json(value)
            elif key.startswith(VERSION_PREFIX.encode()):
                published = Published.from_json(value)
                self.versions[published.version] = published
        except NotAVersion as exc:
            log.warning("ignoring a record on the templates topic: %s", exc)


async def read_store(engine: EngineSettings, topic: str) -> Store:
    store = Store()
    for key, value, _ in await read_topic(engine, topic):
        store.apply(key, value)
    return store


async def _write(engine: EngineSettings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**client_options(engine), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()


async def publish(
    engine: EngineSettings, topic: str, templates: TemplateSet, by: str, now: datetime
) -> Current:
    """Publish the set (once per version) and make it the current one."""
    store = await read_store(engine, topic)
    previous = store.current.version if store.current else None
    current = Current(templates.version, now, by, "publish", previous)
    records = [(CURRENT, current.to_json())]
    if templates.version not in store.versions:
        records.insert(
            0, (f"{VERSION_PREFIX}{templates.version}".encode(), Published(templates, now, by).to_json())
        )
    await _write(engine, topic, records)
    return current


async def rollback(engine: EngineSettings, topic: str, version: str, by: str, now: datetime) -> Current:
    """Make an already published version the current one again."""
    store = await read_store(engine, topic)
    if version not in store.versions:
        known = ", ".join(sorted(store.versions)) or "none"
        raise UnknownVersion(f"no published version {version!r} (published: {known})")
    previous = store.current.version if store.current else None
    current = Current(version, now, by, "rollback", previous)
    await _write(engine, topic, [(CURRENT, current.to_json())])
    return current


@dataclass
class PublishedTemplates:
    """The renderer a worker's messages use: the current published version, laid out under
    `root`, or (nothing ever published) the templates folder. `ready` is set once the topic
    was read to its end: no message is rendered before, so none renders a draft."""

    folder_renderer: Renderer
    root: Path
    make_renderer: Callable[[Path, str], Renderer]
    store: Store = field(default_factory=Store)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Told of each switch (the delivery, the answer pages): each takes the new renderer.
    listeners: list[Callable[[Renderer], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.renderer = self.folder_renderer

    def switch(self) -> None:
        """Render with the store's current version from the next message on."""
        current = self.store.current
        if current is None or current.version == self.renderer.version:
            return
        published = self.store.versions.get(current.version)
        if published is None:
            return  # its record comes next on the partition
        renderer = self.make_renderer(lay_out(published.templates, self.root), current.version)
        problems = renderer.compile_all()
        if problems:
            # Lint refused this at publish; a set that does not compile here is not sent.
            log.error(
                "templates %s do not compile here; still rendering with %s: %s",
                current.version,
                self.renderer.version or "the templates folder",
                problems[0],
            )
            return
        log.info(
            "templates: rendering with version %s (%s by %s)", current.version, current.action, current.by
        )
        self.renderer = renderer
        for listener in self.listeners:
            listener(renderer)


async def follow_published(
    templates: PublishedTemplates, engine: EngineSettings, topic: str, stop: asyncio.Event
) -> None:
    """Read the templates topic to its end, set `ready`, then keep following it."""
    partition = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(**client_options(engine), enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), STARTUP_TIMEOUT_SECONDS)
    try:
        consumer.assign([partition])
        await asyncio.wait_for(consumer.seek_to_beginning(partition), STARTUP_TIMEOUT_SECONDS)
        end = (await asyncio.wait_for(consumer.end_offsets([partition]), STARTUP_TIMEOUT_SECONDS))[partition]
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=100)
            for records in batches.values():
                for record in records:
                    templates.store.apply(record.key, record.value)
            if not templates.ready.is_set() and await consumer.position(partition) >= end:
                templates.switch()
                if templates.renderer is templates.folder_renderer:
                    log.info("templates: none published yet; rendering the templates folder")
                templates.ready.set()
            elif batches:
                templates.switch()
    finally:
        await consumer.stop()


async def keep_following_published(
    templates: PublishedTemplates, engine: EngineSettings, topic: str, stop: asyncio.Event
) -> None:
    """`follow_published`, started again after a broker hiccup (messages wait for `ready`)."""
    while not stop.is_set():
        try:
            await follow_published(templates, engine, topic, stop)
        except (KafkaError, OSError, TimeoutError) as exc:  # the broker, briefly: read again
            log.warning(
                "templates: reading %s failed (%s); trying again in %.0f s", topic, exc, RETRY_SECONDS
            )
            await asyncio.sleep(RETRY_SECONDS)  # a broker hiccup: wait, then read again
