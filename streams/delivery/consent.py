"""The consent ledger: who has said STOP (or START) on which channel.

A customer's STOP applies to every ticket, so it cannot live in per-ticket
state. Updates go to a compacted `consent` topic keyed by address; every
worker follows the whole topic into memory (a small hand-made global table:
Faust's GlobalTable misses updates with more than one worker) and the
delivery agent checks it before every send. The newest update per address
wins, by the time the customer acted, not by arrival order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from heard.streams.base.settings import EngineSettings
from heard.streams.kafka.client import client_options
from heard.streams.kafka.readback import partition_ids

log = logging.getLogger("heard.consent")

# Reading the consent topic at start-up: each broker call gets this long, and a failed
# read starts over after RETRY_SECONDS.
STARTUP_TIMEOUT_SECONDS = 30.0
RETRY_SECONDS = 2.0

ConsentChannel = Literal["email", "sms"]

# Twilio's documented opt-out and opt-in keywords (Advanced Opt-Out defaults).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})


def keyword_of(body: str) -> Literal["stop", "start"] | None:
    """A message counts as a keyword only when it is the keyword alone, as carriers do."""
    word = body.strip().strip(".!").upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


# Provider message ids remembered per address (newest first), carried in the compacted
# record itself, so a replayed STOP/START is recognised after restarts and compaction.
HANDLED_IDS_KEPT = 100


@dataclass(frozen=True)
class ConsentUpdate:
    channel: ConsentChannel
    address: str
    allowed: bool
    at: datetime
    source: str
    # Provider message ids (Twilio MessageSids) already applied for this address.
    handled: tuple[str, ...] = ()
    # Soft bounces counted for this address (different emails) since consent last changed.
    strikes: int = 0

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.address}"

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "channel": self.channel,
                "address": self.address,
                "allowed": self.allowed,
                "at": self.at.isoformat(),
                "source": self.source,
                "handled": list(self.handled),
                "strikes": self.strikes,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ConsentUpdate:
        data = json.loads(raw)
        channel = data["channel"]
        if channel not in ("email", "sms"):
            raise ValueError(f"unknown consent channel {channel!r}")
        at = datetime.fromisoformat(data["at"])
        if at.tzinfo is None:
            raise ValueError("consent time must carry a timezone")
        handled = tuple(str(item) for item in data.get("handled", []))[:HANDLED_IDS_KEPT]
        return cls(
            channel,
            str(data["address"]),
            bool(data["allowed"]),
            at.astimezone(UTC),
            str(data.get("source", "")),
            handled,
            int(data.get("strikes", 0)),
        )


class ConsentLedger:
    """In-memory view of the consent topic; the newest update per address wins."""

    def __init__(self) -> None:
        self._entries: dict[str, ConsentUpdate] = {}
        self.ready = asyncio.Event()
        # One change at a time per address (`change_consent`); a lock lives while in use.
        self._changing: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def changing(self, key: str) -> asyncio.Lock:
        """The lock that serialises changes of one address's consent in this process."""
        lock = self._changing.get(key)
        if lock is None:
            lock = self._changing[key] = asyncio.Lock()
        return lock

    def apply(self, update: ConsentUpdate) -> bool:
        current = self._entries.get(update.key)
        if current is not None and current.at > update.at:
            return False
        self._entries[update.key] = update
        return True

    def current(self, channel: str, address: str) -> ConsentUpdate | None:
        return self._entries.get(f"{channel}:{address}")

    def already_handled(self, channel: str, address: str, message_id: str) -> bool:
        """Whether this provider message was applied before (a retry or a replay)."""
        entry = self.current(channel, address)
        return entry is not None and message_id in entry.handled

    def refusal(self, channel: str, address: str) -> ConsentUpdate | None:
        """The update that withdrew consent for this address, if it is withdrawn."""
        entry = self._entries.get(f"{channel}:{address}")
        return entry if entry is not None and not entry.allowed else None

    def __len__(self) -> int:
        return len(self._entries)


Publish = Callable[[bytes, bytes], Awaitable[None]]


async def change_consent(
    ledger: ConsentLedger,
    publish: Publish,
    clock: Callable[[], datetime],
    channel: ConsentChannel,
    address: str,
    allowed: bool,
    source: str,
    message_ids: tuple[str, ...] = (),
) -> ConsentUpdate | None:
    """Record a STOP or START (or a provider's refusal): None when one of `message_ids` was
    applied before (a provider's retry or a replay), the update otherwise.

    Changes of one address are made one at a time: each is stamped after the one before it
    was published and applied, so the consent topic holds them in the order of their times
    (compaction keeps the newest), and each carries every message id applied before it (a
    replay of any of them is recognised). Two texts racing for one number cannot interleave.
    """
    async with ledger.changing(f"{channel}:{address}"):
        if any(ledger.already_handled(channel, address, mid) for mid in message_ids):
            return None
        return await _publish_change(ledger, publish, clock, channel, address, allowed, source, message_ids)


async def count_soft_bounce(
    ledger: ConsentLedger,
    publish: Publish,
    clock: Callable[[], datetime],
    address: str,
    ids: tuple[str, str],
    limit: int,
    source: str,
) -> ConsentUpdate | None:
    """Count a provider's temporary failure for an email address: `ids` are the provider's
    event id and the failed email's own id, so a retried webhook and a second failure of the
    same email count once. At `limit` different emails the address is refused, as after a
    hard bounce. None when nothing was counted (a repeat, or the address already refused)."""
    channel: ConsentChannel = "email"
    async with ledger.changing(f"{channel}:{address}"):
        previous = ledger.current(channel, address)
        if any(ledger.already_handled(channel, address, mid) for mid in ids) or (
            previous is not None and not previous.allowed
        ):
            return None
        strikes = (previous.strikes if previous else 0) + 1
        return await _publish_change(
            ledger, publish, clock, channel, address, strikes < limit, source, ids, strikes
        )


async def _publish_change(
    ledger: ConsentLedger,
    publish: Publish,
    clock: Callable[[], datetime],
    channel: ConsentChannel,
    address: str,
    allowed: bool,
    source: str,
    message_ids: tuple[str, ...],
    strikes: int = 0,
) -> ConsentUpdate:
    """Stamp, publish and apply one change; the caller holds the address's lock."""
    previous = ledger.current(channel, address)
    at = clock()
    if previous is not None and at <= previous.at:
        at = previous.at + timedelta(microseconds=1)  # strictly after: a coarse clock
    handled = (*message_ids, *(previous.handled if previous else ()))[:HANDLED_IDS_KEPT]
    update = ConsentUpdate(channel, address, allowed, at, source, handled, strikes)
    await publish(update.key.encode(), update.to_json())
    ledger.apply(update)
    return update


async def follow(ledger: ConsentLedger, engine: EngineSettings, topic: str, stop: asyncio.Event) -> None:
    """Read the whole consent topic, mark the ledger ready at its end, then keep following.

    No consumer group: every worker reads every partition from the beginning.
    """
    # Each start-up call is bounded: a broker slow to answer (a loaded machine, a rebalance)
    # raises here and the caller starts over, instead of leaving the ledger unready and every
    # delivery waiting on it without a word.
    ids = await asyncio.wait_for(partition_ids(engine, topic), STARTUP_TIMEOUT_SECONDS)
    if not ids:
        raise RuntimeError(f"consent topic {topic!r} does not exist")
    partitions = [TopicPartition(topic, pid) for pid in ids]
    consumer = AIOKafkaConsumer(**client_options(engine), enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), STARTUP_TIMEOUT_SECONDS)
    try:
        consumer.assign(partitions)
        await asyncio.wait_for(consumer.seek_to_beginning(*partitions), STARTUP_TIMEOUT_SECONDS)
        end = await asyncio.wait_for(consumer.end_offsets(partitions), STARTUP_TIMEOUT_SECONDS)
        pending = {tp for tp, offset in end.items() if offset > 0}
        if not pending:
            log.info("consent ledger loaded: the consent topic is empty")
            ledger.ready.set()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            for records in batches.values():
                for record in records:
                    _apply_record(ledger, record.value)
            if pending:
                # Positions, not record offsets: compaction leaves gaps in offsets.
                pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
                if not pending:
                    log.info("consent ledger loaded: %d addresses", len(ledger))
                    ledger.ready.set()
    finally:
        await consumer.stop()


async def keep_following(
    ledger: ConsentLedger, engine: EngineSettings, topic: str, stop: asyncio.Event
) -> None:
    """`follow`, started again after a failure: deliveries wait for the ledger, so reading
    the consent topic must not end for good on one broker hiccup."""
    while not stop.is_set():
        try:
            await follow(ledger, engine, topic, stop)
        except (KafkaError, OSError, TimeoutError) as exc:  # the broker, briefly: read again
            log.warning(
                "consent ledger: reading %s failed (%s: %s); trying again in %.0f s%s",
                topic,
                type(exc).__name__,
                exc,
                RETRY_SECONDS,
                "" if ledger.ready.is_set() else "; deliveries wait until it is read",
            )
            await asyncio.sleep(RETRY_SECONDS)  # a broker hiccup: wait, then read again


def _apply_record(ledger: ConsentLedger, value: bytes | None) -> None:
    if value is None:
        return
    try:
        ledger.apply(ConsentUpdate.from_json(value))
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        log.warning("ignoring a malformed consent record: %s", type(exc).__name__)
