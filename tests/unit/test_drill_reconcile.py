"""The drills' report on a message that never came: what the policy last decided about it,
from the decision log in either of its forms (one record per line, or per event)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from bench import drills
from heard.streams.base.settings import EngineSettings


def test_each_missing_message_is_named_with_the_policys_last_word_on_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def line(ticket: str, kind: str, outcome: str, reason: str) -> dict[str, str]:
        return {"ticket_id": ticket, "kind": kind, "outcome": outcome, "reason": reason}

    records = [
        (b"D1", json.dumps(line("D1", "checkpoint_holding", "schedule", "due at 10:00")).encode(), {}),
        (
            b"D1",
            json.dumps(
                {
                    "record": "decisions",
                    "lines": [line("D1", "checkpoint_holding", "cancel", "heard from us 3 s ago")],
                }
            ).encode(),
            {},
        ),
        (
            b"D2",
            json.dumps(line("D2", "checkpoint_holding", "send", "to the customer by email")).encode(),
            {},
        ),
    ]

    async def read_topic(engine: Any, topic: str) -> list[Any]:
        assert topic == "t.heard-decisions"
        return records

    monkeypatch.setattr(drills, "read_topic", read_topic)
    stage = SimpleNamespace(engine=EngineSettings(topic_prefix="t."))
    missing = {("D1", "checkpoint_holding"), ("D2", "checkpoint_holding"), ("D3", "closure_summary")}
    assert drills.Stage.last_decisions(stage, missing) == {  # type: ignore[arg-type]
        ("D1", "checkpoint_holding"): "cancel: heard from us 3 s ago",
        ("D2", "checkpoint_holding"): "send: to the customer by email",
        ("D3", "closure_summary"): "no decision recorded",
    }
