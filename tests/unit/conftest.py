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


@pytest.fixture(autouse=True)
def every_decided_context_fits_its_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every notification the policy decides, in every unit test, has a context its kind's
    model takes and names no key the model does not (heard.streams.contract.contexts): the
    model is what templates, lint and the studio are written against."""
    import sys

    from heard.streams.contract.contexts import CONTEXTS, complete, unknown_keys
    from heard.streams.contract.state import Notification

    built = Notification.__init__

    def checked(self: Notification, **fields: object) -> None:
        built(self, **fields)
        decided_by = sys._getframe(1).f_globals.get("__name__", "")
        if not decided_by.startswith("heard.streams.policy") or self.kind not in CONTEXTS:
            return
        complete(self.kind, self.context)  # a ValidationError names the field
        unknown = unknown_keys(self.kind, self.context)
        assert unknown == [], f"{decided_by} decided {self.kind} with keys its model lacks"

    monkeypatch.setattr(Notification, "__init__", checked)
