"""Warm data as help desks display and export it, read into the forms the contract needs.

Languages ("English", "Español", "en_US", "pt-BR") become BCP 47 tags (Babel's CLDR data);
Rails zone names ("Eastern Time (US & Canada)", also with a "(GMT-05:00) " prefix) become
IANA zones; national phone numbers are read in the operator's region (phonenumbers).
Each function raises ValueError with a reason a support lead can act on.
"""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.localedata import locale_identifiers

from heard.streams.base.redaction import redact
from heard.streams.connectors.rails_time_zones import RAILS_TO_IANA
from heard.streams.contract.records import normalise_phone


def shown(value: str, limit: int = 40) -> str:
    """A sender's value quoted in a warning: short, so the warning itself stays readable,
    with any address or number in it replaced (warnings reach logs and the decision log)."""
    safe = redact(value)
    return repr(safe if len(safe) <= limit else safe[:limit] + "…")


_GMT_PREFIX = re.compile(r"^\((?:GMT|UTC)[+-−]\d{1,2}:\d\d\)\s*")


@lru_cache(maxsize=1)
def _language_names() -> dict[str, str]:
    """Every language's English name and its own name, case-folded -> language code."""
    names: dict[str, str] = {}
    for code, name in Locale("en").languages.items():
        if "_" not in code:
            names.setdefault(name.casefold(), code)
    for identifier in locale_identifiers():
        if "_" not in identifier:
            own = Locale.parse(identifier).get_language_name(identifier)
            if own:
                names.setdefault(own.casefold(), identifier)
    return names


def language_tag(value: str) -> str:
    raw = value.strip()
    try:
        locale = Locale.parse(raw.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        code = _language_names().get(raw.casefold())
        if code is None:
            raise ValueError(f"not a language name or code heard knows: {shown(raw)}") from None
        return code
    return "-".join(part for part in (locale.language, locale.script, locale.territory) if part)


def iana_zone(value: str) -> str:
    raw = _GMT_PREFIX.sub("", value.strip())
    zone = RAILS_TO_IANA.get(raw, raw)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"not an IANA or Rails time zone: {shown(value.strip())}") from None
    return zone


def e164_phone(value: str, region: str) -> str:
    # The number itself stays out of the reason: reasons reach logs and the decision log.
    try:
        return normalise_phone(value, region)
    except ValueError as exc:
        raise ValueError(
            f"not a phone number in E.164 or {region} national format ({str(exc).split(':')[0]})"
        ) from None
