"""Where a worker's time goes, stage by stage (parse, decide, store, render, send, ...).

A stage is a block timed with `with STAGES.timed("lifecycle.decide"):`: the handler's code
reads as its steps, and the clock stays outside it. Running totals cost two dict updates a
stage, cheap enough for every record. The worker registers them with Prometheus when it
starts (`heard_stage_seconds_total` and `heard_stage_runs_total`, by stage) and logs each
stage's microseconds per run when it stops, which the benchmark reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry


class StageTimes:
    def __init__(self) -> None:
        self.total_ns: dict[str, int] = {}
        self.runs: dict[str, int] = {}
        self._registered: set[int] = set()

    def add(self, stage: str, elapsed_ns: int, runs: int = 1) -> None:
        """Count `elapsed_ns` to `stage` as `runs` runs (a batch's records)."""
        self.total_ns[stage] = self.total_ns.get(stage, 0) + elapsed_ns
        self.runs[stage] = self.runs.get(stage, 0) + runs

    @contextmanager
    def timed(self, stage: str, runs: int = 1) -> Iterator[None]:
        """The block's time counted to `stage`, whether it returns or raises."""
        started = time.perf_counter_ns()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter_ns() - started, runs)

    @contextmanager
    def timed_batch(self, agent: str, records: int) -> Iterator[None]:
        """A batch's time, counted per record to `<agent>.handled` (as the agents that take
        records one by one) and once to `<agent>.batches` (whose runs give the batch size)."""
        started = time.perf_counter_ns()
        try:
            yield
        finally:
            elapsed = time.perf_counter_ns() - started
            self.add(f"{agent}.handled", elapsed, records)
            self.add(f"{agent}.batches", elapsed)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            stage: {"runs": runs, "us_per_run": round(self.total_ns[stage] / runs / 1000, 1)}
            for stage, runs in sorted(self.runs.items())
        }

    def register(self, registry: CollectorRegistry) -> None:
        """Expose the totals on `registry` (once, however many apps a process builds)."""
        if id(registry) not in self._registered:
            registry.register(_StageCollector(self))
            self._registered.add(id(registry))


class _StageCollector(Collector):
    def __init__(self, times: StageTimes) -> None:
        self.times = times

    def collect(self) -> Iterator[CounterMetricFamily]:
        seconds = CounterMetricFamily(
            "heard_stage_seconds", "Time spent in each stage of handling a record", labels=["stage"]
        )
        runs = CounterMetricFamily("heard_stage_runs", "Records through each stage", labels=["stage"])
        for stage, count in list(self.times.runs.items()):
            seconds.add_metric([stage], self.times.total_ns.get(stage, 0) / 1e9)
            runs.add_metric([stage], count)
        yield seconds
        yield runs


STAGES = StageTimes()
