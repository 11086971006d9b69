"""The explicit channel registry: config names a channel, this maps it to its plug-in.

Adding a channel is one module in `channels/` declaring its `ChannelPlugin` (settings model,
build, template files, team routes), one line here, its templates, and its section in
config/channels.yaml. Email, SMS and Slack are registered alike: settings validation,
wiring, routing of the team's messages, rendering, lint and the studio read only what the
plug-in declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from heard.channels import email_smtp, slack_webhook, sms_twilio
from heard.channels.base import Channel, ChannelPlugin, TemplateParts

# Each plug-in is typed by its own settings model; the table holds them side by side.
PLUGINS: dict[str, ChannelPlugin[Any]] = {
    each.name: each for each in (email_smtp.PLUGIN, sms_twilio.PLUGIN, slack_webhook.PLUGIN)
}


def plugin(name: str) -> ChannelPlugin[Any]:
    try:
        return PLUGINS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; known: {', '.join(sorted(PLUGINS))}") from None


def build_channel(name: str, settings: BaseModel, environ: Mapping[str, str]) -> Channel:
    return plugin(name).build(settings, environ)


def template_parts(name: str) -> TemplateParts:
    return plugin(name).parts
