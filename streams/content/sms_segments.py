"""SMS segment counting: GSM-7 160/153 per segment, UCS-2 70/67.

GSM extension characters take two septets; any character outside GSM-7 switches
the whole message to UCS-2 (counted in UTF-16 code units, so an emoji is two).
"""

from __future__ import annotations

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def encoding(text: str) -> str:
    return "GSM-7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "UCS-2"


def segments(text: str) -> tuple[int, str, int]:
    """(segment count, encoding, length in units of that encoding)."""
    if encoding(text) == "GSM-7":
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
        kind = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
        kind = "UCS-2"
    if units <= single:
        return (1 if units else 0), kind, units
    return -(-units // multi), kind, units
