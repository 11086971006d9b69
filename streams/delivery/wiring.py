"""Turn validated settings into live objects: channels with secrets from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from heard.channels.base import Channel
from heard.channels.email_events import PROVIDERS
from heard.channels.registry import build_channel, plugin
from heard.streams.base.secrets import require_strong
from heard.streams.base.settings import ConfigError, ConnectorSettings
from heard.streams.delivery.config import ChannelSettings
from heard.streams.delivery.helpdesk import HELPDESKS
from heard.streams.delivery.helpdesk.client import NoteWriter
from heard.streams.delivery.links import ReplyLinks


def build_channels(settings: ChannelSettings, environ: Mapping[str, str] | None = None) -> dict[str, Channel]:
    """Every enabled channel, built by its plug-in from its section; a secret that is not
    set stops start-up naming the key."""
    env = os.environ if environ is None else environ
    channels = {}
    for name in settings.enabled:
        try:
            channels[name] = build_channel(name, settings.section_named(name), env)
        except ValueError as exc:
            raise ConfigError(f"config/channels.yaml: {exc}") from exc
    return channels


def team_routes(settings: ChannelSettings) -> dict[str, dict[str, str]]:
    """For each channel carrying the team's messages: route -> recipient, as its plug-in
    reads them from its section (email: internal_recipients' addresses; Slack: its named
    webhook routes)."""
    routes = {}
    for name in settings.team:
        declared = plugin(name).team_routes
        routes[name] = declared(settings.section_named(name)) if declared else {}
    return routes


def twilio_auth_token(settings: ChannelSettings, environ: dict[str, str] | None = None) -> str:
    """The token Twilio signs callbacks with; empty when SMS is off (callbacks then get 403)."""
    if "sms" not in settings.enabled:
        return ""
    env = dict(os.environ if environ is None else environ)
    token = env.get(settings.sms.auth_token_env, "")
    if token and settings.sms.public_base_url is not None:
        require_strong(
            "config/channels.yaml: sms.auth_token_env",
            settings.sms.auth_token_env,
            token,
            "is what every Twilio callback to the public listener is checked "
            "against (Twilio's own auth token has 32 characters)",
        )
    return token


MIN_LINK_SECRET_BYTES = 32


def reply_links(settings: ChannelSettings, environ: dict[str, str] | None = None) -> ReplyLinks | None:
    """Signed answer links, when there is a public address to serve them and a secret to sign
    them; None otherwise (emails then ask for a reply)."""
    env = dict(os.environ if environ is None else environ)
    name = settings.email.reply_links_secret_env
    secret = env.get(name, "") if name else ""
    if not secret or settings.sms.public_base_url is None:
        return None
    assert name is not None
    require_strong(
        "config/channels.yaml: email.reply_links_secret_env",
        name,
        secret,
        "signs every answer link in customers' emails (a guessed one forges a customer's choice or rating)",
        MIN_LINK_SECRET_BYTES,
    )
    return ReplyLinks(settings.sms.public_base_url, secret.encode(), settings.email.reply_link_days)


def mail_event_keys(settings: ChannelSettings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each mail provider's webhook key, for those whose variable is set (and email is on);
    a key the provider cannot have issued stops start-up, naming the setting."""
    if "email" not in settings.enabled:
        return {}
    env = dict(os.environ if environ is None else environ)
    keys = {}
    for name, provider in PROVIDERS.items():
        variable = settings.email.events.key_env(name)
        value = env.get(variable, "").strip() if variable else ""
        if not value:
            continue
        problem = provider.key_problem(value)
        if problem is not None:
            raise ConfigError(f"config/channels.yaml: email.events.{name}_key_env: {variable} {problem}")
        keys[name] = value
    return keys


def helpdesk_writer(
    settings: ConnectorSettings, environ: Mapping[str, str] | None = None
) -> NoteWriter | None:
    """The client that writes notes back to the help desk, when `writeback` is configured;
    a variable it needs that is not set stops start-up, naming the key."""
    writeback = settings.writeback
    if writeback is None:
        return None
    env = dict(os.environ if environ is None else environ)
    desk = HELPDESKS[writeback.helpdesk]
    needed = [("token_env", writeback.token_env)]
    if desk.needs_user:
        if writeback.user_env is None:
            raise ConfigError(f"config/connectors.yaml: writeback.user_env: {desk.name} needs it")
        needed.insert(0, ("user_env", writeback.user_env))
    for key, variable in needed:
        if not env.get(variable):
            raise ConfigError(
                f"config/connectors.yaml: writeback.{key}: environment variable {variable} is not set"
            )
    user = env.get(writeback.user_env) if writeback.user_env else None
    return NoteWriter(desk, writeback.base_url, user, env[writeback.token_env], attempts=writeback.attempts)
