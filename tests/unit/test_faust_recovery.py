"""The reordered end of faust's recovery: the flow is stopped before the seek and resumed
after it, so no record fetched from the committed offsets sits in a queue that is emptied."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import faust
import pytest
from faust.tables.recovery import Recovery

from heard.streams.kafka import faust_recovery


class Recorder:
    """Stands in for the consumer, flow control, fetcher and recovery: records the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*_: Any, **__: Any) -> Any:
            self.calls.append(name)
            if name in ("wait_for_stopped_flow", "perform_seek", "maybe_start"):
                return asyncio.sleep(0)  # an awaitable that completes at once, as the real calls do
            return None

        return call


def test_the_seek_happens_with_the_flow_stopped_and_queues_are_emptied_before_records_flow() -> None:
    calls = Recorder()
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
    asyncio.run(faust_recovery._seek_then_resume(recovery, {"tp"}))
    assert calls.calls == [
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


def test_it_is_installed_once_and_only_on_the_faust_it_was_reviewed_against(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faust_recovery.install()
    faust_recovery.install()
    assert Recovery.on_recovery_completed is faust_recovery.on_recovery_completed
    assert Recovery._resume_streams is faust_recovery.resume_streams
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(RuntimeError, match=re.escape("reviewed against faust-streaming 0.15.3, not 0.16.0")):
        faust_recovery.install()
