"""A worker that restarts must not skip records: faust's last recovery step, reordered.

In faust-streaming 0.15.3, when a worker finishes recovering its tables after a rebalance
(`Recovery.on_recovery_completed`, and `_resume_streams` when there is nothing to recover),
it resumes the source partitions, seeks them to their committed offsets, and only then
resumes flow control — which empties every agent's input queue. Fetching is already running
during the seek (table recovery started it), so records fetched from the committed offsets
can sit in an agent's queue when it is emptied. The consumer has moved past them and will
not fetch them again: they are skipped (the commit jumps the gap), or the partition's
commit freezes behind them. A worker restarted into its group under CPU load lost whole
stories this way (`python -m bench.drills crash`: 33 of 120 messages in one run).

Here the flow is stopped and flow control suspended before the seek, so nothing fetched
after it can be in a queue when the queues are emptied; records fetched before it are
fetched again from the committed offsets (the receipts and event-id dedupe absorb any
repeat). Upstream: faust-streaming/faust issues #216, #629, #471 and PRs #217, #253.

Two more holes, found when the last worker of a crash drill under CPU load lost every
record its partitions held when it started (the whole backlog, 225 to 626 messages, with
nothing in its log):
- The fetcher handed aiokafka Faust's *live* set of active partitions. A fetch waits up to a
  second in the consumer's thread; when recovery pauses the changelog partitions meanwhile,
  that set is emptied — and aiokafka reads an empty set as "every partition": the waiting
  fetch drains the stream partitions' buffered records, moving the consumer's position past
  them, and Faust drops them (their partitions are not active, or the flow is stopped).
  Faust also sets, instead of clearing, the event that says a fetch is in flight, so
  `wait_for_stopped_flow` never waited. `_wait_next_records` here fetches with a copy of
  the set and clears the event while it waits.
- The seek to committed offsets moves nothing for a partition without a committed offset
  (aiokafka seeks only above 0), so what such a drained fetch took stayed skipped, and the
  first commit made the loss permanent. Partitions never committed are now sought to their
  beginning, where `auto_offset_reset` would start them.

Applied only to the faust version it was written against; `install()` refuses others, so
a faust upgrade is a deliberate review of this file.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("heard.worker")

# heard's stream topics are neither compacted nor transactional: every offset is a record,
# so an offset the consumer jumps over is a record no agent was handed.
SKIPPED = Counter(
    "heard_skipped_records_total",
    "Records the worker's consumer jumped over (never handed to an agent)",
    ["topic"],
)

REVIEWED_FAUST_VERSIONS = ("0.15.3",)


async def _seek_then_resume(recovery: Any, assignment: set[Any]) -> None:
    """Seek the stream partitions with nothing flowing, then let records through."""
    app, consumer = recovery.app, recovery.app.consumer
    consumer.stop_flow()
    app.flow_control.suspend()
    # A fetch already returned finishes being handed over (or dropped) before the seek
    # resets the read offsets, so it cannot move them past the committed ones afterwards.
    await consumer.wait_for_stopped_flow()
    stream_tps = {tp for tp in assignment if not recovery._is_changelog_tp(tp)}
    consumer.resume_partitions(stream_tps)
    if assignment:
        recovery.log.info("Seek stream partitions to committed offsets.")
        await recovery._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
        # No committed offset (None, or 0: nothing consumed yet): the seek moved nothing.
        never_committed = [tp for tp in stream_tps if not consumer._read_offset.get(tp)]
        if never_committed:
            # The aiokafka driver's consumer thread has the call (faust's consumer does not),
            # with aiokafka's own partition type.
            native = [consumer._new_topicpartition(tp.topic, tp.partition) for tp in never_committed]
            await recovery._wait(
                consumer._thread.seek_to_beginning(*native), timeout=app.conf.broker_request_timeout
            )
    recovery.completed.set()
    app.flow_control.resume()  # empties the queues: only records fetched before the seek
    consumer.resume_flow()
    await app._fetcher.maybe_start()


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """faust's `Recovery.on_recovery_completed`, with the seek before the flow resumes."""
    consumer = self.app.consumer
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callbacks = [
        asyncio.ensure_future(
            table.on_recovery_completed(self.actives_for_table[table], self.standbys_for_table[table])
        )
        for table in self.tables.values()
    ]
    if callbacks:
        await asyncio.wait(callbacks)
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning(
            f"Recovery rebalancing again app id {self.app.consumer_generation_id} param {generation_id}"
        )
        return
    await _seek_then_resume(self, assignment)
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


async def resume_streams(self: Any, generation_id: int = 0) -> None:
    """faust's `Recovery._resume_streams` (nothing to recover), in the same order."""
    app = self.app
    await app.on_rebalance_complete.send()
    assignment = app.consumer.assignment()
    if app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    if not assignment:
        self.log.info("Resuming streams with empty assignment")
    await _seek_then_resume(self, assignment)
    self.tables.on_actives_ready()
    self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


async def wait_next_records(self: Any, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109 - faust's signature
    """faust's `Consumer._wait_next_records`, fetching with a copy of the active partitions
    and marking the fetch in flight while it waits (see the module's docstring)."""
    if not self.flow_active:
        await self.wait(self.can_resume_flow)
    active = None if self.app.client_only else set(self._get_active_partitions())
    if active is not None and not active:
        await self.sleep(1)  # nothing to fetch from: release the loop, as faust does
        return {}, active
    self.not_waiting_next_records.clear()
    try:
        return await self._getmany(active_partitions=active, timeout=timeout), active
    finally:
        self.not_waiting_next_records.set()


def _counting_gaps(original: Any) -> Any:
    async def add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        SKIPPED.labels(tp.topic).inc(max(0, offset_to - offset_from))
        log.warning(
            "records %d..%d of %s partition %d were never handed to an agent",
            offset_from,
            offset_to - 1,
            tp.topic,
            tp.partition,
        )
        await original(self, tp, offset_from, offset_to)

    return add_gap


def require_reviewed(running: str, reviewed: tuple[str, ...], patch: str, what: str) -> None:
    """A patch of Faust's internals applies only to the versions it was read against: any
    other stops start-up, so an upgrade is a deliberate review of the patch."""
    if running not in reviewed:
        name = "streams/kafka/" + patch.rsplit("/", 1)[-1]
        raise RuntimeError(
            f"{name} was reviewed against faust-streaming {', '.join(reviewed)}, "
            f"not {running}: check {what}, then update it"
        )


def install() -> None:
    import faust
    from faust.tables.recovery import Recovery
    from faust.transport.consumer import Consumer

    require_reviewed(
        faust.__version__,
        REVIEWED_FAUST_VERSIONS,
        __file__,
        "whether Recovery.on_recovery_completed still resumes flow after the seek, and "
        "Consumer._wait_next_records still hands aiokafka the live set of active partitions",
    )
    if getattr(Recovery.on_recovery_completed, "__module__", "") == __name__:
        return  # installed already (one worker process builds one app; tests build several)
    Recovery.on_recovery_completed = on_recovery_completed  # type: ignore[method-assign]
    Recovery._resume_streams = resume_streams  # type: ignore[method-assign]
    Consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]
    Consumer._add_gap = _counting_gaps(Consumer._add_gap)  # type: ignore[method-assign]
