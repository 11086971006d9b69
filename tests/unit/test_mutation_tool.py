"""The mutation tool's test selection: each mutant runs the tests that ran the statement it
changes, and every test when the statement runs only at import."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutants_tool", SCRIPTS / "mutants.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations there
    spec.loader.exec_module(module)
    return module


MODULE = """\
LIMIT = 3


def small(n):
    return n < LIMIT


def large(n):
    return n > 10
"""

TESTS = """\
from shapes import large, small


def test_small():
    assert small(1)


def test_large():
    assert large(11)


def test_nothing_of_the_module():
    assert True  # runs no line of the module: never chosen for a mutant
"""


def test_each_statement_runs_the_tests_that_ran_it_and_an_import_line_runs_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = load_tool()
    (tmp_path / "shapes.py").write_text(MODULE)
    (tmp_path / "test_shapes.py").write_text(TESTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUTANTS_WORK", str(tmp_path / "work"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shapes.py"]

    timeout, by_line, seconds = tool.baseline("shapes.py", command, env)

    assert timeout >= 30
    assert set(seconds) == {
        f"test_shapes.py::{name}" for name in ("test_small", "test_large", "test_nothing_of_the_module")
    }
    tree = ast.parse(MODULE)
    limit, small, large = tree.body
    small_body, large_body = small.body[0], large.body[0]  # type: ignore[attr-defined]
    options = command[:-1]
    assert tool.selected_args(command, small_body, by_line) == ([*options, "test_shapes.py::test_small"], "1")
    assert tool.selected_args(command, large_body, by_line) == ([*options, "test_shapes.py::test_large"], "1")
    # A compound statement takes the tests of its whole body.
    assert tool.selected_args(command, small, by_line) == ([*options, "test_shapes.py::test_small"], "1")
    # The constant is read by `small` but set at import, where no test runs: every test, or
    # the module's own tests when they are named.
    assert tool.selected_args(command, limit, by_line) == (command, "all")
    own = ["test_own.py"]
    assert tool.selected_args(command, limit, by_line, own) == ([*options, "test_own.py"], "at import")
    assert tool.selected_args(command, small_body, by_line, own)[1] == "1"
    # A mutant's timeout comes from the tests it runs: a slow test elsewhere adds nothing.
    run = tool.Run(
        "shapes.py", MODULE, tree, command, None, env, 500.0, by_line, {**seconds, "other.py::slow": 90.0}
    )
    assert run.timeout_for([*options, "test_shapes.py::test_small"]) < 40
    assert run.timeout_for([*options, "other.py"]) >= 480
    assert run.timeout_for(command) == 500.0


def test_what_runs_at_import_is_told_from_what_runs_in_a_function() -> None:
    tool = load_tool()
    tree = ast.parse(
        "@dataclass(frozen=True)\nclass A:\n    x: int = 1\n    def f(self, y=2):\n        return y\n"
        "TABLE = {'a': 1}\nsquare = lambda n: n * n\n"
    )
    tool.annotate(tree)
    cls, table, square = tree.body
    method = cls.body[1]  # type: ignore[attr-defined]
    at_import = {
        "decorator": cls.decorator_list[0].keywords[0].value,  # type: ignore[attr-defined]
        "class attribute": cls.body[0].value,  # type: ignore[attr-defined]
        "default": method.args.defaults[0],
        "table": table.value,  # type: ignore[attr-defined]
    }
    for what, node in at_import.items():
        assert tool.runs_at_import(node), what
    assert not tool.runs_at_import(method.body[0].value)
    assert not tool.runs_at_import(square.value.body)  # type: ignore[attr-defined]


def test_a_red_baseline_scores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = load_tool()
    (tmp_path / "shapes.py").write_text(MODULE)
    (tmp_path / "test_shapes.py").write_text(TESTS.replace("small(1)", "small(5)"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUTANTS_WORK", str(tmp_path / "work"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shapes.py"]
    with pytest.raises(SystemExit, match="baseline test run exited 1"):
        tool.baseline("shapes.py", command, env)
