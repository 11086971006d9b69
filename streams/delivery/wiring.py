"""Turn validated settings into live objects: channels with secrets from the environment."""

from __future__ import annotations

import os
import ssl

from heard.channels.base import Channel
from heard.channels.email_smtp import EmailConfig
from heard.channels.registry import build_channel, plugin
from heard.channels.sms_twilio import SmsConfig
from heard.channels.twilio_webhooks import STATUS_CALLBACK_PATH
from heard.streams.base.secrets import require_strong
from heard.streams.base.settings import ChannelSettings, ConfigError
from heard.streams.delivery.links import ReplyLinks


def _secret(name: str | None, what: str, environ: dict[str, str]) -> str | None:
    if name is None:
        return None
    value = environ.get(name)
    if value is None:
        raise ConfigError(f"config/channels.yaml: {what}: environment variable {name} is not set")
    return value


def email_config(settings: ChannelSettings, environ: dict[str, str] | None = None) -> EmailConfig:
    env = dict(os.environ if environ is None else environ)
    cfg = settings.email
    context = ssl.create_default_context(cafile=cfg.cafile) if cfg.cafile else None
    return EmailConfig(
        host=cfg.host, port=cfg.port, security=cfg.security,
        username=_secret(cfg.username_env, "email.username_env", env),
        password=_secret(cfg.password_env, "email.password_env", env),
        from_address=cfg.from_address, from_name=cfg.from_name, reply_to=cfg.reply_to,
        team_reply_to=cfg.team_reply_to or cfg.internal_recipients.get("default"),
        subject_policy=cfg.subject_policy,
        message_id_domain=cfg.message_id_domain, pool_size=cfg.pool_size,
        timeout=cfg.timeout_seconds, tls_context=context,
    )


def sms_config(settings: ChannelSettings, environ: dict[str, str] | None = None) -> SmsConfig:
    env = dict(os.environ if environ is None else environ)
    cfg = settings.sms
    if not (cfg.from_number or cfg.messaging_service_sid):
        raise ConfigError("config/channels.yaml: sms: set from_number or messaging_service_sid")
    return SmsConfig(
        account_sid=_secret(cfg.account_sid_env, "sms.account_sid_env", env) or "",
        auth_token=_secret(cfg.auth_token_env, "sms.auth_token_env", env) or "",
        from_number=cfg.from_number, messaging_service_sid=cfg.messaging_service_sid,
        base_url=cfg.base_url, status_callback_url=(f"{cfg.public_base_url}{STATUS_CALLBACK_PATH}"
                             if cfg.public_base_url else None),
        timeout=cfg.timeout_seconds,
    )


def build_channels(settings: ChannelSettings,
                   environ: dict[str, str] | None = None) -> dict[str, Channel]:
    configs = {"email": email_config, "sms": sms_config}
    channels = {}
    for name in settings.enabled:
        if name in configs:
            channels[name] = build_channel(name, configs[name](settings, environ))
            continue
        try:
            channels[name] = build_channel(name, settings.section(name), environ)
        except ValueError as exc:
            raise ConfigError(f"config/channels.yaml: {exc}") from exc
    return channels


def team_routes(settings: ChannelSettings) -> dict[str, dict[str, str]]:
    """For each channel carrying the team's messages: route -> recipient (email: the
    addresses of internal_recipients; a plug-in: the routes its section names)."""
    routes = {}
    for name in settings.team:
        declared = plugin(name).team_routes
        routes[name] = (dict(settings.email.internal_recipients) if name == "email"
                        else declared(settings.section(name)) if declared else {})
    return routes


def twilio_auth_token(settings: ChannelSettings, environ: dict[str, str] | None = None) -> str:
    """The token Twilio signs callbacks with; empty when SMS is off (callbacks then get 403)."""
    if "sms" not in settings.enabled:
        return ""
    env = dict(os.environ if environ is None else environ)
    token = env.get(settings.sms.auth_token_env, "")
    if token and settings.sms.public_base_url is not None:
        require_strong("config/channels.yaml: sms.auth_token_env", settings.sms.auth_token_env,
                       token, "is what every Twilio callback to the public listener is checked "
                       "against (Twilio's own auth token has 32 characters)")
    return token


MIN_LINK_SECRET_BYTES = 32


def reply_links(settings: ChannelSettings,
                environ: dict[str, str] | None = None) -> ReplyLinks | None:
    """Signed answer links, when there is a public address to serve them and a secret to sign
    them; None otherwise (emails then ask for a reply)."""
    env = dict(os.environ if environ is None else environ)
    name = settings.email.reply_links_secret_env
    secret = env.get(name, "") if name else ""
    if not secret or settings.sms.public_base_url is None:
        return None
    assert name is not None
    require_strong("config/channels.yaml: email.reply_links_secret_env", name, secret,
                   "signs every answer link in customers' emails (a guessed one forges a "
                   "customer's choice or rating)", MIN_LINK_SECRET_BYTES)
    return ReplyLinks(settings.sms.public_base_url, secret.encode(), settings.email.reply_link_days)
