"""The README's claims each name the test that holds them: every test named there exists in
the file it links, so a renamed or deleted test cannot leave a claim unbacked."""

from __future__ import annotations

import ast
import re

from tests.peers import REPO

NAMED_TEST = re.compile(r"\[`(test_\w+)`\]\(([^)#]+)\)")


def test_every_test_the_readme_names_exists_where_it_links() -> None:
    named = NAMED_TEST.findall((REPO / "README.md").read_text())
    assert len(named) >= 25
    missing = []
    for name, path in named:
        tree = ast.parse((REPO / path).read_text())
        defined = {node.name for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []
