"""One request a help desk takes to add an internal note."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NoteRequest:
    method: str
    url: str
    json: dict[str, Any]


def basic(credentials: str) -> str:
    """An HTTP Basic `Authorization` value for `user:password`."""
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def html_lines(body: str) -> str:
    """A note's lines as HTML, for the help desks whose notes are HTML."""
    return "<br>".join(html.escape(line) for line in body.splitlines())
