"""Where a worker's time goes, stage by stage (parse, decide, store, render, send, ...).

Running totals cost two dict updates a stage, cheap enough for every record. Prometheus
reads them as `heard_stage_seconds_total` and `heard_stage_runs_total` (by stage); the
worker logs each stage's microseconds per run when it stops, which the benchmark reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import REGISTRY, CounterMetricFamily
from prometheus_client.registry import Collector


class StageTimes:
    def __init__(self) -> None:
        self.total_ns: dict[str, int] = {}
        self.runs: dict[str, int] = {}

    def lap(self, stage: str, since_ns: int) -> int:
        """Count the time from `since_ns` to now to `stage`; returns now, for the next lap."""
        now = time.perf_counter_ns()
        self.total_ns[stage] = self.total_ns.get(stage, 0) + now - since_ns
        self.runs[stage] = self.runs.get(stage, 0) + 1
        return now

    def add(self, stage: str, elapsed_ns: int, runs: int) -> None:
        """Count `elapsed_ns` to `stage` as `runs` runs (a batch's records)."""
        self.total_ns[stage] = self.total_ns.get(stage, 0) + elapsed_ns
        self.runs[stage] = self.runs.get(stage, 0) + runs

    def summary(self) -> dict[str, dict[str, float]]:
        return {stage: {"runs": runs, "us_per_run": round(self.total_ns[stage] / runs / 1000, 1)}
                for stage, runs in sorted(self.runs.items())}


def now_ns() -> int:
    return time.perf_counter_ns()


STAGES = StageTimes()


class _StageCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        seconds = CounterMetricFamily("heard_stage_seconds", "Time spent in each stage of "
                                      "handling a record", labels=["stage"])
        runs = CounterMetricFamily("heard_stage_runs", "Records through each stage",
                                   labels=["stage"])
        for stage, count in list(STAGES.runs.items()):
            seconds.add_metric([stage], STAGES.total_ns.get(stage, 0) / 1e9)
            runs.add_metric([stage], count)
        yield seconds
        yield runs


REGISTRY.register(_StageCollector())
