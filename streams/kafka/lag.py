"""Consumer lag as the broker sees it: for each partition the worker group has committed,
the messages written after that commit. Read from the broker (the group's committed offsets
and the partitions' end offsets), not from the worker's own bookkeeping, so a worker that
stops consuming shows its lag growing instead of freezing at its last value."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from heard.streams.base.settings import EngineSettings
from heard.streams.kafka.client import client_options

log = logging.getLogger("heard.lag")

CONSUMER_LAG = Gauge(
    "heard_consumer_lag",
    "Messages on the broker after the worker group's last commit, per topic partition",
    ["topic", "partition"],
)
LAG_MEASURED = Gauge(
    "heard_consumer_lag_measured_timestamp_seconds",
    "When this worker last read its group's lag from the broker (unix time)",
)


class LagProbe:
    """One admin client and one group-less consumer, kept open between measurements."""

    def __init__(self, engine: EngineSettings) -> None:
        self.group = engine.group_id
        self.options = client_options(engine)
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.reported: set[tuple[str, str]] = set()
        # One measurement may take this long; failing for `patience` seconds makes the
        # worker not ready (its partitions' leaders are out of reach).
        self.timeout = max(10.0, engine.lag_interval_seconds)
        self.patience = max(30.0, 3 * engine.lag_interval_seconds)
        self.failing_since: float | None = None

    def unanswered_for(self, now: float | None = None) -> float | None:
        """Seconds since the measurements began to fail, or None while they succeed."""
        if self.failing_since is None:
            return None
        return (now if now is not None else time.monotonic()) - self.failing_since

    async def measure(self) -> dict[TopicPartition, int]:
        if self.admin is None or self.consumer is None:
            self.admin = AIOKafkaAdminClient(**self.options)
            await self.admin.start()
            self.consumer = AIOKafkaConsumer(enable_auto_commit=False, **self.options)
            await self.consumer.start()
        committed = await self.admin.list_consumer_group_offsets(self.group)
        known = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        if not known:
            return {}
        ends = await self.consumer.end_offsets(list(known))
        return {tp: max(0, ends[tp] - offset) for tp, offset in known.items() if tp in ends}

    async def publish(self) -> None:
        """Set the gauge; a broker hiccup is logged on one line and tried again next time."""
        try:
            lags = await asyncio.wait_for(self.measure(), self.timeout)
        except (KafkaError, OSError, TimeoutError) as exc:  # unreachable for now: next time
            if self.failing_since is None:
                self.failing_since = time.monotonic()
                log.warning("consumer lag not measured: %s; asking again every interval", type(exc).__name__)
            await self.close()  # the next measurement connects afresh
            return
        if self.failing_since is not None:
            log.warning("consumer lag measured again after %.0f s", self.unanswered_for())
            self.failing_since = None
        LAG_MEASURED.set_to_current_time()
        current = set()
        for tp, lag in lags.items():
            labels = (tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(lag)
            current.add(labels)
        for gone in self.reported - current:
            CONSUMER_LAG.remove(*gone)
        self.reported = current

    async def close(self) -> None:
        consumer, admin, self.consumer, self.admin = self.consumer, self.admin, None, None
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            if consumer is not None:
                await consumer.stop()
            if admin is not None:
                await admin.close()
