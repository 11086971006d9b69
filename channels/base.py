"""The one protocol every delivery channel implements, and its small error tree.

Vendor errors are translated at each channel's boundary into retryable or
permanent delivery errors (`raise ... from exc`); nothing returns a bool.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel


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
    # Who reads it: "customer" (a contact too), or the team ("agent", "lead"). A channel
    # that offers a way to answer (email's Reply-To) never gives the team the customer's.
    audience: str = "customer"
    # The conversation this message belongs to in the reader's inbox: the ticket's subject
    # (in the customer's own words), and the Message-IDs of the customer's emails it answers
    # (oldest first), when the help desk gave them.
    thread_subject: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Receipt:
    notification_id: str
    channel: str
    provider_id: str
    accepted_at: datetime
    detail: str = ""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A provider's `Retry-After` (RFC 9110): delay-seconds, or an HTTP date to wait until;
    None when absent or unreadable (the retry's own backoff applies then)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            until = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if until.tzinfo is None:
            return None
        seconds = (until - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class DeliveryError(Exception):
    """A message was not accepted by the provider."""

    retryable = False

    def __init__(self, reason: str, *, code: str | None = None, retry_after: float | None = None) -> None:
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


@dataclass(frozen=True)
class TemplateParts:
    """The files a channel's message is rendered from, in `templates/<kind>/<locale>/`."""

    text: str
    subject: str | None = None
    html: str | None = None
    # Whitespace folded into one line (a text message has no paragraphs).
    one_line: bool = False
    # Applied to every value the template prints (a customer's name, an agent's words):
    # what the channel's markup would read as commands stays text. The template's own
    # words are the writers' and are left as written.
    escape: Callable[[str], str] | None = None


Audience = Literal["customer", "team"]
SettingsT = TypeVar("SettingsT", bound=BaseModel)


@dataclass(frozen=True)
class ChannelPlugin(Generic[SettingsT]):
    """What the engine needs to know of a channel: its name in config and on every
    notification, its template files, whom it carries messages to, the model of its section
    of config/channels.yaml, how to build it from that section, and, for a channel carrying
    the team's messages, the routes its section names (route -> the recipient a
    notification carries). Email, SMS and Slack each declare one in their own module."""

    name: str
    parts: TemplateParts
    audiences: frozenset[Audience]
    # The pydantic model of its `<name>:` section (every field with a default the channel
    # can start on, or a validator that says what is missing).
    settings_model: type[SettingsT]
    # Builds the channel from its validated section and the environment its secrets are
    # read from; a ValueError names the key that is wrong.
    build: Callable[[SettingsT, Mapping[str, str]], Channel]
    team_routes: Callable[[SettingsT], dict[str, str]] | None = None
