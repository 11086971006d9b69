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


def redact(text: str) -> str:
    """The text with email addresses and E.164 phone numbers replaced by placeholders."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))
