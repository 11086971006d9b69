"""Mail providers' webhooks about emails already accepted: bounces, complaints and
unsubscribes, one module per provider, each with `NAME`, `authentic(key, body, headers)`,
`parse(body)` and `key_problem(key)`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from heard.channels.email_events import mailgun, sendgrid
from heard.channels.email_events.base import MailEvent


@dataclass(frozen=True)
class MailEventProvider:
    name: str
    authentic: Callable[[str, bytes, Mapping[str, str]], bool]
    parse: Callable[[bytes], list[MailEvent]]
    # Why a configured key cannot be the provider's; None when it can.
    key_problem: Callable[[str], str | None]


PROVIDERS: dict[str, MailEventProvider] = {
    module.NAME: MailEventProvider(module.NAME, module.authentic, module.parse, module.key_problem)
    for module in (sendgrid, mailgun)
}
