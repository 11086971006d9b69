"""The benchmark's stage breakdown, read from what workers log as they stop."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from bench.throughput import stage_times


def worker_log(tmp_path: Path, name: str, stages: dict[str, Any]) -> Any:
    log = tmp_path / name
    log.write_text(f"... Ready\nINFO stage times: {json.dumps(stages)}\n")
    return SimpleNamespace(log=log)


def test_stage_times_weigh_each_worker_by_its_runs_and_give_the_batch_size(tmp_path: Path) -> None:
    one = worker_log(
        tmp_path,
        "a.log",
        {
            "lifecycle.handled": {"runs": 300, "us_per_run": 100.0},
            "lifecycle.batches": {"runs": 10, "us_per_run": 3000.0},
        },
    )
    two = worker_log(
        tmp_path,
        "b.log",
        {
            "lifecycle.handled": {"runs": 100, "us_per_run": 200.0},
            "lifecycle.batches": {"runs": 10, "us_per_run": 2000.0},
        },
    )
    times = stage_times(cast(Any, [one, two]))
    assert times["lifecycle.handled"] == 125.0  # (300 x 100 + 100 x 200) / 400
    assert times["lifecycle.batches"] == 2500.0
    assert times["lifecycle.records_per_batch"] == 20.0  # 400 records in 20 batches
