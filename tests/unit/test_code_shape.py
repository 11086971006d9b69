"""The code stays readable in small pieces: no function outside the tests runs over 60
lines (ruff caps complexity and statements; this caps length, docstring and all)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.peers import REPO

LONGEST = 60
SOURCES = ("streams", "channels", "devstack", "bench", "scripts")


def long_functions(root: Path, folders: tuple[str, ...]) -> list[str]:
    found = []
    for top in folders:
        for path in sorted((root / top).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > LONGEST:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_outside_the_tests_runs_over_sixty_lines() -> None:
    assert long_functions(REPO, SOURCES) == []


def test_the_check_finds_a_function_one_line_too_long(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    body = "\n".join(f"    x{n} = {n}" for n in range(LONGEST - 1))
    (tmp_path / "pkg" / "fits.py").write_text(f"def fits():\n{body}\n")
    (tmp_path / "pkg" / "long.py").write_text(f"async def long():\n{body}\n    return 1\n")
    assert long_functions(tmp_path, ("pkg",)) == [f"pkg{'/'}long.py:1 long (61 lines)"]
