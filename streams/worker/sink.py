"""What an agent reads (a record and where it came from) and where it writes (a sink), and
the guard that turns any failure of one record into a dead letter with the reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from heard.streams.base.metrics import DEAD_LETTERS
from heard.streams.base.redaction import redact
from heard.streams.worker.metrics import AGENT_FAILURES

log = logging.getLogger("heard.worker")
# Faust's producer sends at most 1,000,000 bytes a request (producer_max_request_size); a dead
# letter's key, headers and batch framing need the rest.
DEAD_LETTER_MAX_VALUE_BYTES = 900_000
Clock = Callable[[], datetime]


class SourceMessage(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class InboundRecord(Protocol):
    """One consumed record: a Faust event has this shape, and so does `Consumed`."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def message(self) -> SourceMessage: ...


@dataclass(frozen=True)
class Offset:
    topic: str
    partition: int = 0
    offset: int = 0


@dataclass(frozen=True)
class Consumed:
    """A record as an agent sees it, for the places that make one by hand (tests, tools)."""

    key: bytes | None
    value: bytes
    message: Offset = field(default_factory=lambda: Offset("test"))


class Sink(Protocol):
    """Hands records to Kafka's producer. Durability comes from the worker: before a source
    offset is committed the producer is flushed, so a record emitted while handling it is
    acknowledged before its cause is committed."""

    async def emit(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes] | None = None
    ) -> None: ...


@dataclass
class Emitted:
    topic: str
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes] | None


@dataclass
class RecordingSink:
    """A sink that keeps what it was given, for tests and dry runs."""

    records: list[Emitted] = field(default_factory=list)

    async def emit(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes] | None = None
    ) -> None:
        self.records.append(Emitted(topic, key, value, headers))

    def on(self, topic: str) -> list[Emitted]:
        return [record for record in self.records if record.topic == topic]


class DeadLetters:
    def __init__(self, sink: Sink, topic: str, clock: Clock) -> None:
        self.sink = sink
        self.topic = topic
        self.clock = clock

    async def send(self, record: InboundRecord, reason: str, stage: str, *, keep_value: bool = True) -> None:
        """The record, unchanged, on the dead-letter topic, with why and where it came from.
        `keep_value=False`: why and where only (an erased person's data is not kept)."""
        DEAD_LETTERS.labels(stage).inc()
        value = record.value if keep_value else b""
        if len(value) > DEAD_LETTER_MAX_VALUE_BYTES:
            # The broker took the record, but the producer cannot send it again with headers
            # added: the dead letter keeps its beginning, and the source offset the whole.
            reason += (
                f" (the record is {len(value)} bytes: its first "
                f"{DEAD_LETTER_MAX_VALUE_BYTES} are kept here, all of it at the source "
                "offset)"
            )
            value = value[:DEAD_LETTER_MAX_VALUE_BYTES]
        reason = redact(reason)
        log.warning("dead letter (%s): %s", stage, reason)
        source = record.message
        truncated = (
            {"heard-value-truncated-from": str(len(record.value)).encode()}
            if keep_value and len(value) < len(record.value)
            else {}
        )
        if not keep_value:
            truncated = {"heard-value-dropped": b"erased"}
        await self.sink.emit(
            self.topic,
            record.key,
            value,
            headers={
                **truncated,
                "heard-reason": reason.encode()[:4000],
                "heard-stage": stage.encode(),
                "heard-source-topic": str(source.topic).encode(),
                "heard-source-partition": str(source.partition).encode(),
                "heard-source-offset": str(source.offset).encode(),
                "heard-at": self.clock().isoformat().encode(),
            },
        )

    async def guard(
        self,
        stage: str,
        record: InboundRecord,
        handle: Callable[[InboundRecord], Awaitable[None]],
        on_failure: Callable[[InboundRecord, str], Awaitable[None]] | None = None,
    ) -> None:
        """Handle one record; whatever goes wrong, the record ends as a dead letter with the
        reason, never as an agent crash that commits past it. Cancellation still stops."""
        try:
            await handle(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of one record must not take the record with it
            AGENT_FAILURES.labels(stage).inc()
            reason = f"{stage} could not handle the record: {type(exc).__name__}: {exc}"
            source = record.message
            log.error(
                "%s (topic %s, partition %s, offset %s)",
                redact(reason),
                source.topic,
                source.partition,
                source.offset,
            )
            if on_failure is not None:
                await self._report(on_failure, record, reason, stage)
            await self.send(record, reason, stage)

    async def _report(
        self,
        on_failure: Callable[[InboundRecord, str], Awaitable[None]],
        record: InboundRecord,
        reason: str,
        stage: str,
    ) -> None:
        try:
            await on_failure(record, reason)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the dead letter below must still be written
            log.error(
                "%s: reporting the failure failed too: %s: %s", stage, type(exc).__name__, redact(str(exc))
            )
