"""The one protocol every delivery channel implements, and its small error tree.

Vendor errors are translated at each channel's boundary into retryable or
permanent delivery errors (`raise ... from exc`); nothing returns a bool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class OutboundMessage:
    """A rendered message ready for one channel. `to` is an address or an E.164 number."""

    notification_id: str
    ticket_id: str
    to: str
    text: str
    subject: str | None = None
    html: str | None = None
    display_name: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    notification_id: str
    channel: str
    provider_id: str
    accepted_at: datetime
    detail: str = ""


class DeliveryError(Exception):
    """A message was not accepted by the provider."""

    retryable = False

    def __init__(self, reason: str, *, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.retry_after = retry_after


class RetryableDeliveryError(DeliveryError):
    """Worth trying again later: throttling, timeouts, temporary server trouble."""

    retryable = True


class PermanentDeliveryError(DeliveryError):
    """Trying again will not help: a refused address, a rejected number, bad content."""


class RecipientOptedOut(PermanentDeliveryError):
    """The provider says this recipient unsubscribed (Twilio 21610): suppress them."""


@runtime_checkable
class Channel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> Receipt: ...

    async def aclose(self) -> None: ...
