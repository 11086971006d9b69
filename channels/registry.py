"""The explicit channel registry: config names a channel, this maps it to its module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heard.channels.base import Channel


def _email(config: Any) -> Channel:
    from heard.channels.email_smtp import SmtpEmailChannel

    return SmtpEmailChannel(config)


def _sms(config: Any) -> Channel:
    from heard.channels.sms_twilio import TwilioSmsChannel

    return TwilioSmsChannel(config)


REGISTRY: dict[str, Callable[[Any], Channel]] = {
    "email": _email,
    "sms": _sms,
}


def build_channel(name: str, config: Any) -> Channel:
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return factory(config)
