"""One request a help desk takes to add an internal note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NoteRequest:
    method: str
    url: str
    json: dict[str, Any]
