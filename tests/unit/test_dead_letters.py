"""Dead letters: reading their headers, selecting them, and planning a replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from heard.streams.base.settings import EngineSettings
from heard.streams.contract.state import Notification
from heard.streams.kafka.readback import Positioned
from heard.streams.kafka.topics import topic_names
from heard.streams.ops.dead_letters import DeadLetter, Replay, plan_replay, render_table, select

ENGINE = EngineSettings(topic_prefix="t.")
TOPICS = topic_names(ENGINE)
DLQ = ENGINE.topic("dead_letters")
AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def notification(**overrides: object) -> Notification:
    fields: dict[str, object] = {
        "notification_id": "n-1",
        "ticket_id": "T-1",
        "kind": "milestone_update",
        "audience": "customer",
        "channel": "email",
        "recipient": "amara@example.net",
        "locale": "en",
        "timezone": "UTC",
        "trigger_event_id": "e-1",
        "decided_at": AT,
        "context": {},
        "delivery_round": 3,
        "not_before": AT + timedelta(minutes=30),
    }
    fields.update(overrides)
    return Notification(**fields)  # type: ignore[arg-type]


def letter(
    stage: str, value: bytes, key: bytes | None = b"T-1", offset: int = 0, at: datetime = AT, **headers: str
) -> DeadLetter:
    raw = {
        "heard-stage": stage.encode(),
        "heard-reason": b"why " + stage.encode(),
        "heard-at": at.isoformat().encode(),
    }
    raw.update({name.replace("_", "-"): value.encode() for name, value in headers.items()})
    return DeadLetter.from_record(Positioned(2, offset, 0, key, value, raw))


def test_headers_become_fields() -> None:
    read = letter("lifecycle", b"{}", heard_source_topic=TOPICS["ticket_events"])
    assert (read.stage, read.reason, read.at, read.source_topic) == (
        "lifecycle",
        "why lifecycle",
        AT,
        TOPICS["ticket_events"],
    )
    assert read.position == "2:0" and read.key_text == "T-1"
    # Without heard-at (older records), the Kafka timestamp stands in.
    bare = DeadLetter.from_record(Positioned(0, 5, 1_764_147_600_000, None, b"x", {}))
    assert bare.stage == "unknown" and bare.at == datetime(2025, 11, 26, 9, 0, tzinfo=UTC)


def test_delivery_replay_is_a_fresh_attempt_on_the_outbox() -> None:
    plan = plan_replay(letter("delivery", notification().model_dump_json().encode(), offset=7), TOPICS, DLQ)
    assert isinstance(plan, Replay)
    assert plan.topic == TOPICS["outbound"] and plan.key == b"T-1"
    replayed = Notification.model_validate_json(plan.value)
    assert replayed.notification_id == "n-1"  # same id: the receipts table dedupes
    assert (replayed.delivery_round, replayed.not_before) == (0, None)
    assert plan.headers == [("heard-replay-of", f"{DLQ}:2:7".encode())]


def test_lifecycle_replay_goes_back_unchanged_to_its_own_topic_only() -> None:
    raw = b'{"not": "changed"}'
    plan = plan_replay(letter("lifecycle", raw, heard_source_topic=TOPICS["timers"]), TOPICS, DLQ)
    assert isinstance(plan, Replay) and (plan.topic, plan.value) == (TOPICS["timers"], raw)
    foreign = plan_replay(letter("lifecycle", raw, heard_source_topic="someone-elses"), TOPICS, DLQ)
    assert isinstance(foreign, str) and "not one of heard's event topics" in foreign


def test_what_cannot_be_replayed_says_why() -> None:
    ingest = plan_replay(letter("ingest", b"{}", key=b"zendesk", heard_source="zendesk"), TOPICS, DLQ)
    assert isinstance(ingest, str) and "heard ingest replay --source zendesk" in ingest
    broken = plan_replay(letter("delivery", b"not json"), TOPICS, DLQ)
    assert isinstance(broken, str) and broken.startswith("not a notification record")
    status = plan_replay(letter("sms-status", json.dumps({"status": "sent"}).encode()), TOPICS, DLQ)
    assert isinstance(status, Replay) and status.topic == TOPICS["sms_status"]
    reply = plan_replay(letter("sms-replies", b'{"from": "+14155550123"}', key=b"+14155550123"), TOPICS, DLQ)
    assert isinstance(reply, Replay) and (reply.topic, reply.key) == (TOPICS["sms_inbound"], b"+14155550123")


def test_select_combines_filters() -> None:
    letters = [
        letter("delivery", b"a", key=b"T-1", offset=0, at=AT - timedelta(days=2)),
        letter("delivery", b"b", key=b"T-2", offset=1),
        letter("lifecycle", b"c", key=b"T-2", offset=2),
    ]
    assert [x.offset for x in select(letters, stage="delivery")] == [0, 1]
    assert [x.offset for x in select(letters, since=AT - timedelta(hours=1))] == [1, 2]
    assert [x.offset for x in select(letters, key="T-2", reason="LIFECYCLE")] == [2]
    assert "3 dead letter(s)" in render_table(letters)
    assert render_table([]) == "no dead letters match\n"


async def test_a_record_too_big_to_send_again_is_kept_shortened_and_not_replayed() -> None:
    from heard.streams.worker.sink import (
        DEAD_LETTER_MAX_VALUE_BYTES,
        Consumed,
        DeadLetters,
        Offset,
        RecordingSink,
    )

    sink = RecordingSink()
    huge = b'{"ticket_id": "T-1", "x": "' + b"y" * 1_040_000 + b'"}'
    await DeadLetters(sink, DLQ, lambda: AT).send(
        Consumed(b"T-1", huge, Offset(TOPICS["ticket_events"], 3, 77)), "too big", "lifecycle"
    )
    [sent] = sink.records
    assert len(sent.value) == DEAD_LETTER_MAX_VALUE_BYTES and huge.startswith(sent.value)
    headers = dict(sent.headers or {})
    assert headers["heard-value-truncated-from"] == str(len(huge)).encode()
    assert headers["heard-reason"].decode() == (
        f"too big (the record is {len(huge)} bytes: its first {DEAD_LETTER_MAX_VALUE_BYTES} "
        "are kept here, all of it at the source offset)"
    )
    dead = DeadLetter.from_record(Positioned(0, 5, 0, sent.key, sent.value, headers))
    refused = plan_replay(dead, TOPICS, DLQ)
    assert refused == (
        f"only the first {DEAD_LETTER_MAX_VALUE_BYTES} of its {len(huge)} bytes "
        f"are kept here; the whole record is in {TOPICS['ticket_events']} at "
        "partition:offset 3:77"
    )


async def test_a_record_within_the_limit_is_kept_whole() -> None:
    from heard.streams.worker.sink import Consumed, DeadLetters, Offset, RecordingSink

    sink = RecordingSink()
    value = b"x" * 10_000
    await DeadLetters(sink, DLQ, lambda: AT).send(
        Consumed(b"k", value, Offset("t", 0, 1)), "why", "lifecycle"
    )
    assert sink.records[0].value == value
    assert "heard-value-truncated-from" not in (sink.records[0].headers or {})


def test_show_gives_the_whole_reason_and_the_body() -> None:
    from heard.streams.ops.dead_letters import render_one

    long_reason = "template: acknowledgment/en/email.txt line 1: " + "nmae is undefined; " * 12
    shown = render_one(
        letter(
            "delivery",
            notification().model_dump_json().encode(),
            offset=7,
            heard_reason=long_reason,
            heard_source_topic=TOPICS["outbound"],
            heard_source_partition="0",
            heard_source_offset="41",
        )
    )
    assert "position:        2:7" in shown and "source position: 0:41" in shown
    assert " ".join(shown.split()).count("nmae is undefined;") == 12  # never cut
    assert '  "notification_id": "n-1",' in shown
    assert "body: not kept" in render_one(letter("lifecycle", b"", heard_value_dropped="erased"))
