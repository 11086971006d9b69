"""A sample context with one optional field absent at a time: what lint renders every kind
with, so a template that assumes a field the contract leaves optional is caught before a
customer (or the team) meets it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from heard.streams.contract.contexts import optional_paths


def dotted(path: tuple[str, ...]) -> str:
    """`offer.options[].timeline`, as a writer reads the field."""
    return ".".join(path).replace(".[]", "[]")


def without(context: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """A copy of the context with the field at `path` None (in every item of a list on the
    way); None when the sample has nothing there to take away."""
    changed = copy.deepcopy(context)
    return changed if _clear(changed, path) else None


def _clear(value: Any, path: tuple[str, ...]) -> bool:
    head, rest = path[0], path[1:]
    if head == "[]":
        return isinstance(value, list) and any([_clear(item, rest) for item in value])
    if not isinstance(value, dict) or value.get(head) is None:
        return False
    if not rest:
        value[head] = None
        return True
    return _clear(value[head], rest)


def absent_one_at_a_time(kind: str, context: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(the field's dotted name, the context without it) for each optional field the sample
    fills."""
    for path in optional_paths(kind):
        changed = without(context, path)
        if changed is not None:
            yield dotted(path), changed
