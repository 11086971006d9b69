"""When the worker acknowledges a batch of a stream's events: only once it is handled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from heard.streams.worker.app import handle_in_batches


class FakeStream:
    """Faust's `noack_take` as the worker sees it: lists of events, acknowledged by hand."""

    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches
        self.acked: list[str] = []
        self.asked: tuple[int, float] | None = None

    async def noack_take(self, max_: int, within: float) -> AsyncIterator[list[str]]:
        self.asked = (max_, within)
        for batch in self.batches:
            yield batch

    async def ack(self, event: str) -> bool:
        self.acked.append(event)
        return True


async def test_each_batch_is_acknowledged_once_it_is_handled_and_not_before() -> None:
    stream = FakeStream([["a", "b"], ["c"]])
    handled: list[list[str]] = []

    async def handle(batch: list[Any]) -> None:
        assert not set(batch) & set(stream.acked)
        handled.append(batch)

    await handle_in_batches(cast(Any, stream), 500, 0.005, handle)
    assert handled == [["a", "b"], ["c"]] and stream.acked == ["a", "b", "c"]
    assert stream.asked == (500, 0.005)


async def test_a_batch_whose_handling_fails_is_not_acknowledged() -> None:
    stream = FakeStream([["a", "b"], ["c", "d"]])

    async def handle(batch: list[Any]) -> None:
        if "c" in batch:
            raise RuntimeError("the dead-letter topic is gone")

    with pytest.raises(RuntimeError):
        await handle_in_batches(cast(Any, stream), 10, 0.005, handle)
    assert stream.acked == ["a", "b"]  # nothing committed past c: read again on restart


async def test_no_wait_at_all_still_bounds_a_batch_in_time() -> None:
    stream = FakeStream([])

    async def handle(batch: list[Any]) -> None:
        return None

    await handle_in_batches(cast(Any, stream), 10, 0, handle)
    assert stream.asked is not None and stream.asked[1] > 0  # Faust waits forever on 0
