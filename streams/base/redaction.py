"""Personal data out of operational text: logs, outcome reasons, dead-letter headers.

Providers quote the recipient in their refusals (`<ana@example.com>: mailbox full`,
`The 'To' number +15005550009 is not a valid phone number`); heard's own records say which
notification and ticket they concern, so the address itself is never needed there.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s<>\"(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")
# Numbers in the form heard stores and providers quote them (E.164), optionally spaced.
_PHONE = re.compile(r"\+\d(?:[ .-]?\d){6,14}")


# Line breaks and bidi controls in a reason that quotes a sender's value would forge log
# lines or reorder them on screen: shown escaped instead.
_UNSAFE = {
    0x0A: "\\n",
    0x0D: "\\r",
    0x202E: "\\u202e",
    0x202D: "\\u202d",
    0x2066: "\\u2066",
    0x2067: "\\u2067",
    0x2068: "\\u2068",
    0x200F: "\\u200f",
    0x061C: "\\u061c",
}


def redact(text: str) -> str:
    """The text with email addresses and E.164 phone numbers replaced by placeholders, and
    line breaks and bidi controls escaped."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text)).translate(_UNSAFE)
