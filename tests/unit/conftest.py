"""Fixtures the unit tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.peers import REPO


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of the shipped templates that a test may break."""
    target = tmp_path / "templates"
    shutil.copytree(REPO / "templates", target)
    return target
