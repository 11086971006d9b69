"""The explicit channel registry: config names a channel, this maps it to its plug-in.

Adding a channel is one module in `channels/` declaring its `ChannelPlugin`, one line here,
its templates, and its section in config/channels.yaml; routing of the team's messages,
settings validation, rendering, lint and wiring read what the plug-in declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heard.channels import slack_webhook
from heard.channels.base import Channel, ChannelPlugin, TemplateParts


def _email(config: Any, environ: Mapping[str, str] | None) -> Channel:
    from heard.channels.email_smtp import SmtpEmailChannel

    return SmtpEmailChannel(config)


def _sms(config: Any, environ: Mapping[str, str] | None) -> Channel:
    from heard.channels.sms_twilio import TwilioSmsChannel

    return TwilioSmsChannel(config)


PLUGINS: dict[str, ChannelPlugin] = {
    "email": ChannelPlugin("email", TemplateParts("email.txt", subject="subject.txt",
                                                  html="email.html"),
                           frozenset({"customer", "team"}), _email),
    "sms": ChannelPlugin("sms", TemplateParts("sms.txt", one_line=True),
                         frozenset({"customer"}), _sms),
    "slack": slack_webhook.PLUGIN,
}


def plugin(name: str) -> ChannelPlugin:
    try:
        return PLUGINS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; known: {', '.join(sorted(PLUGINS))}") from None


def build_channel(name: str, config: Any, environ: Mapping[str, str] | None = None) -> Channel:
    return plugin(name).build(config, environ)


def template_parts(name: str) -> TemplateParts:
    return plugin(name).parts
