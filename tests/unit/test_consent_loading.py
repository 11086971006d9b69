"""Reading the consent topic at start-up, with a stand-in for the Kafka consumer (the real
one is exercised on the real stack by the callback and restart tests): the ledger is ready
only once every partition is read to its end, bad records cost only themselves, and a
broker hiccup means reading again, never an unready ledger for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError, KafkaConnectionError

from heard.streams.base.settings import EngineSettings
from heard.streams.contract.stories import T0
from heard.streams.delivery import consent
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate, follow, keep_following

TOPIC = "heard-consent"
STOP = ConsentUpdate("sms", "+14155550123", False, T0, "twilio-inbound:SM1").to_json()
START_OTHER = ConsentUpdate("sms", "+14155550199", True, T0, "twilio-inbound:SM2").to_json()


@dataclass
class Record:
    value: bytes | None


@dataclass
class FakeConsumer:
    """The part of AIOKafkaConsumer `follow` uses, over fixed partitions of records."""

    partitions: dict[int, list[bytes | None]]
    fail_start: int = 0
    started: int = 0
    stopped: int = 0
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    served: Iterator[tuple[TopicPartition, list[Record]]] | None = None

    async def start(self) -> None:
        self.started += 1
        if self.started <= self.fail_start:
            raise KafkaConnectionError("broker not answering")

    async def stop(self) -> None:
        self.stopped += 1

    def assign(self, partitions: list[TopicPartition]) -> None:
        # As aiokafka without a group: a newly assigned partition starts at its end (the
        # default `auto_offset_reset="latest"`) until it is sought elsewhere.
        self.positions = {tp: len(self.partitions[tp.partition]) for tp in partitions}

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            if tp not in self.positions:  # as aiokafka: only an assigned partition is sought
                raise IllegalStateError(f"No current assignment for partition {tp}")
            self.positions[tp] = 0

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.partitions[tp.partition]) for tp in partitions}

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        if not self.positions:
            raise IllegalStateError("No partitions are currently assigned")
        for tp, position in self.positions.items():
            records = self.partitions[tp.partition][position:]
            if records:
                self.positions[tp] = position + 1  # one record per call: readiness waits for all
                return {tp: [Record(records[0])]}
        await asyncio.sleep(0.001)  # an empty poll yields, as the real getmany waits timeout_ms
        return {}

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


def install(monkeypatch: pytest.MonkeyPatch, consumer: FakeConsumer) -> None:
    async def partition_ids(engine: Any, topic: str) -> list[int]:
        return sorted(consumer.partitions)

    monkeypatch.setattr(consent, "partition_ids", partition_ids)
    monkeypatch.setattr(consent, "AIOKafkaConsumer", lambda **options: consumer)
    monkeypatch.setattr(consent, "RETRY_SECONDS", 0.01)


# The fake topic is read in milliseconds: a ledger not ready (or a follower not stopped)
# within this long never will be, and the test says so instead of hanging.
DEADLINE_SECONDS = 10


async def run_until_ready(ledger: ConsentLedger, runner: Any) -> asyncio.Event:
    stop = asyncio.Event()
    task = asyncio.create_task(runner(ledger, EngineSettings(), TOPIC, stop))
    try:
        await asyncio.wait_for(ledger.ready.wait(), DEADLINE_SECONDS)
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE_SECONDS)
    return stop


async def test_the_ledger_is_ready_only_once_every_partition_is_read_to_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = FakeConsumer({0: [START_OTHER], 1: [b"{not json", None, STOP]})
    install(monkeypatch, consumer)
    ledger = ConsentLedger()
    seen_ready_early = []

    async def watch() -> None:
        await asyncio.wait_for(ledger.ready.wait(), DEADLINE_SECONDS)
        seen_ready_early.append(ledger.refusal("sms", "+14155550123") is None)

    watcher = asyncio.create_task(watch())
    await run_until_ready(ledger, follow)
    await watcher
    assert seen_ready_early == [False]  # when it said ready, the STOP at the end was in
    assert ledger.refusal("sms", "+14155550123") is not None
    assert ledger.refusal("sms", "+14155550199") is None and len(ledger) == 2
    assert consumer.stopped == 1


async def test_an_empty_topic_is_ready_at_once_and_a_missing_one_is_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="heard.consent")
    install(monkeypatch, FakeConsumer({0: [], 1: []}))
    await run_until_ready(ConsentLedger(), follow)
    assert "consent ledger loaded: the consent topic is empty" in caplog.text
    install(monkeypatch, FakeConsumer({}))
    with pytest.raises(RuntimeError, match=f"consent topic '{TOPIC}' does not exist"):
        await follow(ConsentLedger(), EngineSettings(), TOPIC, asyncio.Event())


async def test_a_malformed_record_is_skipped_and_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    install(monkeypatch, FakeConsumer({0: [b"{not json", STOP]}))
    ledger = ConsentLedger()
    await run_until_ready(ledger, follow)
    assert "ignoring a malformed consent record: JSONDecodeError" in caplog.text
    assert ledger.refusal("sms", "+14155550123") is not None


async def test_a_broker_hiccup_at_start_means_reading_again_and_saying_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="heard.consent")
    consumer = FakeConsumer({0: [STOP]}, fail_start=2)
    install(monkeypatch, consumer)
    ledger = ConsentLedger()
    await run_until_ready(ledger, keep_following)
    assert consumer.started == 3 and ledger.refusal("sms", "+14155550123") is not None
    assert caplog.text.count("consent ledger: reading heard-consent failed (KafkaConnectionError") == 2
    assert "deliveries wait until it is read" in caplog.text
    assert "consent ledger loaded: 1 addresses" in caplog.text


async def test_after_a_hiccup_the_follower_pauses_before_it_asks_the_broker_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a loop hammering a broker that is failing over: each failed read is followed by
    the pause (RETRY_SECONDS, made short here) before the next."""
    consumer = FakeConsumer({0: [STOP]}, fail_start=2)
    install(monkeypatch, consumer)
    pauses: list[float] = []
    sleep = asyncio.sleep

    async def recorded(seconds: float) -> None:
        pauses.append(seconds)
        await sleep(seconds)

    monkeypatch.setattr(consent.asyncio, "sleep", recorded)
    await run_until_ready(ConsentLedger(), keep_following)
    assert pauses.count(consent.RETRY_SECONDS) == 2


def test_a_record_written_before_strikes_and_sources_reads_with_none_of_either() -> None:
    older = (
        b'{"channel": "sms", "address": "+14155550123", "allowed": false, "at": "2026-11-20T10:00:00+00:00"}'
    )
    update = ConsentUpdate.from_json(older)
    assert (update.source, update.strikes, update.handled) == ("", 0, ())


async def test_a_tombstone_is_no_record_and_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    install(monkeypatch, FakeConsumer({0: [None, STOP]}))
    ledger = ConsentLedger()
    await run_until_ready(ledger, follow)
    assert "ignoring" not in caplog.text and len(ledger) == 1


def test_a_recorded_change_cannot_be_altered_in_place() -> None:
    import dataclasses

    update = ConsentUpdate.from_json(STOP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        update.allowed = True  # type: ignore[misc]


async def test_two_changes_in_one_clock_tick_keep_their_order() -> None:
    from heard.streams.delivery.consent import change_consent

    ledger = ConsentLedger()
    published: list[ConsentUpdate] = []

    async def publish(key: bytes, value: bytes) -> None:
        published.append(ConsentUpdate.from_json(value))

    for allowed, sid in ((False, "SM1"), (True, "SM2")):  # STOP then START, one clock reading
        await change_consent(ledger, publish, lambda: T0, "sms", "+14155550123", allowed, sid, (sid,))
    stop, start = published
    assert start.at > stop.at, "the later change is stamped after, so compaction keeps it"
    assert ledger.refusal("sms", "+14155550123") is None


async def test_a_stop_or_start_carries_no_soft_bounce_so_counting_starts_afresh() -> None:
    """A START (or any change that is not a soft bounce) records no strikes: an address that
    was given back starts counting temporary failures from zero, and is refused at the
    limit's own count, not one early."""
    ledger, published = ConsentLedger(), []

    async def publish(key: bytes, value: bytes) -> None:
        published.append(ConsentUpdate.from_json(value))

    address = "amara@example.net"
    given = await consent.change_consent(ledger, publish, lambda: T0, "email", address, True, "help-desk")
    assert given is not None and given.strikes == 0 and published[-1].strikes == 0
    assert ConsentUpdate("email", address, True, T0, "help-desk").strikes == 0
    outcomes = [
        await consent.count_soft_bounce(
            ledger, publish, lambda: T0, address, (f"ev-{n}", f"m-{n}"), 3, "mail"
        )
        for n in range(3)
    ]
    assert [(u.strikes, u.allowed) for u in outcomes if u is not None] == [(1, True), (2, True), (3, False)]


def test_of_two_changes_stamped_alike_the_one_read_last_holds() -> None:
    """Two workers' changes can carry the same time (each stamps after what it has seen):
    the topic's order decides, as compaction keeps the later record — the ledger must agree
    with what a restarted worker rebuilds from the topic."""
    ledger = ConsentLedger()
    stop = ConsentUpdate("sms", "+14155550123", False, T0, "twilio-inbound:SM1")
    start = ConsentUpdate("sms", "+14155550123", True, T0, "twilio-inbound:SM2")
    assert ledger.apply(stop) and ledger.apply(start)
    assert ledger.current("sms", "+14155550123") == start
    assert not ledger.apply(ConsentUpdate("sms", "+14155550123", False, T0.replace(year=2025), "late"))
    assert ledger.current("sms", "+14155550123") == start, "an older change read late changes nothing"
