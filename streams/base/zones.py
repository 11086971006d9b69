"""Timezone names, checked once the same way everywhere (settings, events, personas)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def known_timezone(value: str) -> str:
    """The value, if it names an IANA timezone; a ValueError naming it otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown IANA timezone {value!r}") from exc
    return value
