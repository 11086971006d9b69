"""One way to print a report's rows: an aligned table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any


def render_rows(
    data: list[dict[str, Any]], columns: Sequence[str], fmt: str, empty: str | None = None
) -> str:
    """`data` as `fmt` (table, csv, json). A table shows missing values as `-`; with `empty`
    set, a table with no rows says that instead of printing only its header."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
        return out.getvalue()
    if not data and empty is not None:
        return empty + "\n"
    cells = [[("-" if item[c] is None else str(item[c])) for c in columns] for item in data]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


def records_named(raw: Iterable[bytes], name: str) -> list[dict[str, Any]]:
    """The records of one kind (`"record": name`) on a topic that carries several; what is
    not JSON or not that kind is not this report's to read."""
    found = []
    for value in raw:
        try:
            data = json.loads(value)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("record") == name:
            found.append(data)
    return found
