"""`heard worker` as a child process writing its own log, polled for milestones ("Ready",
"timers restored"): one helper for the demo, the tests and the benchmarks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from heard.devstack.kafka import stop_pid

Found = TypeVar("Found")


@dataclass
class WorkerProcess:
    env: dict[str, str]
    log: Path
    cwd: Path | None = None
    loglevel: str = "info"
    # How long a SIGTERM may take before SIGKILL (the worker flushes and commits first).
    grace: float = 20
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "heard.streams.cli", "worker", "--loglevel", self.loglevel],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_for(self, find: Callable[[str], Found | None], timeout: float, what: str) -> tuple[float, Found]:
        """Seconds from start until `find` finds something in the log, and what it found."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None, "start the worker first"
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the worker exited (code {self.process.returncode}) before "
                    f"{what}: {self.log.read_text(errors='replace')[-3000:]}"
                )
            found = find(self.log.read_text(errors="replace"))
            if found is not None:
                return time.monotonic() - self.started_at, found
            time.sleep(0.2)  # polls the log; bounded by the deadline
        raise RuntimeError(
            f"no {what} within {timeout:.0f} s; see {self.log}: "
            f"{self.log.read_text(errors='replace')[-3000:]}"
        )

    def wait_for_line(self, needle: str, timeout: float) -> float:
        """Seconds from start until `needle` appears in the log."""
        return self.wait_for(lambda text: True if needle in text else None, timeout, repr(needle))[0]

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
            self.process.wait(10)
        else:
            stop_pid(self.process.pid, self.grace, self.process)
        self.process = None
