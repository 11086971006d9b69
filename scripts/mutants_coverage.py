"""A pytest plug-in for `scripts/mutants.py`'s baseline: records which tests run each line of
the module under mutation (coverage.py, one dynamic context per test id), so each mutant is
then run against only the tests that execute the statement it changed.

Active only when MUTANTS_COVER names the module's file and MUTANTS_COVER_DATA the data file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import coverage
import pytest

_coverage: coverage.Coverage | None = None
# Each test's seconds (setup to teardown), beside the coverage data: a mutant's timeout is
# scaled from the tests it runs, not from the whole suite.
_seconds: dict[str, float] = {}


def pytest_configure(config: pytest.Config) -> None:
    global _coverage
    target, data_file = os.environ.get("MUTANTS_COVER"), os.environ.get("MUTANTS_COVER_DATA")
    if not (target and data_file):
        return
    _coverage = coverage.Coverage(data_file=data_file, include=[target], config_file=False)
    _coverage.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Setup, call and teardown all count as the test's: a fixture that calls the module is
    # as able to fail on a mutant as the test body is.
    if _coverage is not None:
        _coverage.switch_context(item.nodeid)
    started = time.monotonic()
    yield
    _seconds[item.nodeid] = time.monotonic() - started
    if _coverage is not None:
        _coverage.switch_context("")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _coverage is not None:
        _coverage.stop()
        _coverage.save()
        data_file = Path(os.environ["MUTANTS_COVER_DATA"])
        data_file.with_name(data_file.name + ".seconds.json").write_text(json.dumps(_seconds))
