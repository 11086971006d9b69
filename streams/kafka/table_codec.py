"""How the worker's text tables (tickets, receipts, SMS statuses and questions) are written
to their changelogs.

Their values are already text (a state's JSON, a status word). Faust's default codec wrote
each as a JSON string: the state's JSON escaped and quoted again, a second encoding per
write and a larger record. `text` writes the text itself. Both codecs read both forms, so
the change is a two-step upgrade (docs/operations.md): first every worker runs a release
that reads both (writing `json`), then `engine.table_values: text` is set.

A record in the old form is a JSON string, so it starts with a double quote; heard's values
in the new form never do (a JSON object, a status word). A value that would is written in
the old form, which every release reads.
"""

from __future__ import annotations

import json
from typing import Any

from faust.serializers import codecs

JSON = "heard-table-json"
TEXT = "heard-table-text"
CODECS = {"json": JSON, "text": TEXT}


def read_value(raw: bytes) -> str:
    """A table value in either form: a JSON string (the old form) or the text itself."""
    if raw[:1] == b'"':
        value = json.loads(raw)
        if not isinstance(value, str):
            raise ValueError("a table value that starts with a quote is not a JSON string")
        return value
    return raw.decode()


class JsonTableValues(codecs.Codec):
    """Writes each value as a JSON string (the form before `text`); reads both."""

    def _loads(self, s: bytes) -> Any:
        return read_value(s)

    def _dumps(self, s: Any) -> bytes:
        return json.dumps(s).encode()


class TextTableValues(codecs.Codec):
    """Writes each value's text as it is; reads both."""

    def _loads(self, s: bytes) -> Any:
        return read_value(s)

    def _dumps(self, s: Any) -> bytes:
        text = str(s)
        if text.startswith('"'):  # would read as the old form: write that form
            return json.dumps(text).encode()
        return text.encode()


def register() -> None:
    """Make both codecs known to Faust by name (idempotent)."""
    codecs.register(JSON, JsonTableValues())
    codecs.register(TEXT, TextTableValues())
