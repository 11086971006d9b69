"""The claims of what heard does each name the test that holds them (docs/behaviour.md): every
test named there exists in the file it links, so a renamed or deleted test cannot leave a
claim unbacked. Every relative link of the README and the docs leads to a file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.peers import REPO

NAMED_TEST = re.compile(r"\[`(test_\w+)`\]\(([^)#]+)\)")
RELATIVE_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)")
PAGES = [REPO / "README.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_test_the_claims_name_exists_where_it_links() -> None:
    page = REPO / "docs" / "behaviour.md"
    named = NAMED_TEST.findall(page.read_text())
    assert len(named) >= 25
    missing = []
    for name, path in named:
        tree = ast.parse((page.parent / path).read_text())
        defined = {
            node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    broken = [
        target for target in RELATIVE_LINK.findall(page.read_text()) if not (page.parent / target).exists()
    ]
    assert broken == []
