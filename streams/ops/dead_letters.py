"""Dead letters: list them with their reasons, and replay them once the cause is fixed.

Every record heard could not handle is on `heard-dead-letters` with the raw value and
headers saying why (`heard-reason`), where (`heard-stage`) and from which topic. After
a fix (a template corrected, a provider account unblocked, a mapping added) the
operator replays the ones that matter:

- `delivery` / `redelivery`: the notification goes back to `notifications-outbound` as a
  fresh attempt (its deferred-retry round is reset). The receipts table makes this
  idempotent: a notification already sent is never sent again, so replaying twice sends
  nothing the second time. A notification whose fallback went out by the other channel
  is still unsent on its own channel: filter (`--key`, `--reason`) to leave it out.
- `lifecycle`: the event goes back, unchanged, to the heard topic it came from; the
  ticket's event-id dedupe absorbs one that was applied after all.
- `sms-status`: the provider report goes back to `heard-sms-status`.
- `ingest`: a help-desk payload that did not map; it is not a heard record, so it is
  never replayed blindly: map it with `heard ingest replay --source NAME FILE` instead.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from heard.streams.base.settings import EngineSettings
from heard.streams.contract.state import Notification
from heard.streams.kafka.client import client_options
from heard.streams.kafka.readback import Positioned

STAGES = ("lifecycle", "delivery", "redelivery", "sms-status", "ingest")
REPLAY_OF = "heard-replay-of"


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    stage: str
    reason: str
    at: datetime | None
    source_topic: str | None
    source: str | None
    # The record's length when only its beginning is kept here (a record near Kafka's limit),
    # and where the whole of it is: partition:offset in `source_topic`.
    truncated_from: int | None = None
    source_position: str | None = None
    # The record's content was not kept (an event for a ticket erased at the customer's request).
    value_dropped: bool = False

    @classmethod
    def from_record(cls, record: Positioned) -> DeadLetter:
        headers = record.headers

        def text(name: str) -> str | None:
            raw = headers.get(name)
            return raw.decode("utf-8", errors="replace") if raw is not None else None

        at: datetime | None
        try:
            at = datetime.fromisoformat(text("heard-at") or "")
        except ValueError:
            at = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC) if record.timestamp_ms > 0 else None
        return cls(
            record.partition,
            record.offset,
            record.key,
            record.value,
            text("heard-stage") or "unknown",
            text("heard-reason") or "",
            at,
            text("heard-source-topic"),
            text("heard-source"),
            int(text("heard-value-truncated-from") or 0) or None,
            f"{text('heard-source-partition')}:{text('heard-source-offset')}",
            headers.get("heard-value-dropped") is not None,
        )

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def key_text(self) -> str:
        return self.key.decode("utf-8", errors="replace") if self.key is not None else ""

    def summary(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "at": self.at.isoformat() if self.at else None,
            "stage": self.stage,
            "key": self.key_text,
            "reason": self.reason,
            "source_topic": self.source_topic,
            "source": self.source,
            "bytes": len(self.value),
        }


@dataclass(frozen=True)
class Replay:
    letter: DeadLetter
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def select(
    letters: Iterable[DeadLetter],
    *,
    stage: str | None = None,
    since: datetime | None = None,
    key: str | None = None,
    reason: str | None = None,
) -> list[DeadLetter]:
    """Letters matching every given filter; `reason` matches a case-insensitive substring."""
    chosen = []
    for letter in letters:
        if stage is not None and letter.stage != stage:
            continue
        if since is not None and (letter.at is None or letter.at < since):
            continue
        if key is not None and letter.key_text != key:
            continue
        if reason is not None and reason.lower() not in letter.reason.lower():
            continue
        chosen.append(letter)
    return chosen


def plan_replay(letter: DeadLetter, topics: dict[str, str], dead_letter_topic: str) -> Replay | str:
    """Where and what to publish for `letter`, or why it is not replayable."""
    headers = [(REPLAY_OF, f"{dead_letter_topic}:{letter.position}".encode())]
    if letter.value_dropped:
        return "its content was not kept: the ticket was erased at the customer's request"
    if letter.truncated_from is not None:
        return (
            f"only the first {len(letter.value)} of its {letter.truncated_from} bytes are "
            f"kept here; the whole record is in {letter.source_topic} at partition:offset "
            f"{letter.source_position}"
        )
    if letter.stage in ("delivery", "redelivery"):
        try:
            notification = Notification.model_validate_json(letter.value)
        except ValueError as exc:
            return f"not a notification record ({str(exc).splitlines()[0]})"
        fresh = notification.model_copy(update={"delivery_round": 0, "not_before": None})
        return Replay(
            letter,
            topics["outbound"],
            letter.key or notification.ticket_id.encode(),
            fresh.model_dump_json().encode(),
            headers,
        )
    if letter.stage == "lifecycle":
        own = {topics["ticket_events"], topics["timers"]}
        if letter.source_topic not in own:
            return f"came from {letter.source_topic!r}, not one of heard's event topics"
        return Replay(letter, letter.source_topic, letter.key, letter.value, headers)
    if letter.stage == "sms-status":
        return Replay(letter, topics["sms_status"], letter.key, letter.value, headers)
    if letter.stage == "sms-replies":
        return Replay(letter, topics["sms_inbound"], letter.key, letter.value, headers)
    if letter.stage == "ingest":
        return (
            f"a {letter.source or 'help-desk'} payload that did not map: fix the mapping, "
            f"then `heard ingest replay --source {letter.source or 'NAME'} FILE`"
        )
    return f"unknown stage {letter.stage!r}"


async def publish(engine: EngineSettings, replays: list[Replay]) -> None:
    """Publish every replay and return once Kafka acknowledged them all."""
    producer = AIOKafkaProducer(**client_options(engine), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [
            await producer.send(replay.topic, replay.value, key=replay.key, headers=replay.headers)
            for replay in replays
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def render_table(letters: list[DeadLetter], width: int = 100) -> str:
    if not letters:
        return "no dead letters match\n"
    lines = []
    for letter in letters:
        at = letter.at.strftime("%Y-%m-%d %H:%M:%S") if letter.at else "?"
        reason = " ".join(letter.reason.split())
        if len(reason) > width:
            reason = reason[: width - 1] + "…"
        lines.append(f"{at}  {letter.position:<9} {letter.stage:<10} {letter.key_text:<16} {reason}")
    return "\n".join(lines) + f"\n{len(letters)} dead letter(s)\n"


def render_json(letters: list[DeadLetter]) -> str:
    return "".join(json.dumps(letter.summary(), ensure_ascii=False) + "\n" for letter in letters)


def render_one(letter: DeadLetter) -> str:
    """One dead letter in full: where it came from, the whole reason, and its body (JSON
    indented when it is JSON, else as text), for `heard dead-letters show`."""
    fields = [
        ("position", letter.position),
        ("at", letter.at.isoformat() if letter.at else "?"),
        ("stage", letter.stage),
        ("key", letter.key_text),
        ("source topic", letter.source_topic or "?"),
        ("source position", letter.source_position or "?"),
    ]
    if letter.source:
        fields.append(("source", letter.source))
    lines = [f"{name + ':':<17}{value}" for name, value in fields]
    lines += ["reason:", *textwrap.wrap(letter.reason, 96, initial_indent="  ", subsequent_indent="  ")]
    if letter.value_dropped:
        lines.append("body: not kept (the ticket was erased at the customer's request)")
    elif letter.truncated_from is not None:
        lines.append(f"body: the first {len(letter.value)} of {letter.truncated_from} bytes")
    else:
        lines.append(f"body: {len(letter.value)} bytes")
    if letter.value:
        try:
            body = json.dumps(json.loads(letter.value), indent=2, ensure_ascii=False)
        except ValueError:
            body = letter.value.decode("utf-8", errors="replace")
        lines.append(body)
    return "\n".join(lines) + "\n"
