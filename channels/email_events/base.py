"""What a mail provider tells heard after it accepted an email: the address bounced (for
good, or for now), the reader marked it as spam, or unsubscribed. Each provider's module
reads its own signed webhook into these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# hard: the address cannot receive mail (no such mailbox, no such domain): never again.
# soft: the provider could not deliver for now and retries; counted per address, and after
#   `soft_bounces_before_hard` different messages treated as hard.
# complaint: the reader marked heard's email as spam. unsubscribe: they asked for no more.
MailEventKind = Literal["hard_bounce", "soft_bounce", "complaint", "unsubscribe"]
# Which of them withdraw email for the address at once.
REFUSING: frozenset[MailEventKind] = frozenset({"hard_bounce", "complaint", "unsubscribe"})


class BadMailEvents(ValueError):
    """A body the provider's documented shape does not describe; the route answers 400."""


@dataclass(frozen=True)
class MailEvent:
    provider: str
    kind: MailEventKind
    address: str
    # The provider's own id of this event: a retried or replayed webhook is recognised by it.
    event_id: str
    at: datetime
    # The receiving server's words, for the team and `heard explain` ("550 5.1.1 ...").
    detail: str
    # The Message-ID heard gave the email, without its angle brackets; None when the provider
    # did not say it (then only the address is known).
    message_id: str | None

    @property
    def refuses(self) -> bool:
        return self.kind in REFUSING


def bare_message_id(value: object) -> str | None:
    """`<id@domain>` or `id@domain` as `id@domain`; None for anything else."""
    if not isinstance(value, str):
        return None
    text = value.strip().removeprefix("<").removesuffix(">").strip()
    return text if "@" in text and " " not in text else None


def text_of(value: object, limit: int = 300) -> str:
    """A provider's free text, one line and bounded: it goes into a team's email."""
    return " ".join(str(value or "").split())[:limit]
