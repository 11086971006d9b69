"""The reordered end of faust's recovery: the flow is stopped before the seek and resumed
after it, so no record fetched from the committed offsets sits in a queue that is emptied."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import faust
import pytest
from faust.tables.recovery import Recovery
from faust.types import TP

from heard.streams.kafka import faust_recovery


class Recorder:
    """Stands in for the consumer, flow control, fetcher and recovery: records the calls."""

    def __init__(self, read_offsets: dict[Any, int | None] | None = None) -> None:
        self.calls: list[str] = []
        # What the seek to committed offsets found: None or 0 for a partition never committed.
        self._read_offset = read_offsets or {}
        self._thread = self  # the aiokafka driver's consumer thread: recorded alike

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **__: Any) -> Any:
            if name == "_new_topicpartition":
                return f"{args[0]}-{args[1]}"
            self.calls.append(name if name != "seek_to_beginning" else f"seek_to_beginning{sorted(args)}")
            if name in ("wait_for_stopped_flow", "perform_seek", "maybe_start", "seek_to_beginning"):
                return asyncio.sleep(0)  # an awaitable that completes at once, as the real calls do
            return None

        return call


def seek_then_resume(calls: Recorder, assignment: set[Any]) -> list[str]:
    app = type(
        "App",
        (),
        {
            "consumer": calls,
            "flow_control": calls,
            "_fetcher": calls,
            "conf": type("Conf", (), {"broker_request_timeout": 1.0}),
        },
    )()

    async def wait(coro: Any, timeout: float) -> None:
        await coro

    recovery = type(
        "R",
        (),
        {
            "app": app,
            "_is_changelog_tp": staticmethod(lambda tp: False),
            "log": type("L", (), {"info": staticmethod(print)}),
            "_wait": staticmethod(wait),
            "completed": type("E", (), {"set": lambda self: calls.calls.append("ready")})(),
        },
    )()
    asyncio.run(faust_recovery._seek_then_resume(recovery, assignment))
    return calls.calls


def test_the_seek_happens_with_the_flow_stopped_and_queues_are_emptied_before_records_flow() -> None:
    assert seek_then_resume(Recorder({"tp": 42}), {"tp"}) == [
        "stop_flow",
        "suspend",
        "wait_for_stopped_flow",
        "resume_partitions",
        "perform_seek",
        "ready",
        "resume",
        "resume_flow",
        "maybe_start",
    ]


def test_partitions_never_committed_are_sought_to_their_beginning_before_records_flow() -> None:
    a, b, c = (TP("events", n) for n in range(3))
    calls = seek_then_resume(Recorder({a: None, b: 0, c: 7}), {a, b, c})
    assert calls[4:7] == ["perform_seek", "seek_to_beginning['events-0', 'events-1']", "ready"]


class FetchingConsumer:
    """Faust's consumer as `_wait_next_records` sees it; its fetch waits until released, as
    aiokafka's does in the consumer's thread."""

    def __init__(self, active: set[str]) -> None:
        self.flow_active = True
        self.app = type("App", (), {"client_only": False})()
        self.active = active
        self.not_waiting_next_records = asyncio.Event()
        self.not_waiting_next_records.set()
        self.release = asyncio.Event()
        self.fetched_with: set[str] | None = None

    def _get_active_partitions(self) -> set[str]:
        return self.active  # the live set, as faust's is

    async def _getmany(self, active_partitions: set[str], timeout: float) -> dict[str, list[int]]:
        await self.release.wait()
        # aiokafka reads an empty set as every partition: the stream's backlog drained.
        self.fetched_with = set(active_partitions)
        return {tp: [0] for tp in (active_partitions or {"changelog", "ticket-events"})}

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # yields once, as faust's sleep would, without waiting


async def test_a_fetch_in_flight_keeps_the_partitions_it_began_with_and_is_waited_for() -> None:
    consumer = FetchingConsumer({"changelog"})
    fetch = asyncio.ensure_future(faust_recovery.wait_next_records(consumer, 1.0))
    await asyncio.sleep(0)  # one turn of the loop: the fetch starts and waits to be released
    assert not consumer.not_waiting_next_records.is_set(), "a fetch in flight is visible"
    consumer.active.clear()  # recovery pauses the changelog partitions while it waits
    consumer.release.set()
    records, active = await fetch
    assert records == {"changelog": [0]} and active == {"changelog"}
    assert consumer.not_waiting_next_records.is_set()


async def test_with_no_active_partition_nothing_is_fetched() -> None:
    consumer = FetchingConsumer(set())
    consumer.release.set()
    assert await faust_recovery.wait_next_records(consumer, 1.0) == ({}, set())
    assert consumer.fetched_with is None


def test_it_is_installed_once_and_only_on_the_faust_it_was_reviewed_against(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faust_recovery.install()
    faust_recovery.install()
    assert Recovery.on_recovery_completed is faust_recovery.on_recovery_completed
    assert Recovery._resume_streams is faust_recovery.resume_streams
    from faust.transport.consumer import Consumer

    assert Consumer._wait_next_records is faust_recovery.wait_next_records
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(RuntimeError, match=re.escape("reviewed against faust-streaming 0.15.3, not 0.16.0")):
        faust_recovery.install()
