"""The worker's Faust monitor keeps only what Faust reads back from it."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP

from heard.streams.base.settings import EngineSettings
from heard.streams.kafka.faust_monitor import LeanMonitor
from heard.streams.worker.app import faust_app

PARTITION = TP("t.ticket-events", 0)


def test_the_worker_app_uses_the_lean_monitor() -> None:
    assert faust_app(EngineSettings(replication_factor=1)).conf.Monitor is LeanMonitor


def test_a_streams_last_event_is_still_timed_for_fausts_stalled_stream_warnings() -> None:
    monitor = LeanMonitor()
    stream = SimpleNamespace(task_owner=None)
    assert monitor.stream_inbound_time.get(PARTITION) is None
    monitor.on_message_in(PARTITION, 7, SimpleNamespace())
    monitor.on_stream_event_in(PARTITION, 7, stream, None)
    assert monitor.stream_inbound_time[PARTITION] > 0
    monitor.on_stream_event_out(PARTITION, 7, stream, None, None)
    monitor.on_message_out(PARTITION, 7, SimpleNamespace())
    # Nothing else is counted: no per-stream lookups, no latencies kept.
    assert monitor.events_total == 0 and monitor.messages_received_total == 0
    assert not monitor.stream_lookup and not monitor.events_runtime


def test_committed_offsets_and_send_errors_are_still_kept() -> None:
    monitor = LeanMonitor()
    monitor.on_tp_commit({PARTITION: 42})
    monitor.on_send_error(SimpleNamespace(), RuntimeError("broker gone"), None)
    assert monitor.tp_committed_offsets[PARTITION] == 42 and monitor.send_errors == 1
