"""Files of canonical events, one JSON object per line: read and validated line by line,
shifted in time, and published to the ticket-events topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from heard.streams.contract.records import InvalidEvent, parse_event
from heard.streams.delivery.config import Settings


def read_events(path: Path) -> tuple[list[tuple[int, Any, bytes]], list[str]]:
    valid: list[tuple[int, Any, bytes]] = []
    problems: list[str] = []
    # Bytes, line by line: one line of invalid UTF-8 is that line's problem, not the file's.
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(b"#"):
            continue
        try:
            valid.append((number, parse_event(line), line))
        except InvalidEvent as exc:
            problems.append(f"{path}:{number}: {exc}")
    return valid, problems


def rebase(raw: bytes, delta_seconds: float) -> bytes:
    """Shift every `occurred_at` and `due_at` by delta, keeping the story's spacing."""

    def shift(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in ("occurred_at", "due_at") and isinstance(value, str):
                    moment = datetime.fromisoformat(value) + timedelta(seconds=delta_seconds)
                    out[key] = moment.astimezone(UTC).isoformat()
                else:
                    out[key] = shift(value)
            return out
        if isinstance(node, list):
            return [shift(item) for item in node]
        return node

    return json.dumps(shift(json.loads(raw)), ensure_ascii=False).encode()


async def send_events(
    settings: Settings, events: list[tuple[int, Any, bytes]], rebase_to_now: bool = False
) -> int:
    from aiokafka import AIOKafkaProducer

    from heard.streams.kafka.client import client_options
    from heard.streams.kafka.topics import ensure_topics

    await ensure_topics(settings.engine, settings.channels.retry.deferred_seconds)
    delta = 0.0
    if rebase_to_now and events:
        latest = max(event.occurred_at for _, event, _ in events)
        delta = (datetime.now(UTC) - latest).total_seconds()
    producer = AIOKafkaProducer(**client_options(settings.engine), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for _, event, raw in events:
            value = rebase(raw, delta) if delta else raw
            await producer.send_and_wait(
                settings.engine.topic("ticket_events"), value, key=event.ticket_id.encode()
            )
    finally:
        await producer.stop()
    return len(events)
