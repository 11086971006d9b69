"""Email over SMTP with aiosmtplib: pooled connections, TLS, AUTH, threading headers.

The only module that imports aiosmtplib. SMTP 4xx answers, timeouts and
disconnects are retryable; 5xx answers are permanent.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field

from heard.channels.base import (
    Channel,
    ChannelPlugin,
    OutboundMessage,
    PermanentDeliveryError,
    Receipt,
    RetryableDeliveryError,
    TemplateParts,
)
from heard.channels.mime import address_header, assemble, single_line, text_header


class MailEventSettings(BaseModel):
    """Which mail providers' signed webhooks the public listener accepts, each by the
    environment variable holding its key (unset variable: that provider's route answers 403),
    and when soft bounces count as a hard one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # SendGrid: the Signed Event Webhook's verification key (base64 DER public key).
    sendgrid_key_env: str | None = "HEARD_SENDGRID_VERIFICATION_KEY"
    # Mailgun: the HTTP webhook signing key.
    mailgun_key_env: str | None = "HEARD_MAILGUN_SIGNING_KEY"
    # Temporary failures of this many different emails to one address make it undeliverable.
    soft_bounces_before_hard: int = Field(3, ge=1, le=100)

    def key_env(self, provider: str) -> str | None:
        return {"sendgrid": self.sendgrid_key_env, "mailgun": self.mailgun_key_env}.get(provider)


class PageSettings(BaseModel):
    """How the pages an email's links open look: the company's name at the top (unset: the
    emails' `from_name`) and the colour of their buttons."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    brand_name: str | None = Field(None, max_length=80)
    accent_color: str = Field("#1f1f1f", pattern=r"^#[0-9a-fA-F]{6}$")


class EmailSettings(BaseModel):
    """`email:` in config/channels.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(1025, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username_env: str | None = None
    password_env: str | None = None
    from_address: str = "support@example.com"
    from_name: str = "Support"
    reply_to: str | None = Field(
        None, description="Reply-To address; `{ticket_id}` is replaced by the ticket id"
    )
    subject_policy: Literal["thread", "per_kind"] = Field(
        "thread",
        description="thread: every email to a customer about a ticket reads "
        "'Re: <the ticket's subject>' (one conversation in their inbox); "
        "per_kind: each kind's subject.txt",
    )
    team_reply_to: str | None = Field(
        None,
        description="Reply-To of the team's messages (nudges, escalations); unset: the "
        "team's `default` address in internal_recipients. Never the "
        "customer's ticket address",
    )
    message_id_domain: str = "heard.invalid"
    pool_size: int = Field(4, ge=1, le=64)
    timeout_seconds: float = Field(15.0, gt=0)
    cafile: str | None = None
    internal_recipients: dict[str, str] = Field(
        default_factory=dict,
        description="team or role name -> address for agent nudges and escalations",
    )
    # One-click answers in emails (choose an option, rate the help) are links to the public
    # listener at sms.public_base_url, signed with the secret in this variable. Unset: emails
    # ask the reader to reply instead.
    reply_links_secret_env: str | None = "HEARD_LINK_SECRET"  # noqa: S105 - a variable's name
    reply_link_days: float = Field(30, gt=0)
    # Bounces, complaints and unsubscribes posted by the mail provider to the public listener
    # (<sms.public_base_url>/email/events/<provider>): see `MailEventSettings`.
    events: MailEventSettings = Field(default_factory=lambda: MailEventSettings())
    pages: PageSettings = Field(default_factory=lambda: PageSettings())

    def brand_name(self) -> str:
        return self.pages.brand_name or self.from_name

    def team_reply_address(self) -> str | None:
        """The team's messages (nudges, escalations) answer here: an internal address, never
        the customer's ticket address (an agent answering a nudge must not write to the
        customer)."""
        return self.team_reply_to or self.internal_recipients.get("default")


@dataclass(frozen=True)
class EmailConfig:
    """The section as written, and what start-up resolves from it: the login read from the
    environment and the TLS context built from `cafile`."""

    settings: EmailSettings
    username: str | None = None
    # Kept out of the repr, so no log line or traceback can show it.
    password: str | None = field(default=None, repr=False)
    tls_context: ssl.SSLContext | None = None


def configure(settings: EmailSettings, environ: Mapping[str, str]) -> EmailConfig:
    def secret(key: str, name: str | None) -> str | None:
        if name is not None and name not in environ:
            raise ValueError(f"email.{key}: environment variable {name} is not set")
        return environ.get(name) if name is not None else None

    context = ssl.create_default_context(cafile=settings.cafile) if settings.cafile else None
    return EmailConfig(
        settings,
        username=secret("username_env", settings.username_env),
        password=secret("password_env", settings.password_env),
        tls_context=context,
    )


def _address(addr_spec: str, display_name: str | None, header: str) -> bytes:
    """`Name <addr>` with the name quoted or RFC 2047-encoded; the address is checked first."""
    if any(ch in addr_spec for ch in '\r\n<>,;"() ') or addr_spec.count("@") != 1:
        raise PermanentDeliveryError(f"malformed email address (redacted: {redact(addr_spec)})")
    return address_header(header, addr_spec, display_name)


def redact(address: str) -> str:
    """Keep logs free of personal data: 'jo***@example.com'."""
    local, _, domain = address.partition("@")
    return f"{local[:2]}***@{domain}" if domain else f"{address[:3]}***"


def thread_id(ticket_id: str, domain: str) -> str:
    return f"<ticket-{ticket_id}@{domain}>"


def message_id(settings: EmailSettings, message: OutboundMessage) -> str:
    """`<notification id.ticket@domain>`: the ticket travels (base64url, an atom's characters)
    so that a provider's bounce or complaint, which quotes the Message-ID, finds its ticket."""
    ticket = base64.urlsafe_b64encode(message.ticket_id.encode()).decode().rstrip("=")
    return f"<{message.notification_id}.{ticket}@{settings.message_id_domain}>"


def sent_ids(settings: EmailSettings, bare_id: str) -> tuple[str, str] | None:
    """(notification id, ticket id) of a Message-ID heard made (without angle brackets);
    None for any other message's."""
    local, _, domain = bare_id.rpartition("@")
    notification, _, ticket = local.partition(".")
    if domain != settings.message_id_domain or not notification or not ticket:
        return None
    try:
        decoded = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return (notification, decoded) if decoded else None


def subject_of(config: EmailSettings, message: OutboundMessage) -> str:
    """One subject per conversation under the thread policy: `Re: <the ticket's subject>`
    for every email to a customer (the customer's own words, as their first email had them);
    the message's own subject otherwise, and always for the team."""
    if config.subject_policy == "thread" and message.audience == "customer" and message.thread_subject:
        return f"Re: {message.thread_subject.removeprefix('Re: ')}"
    return message.subject or ""


def build_email(config: EmailSettings, message: OutboundMessage) -> bytes:
    """A well-formed transactional email as wire bytes; every customer value stays in its header.

    The Message-ID derives from the notification id, so a retried send is recognisable
    as the same message; replies thread under one root per ticket.
    """
    root = thread_id(message.ticket_id, config.message_id_domain)
    # The customer's own emails first (oldest first), heard's root for the ticket last: a
    # client threads under the customer's message where it has it, under the root anyway.
    references = [*message.references, root]
    try:
        headers = [
            _address(config.from_address, config.from_name, "From"),
            _address(message.to, message.display_name, "To"),
            text_header("Subject", subject_of(config, message)),
            text_header("Date", format_datetime(datetime.now(UTC))),
            text_header("Message-ID", message_id(config, message)),
            text_header("In-Reply-To", references[-2] if message.references else root),
            text_header("References", " ".join(references)),
        ]
        reply_to = (
            config.reply_to.replace("{ticket_id}", message.ticket_id)
            if config.reply_to and message.audience == "customer"
            else config.team_reply_address()
            if message.audience != "customer"
            else None
        )
        if reply_to:
            headers.append(text_header("Reply-To", reply_to))
        if "Auto-Submitted" not in message.headers:  # RFC 3834; a kind may say auto-replied
            headers.append(b"Auto-Submitted: auto-generated\r\n")
        for name, value in message.headers.items():
            headers.append(text_header(single_line(name), value))
        return assemble(headers, message.text, message.html)
    except (ValueError, TypeError) as exc:
        raise PermanentDeliveryError(f"cannot build the email: {exc}") from exc


class SmtpEmailChannel:
    name = "email"

    def __init__(self, config: EmailConfig) -> None:
        self.config = config
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(config.settings.pool_size)
        self._all: set[aiosmtplib.SMTP] = set()

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.config.settings
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout_seconds,
            use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls",
            tls_context=self.config.tls_context,
        )
        await client.connect()
        if self.config.username:
            await client.login(self.config.username, self.config.password or "")
        self._all.add(client)
        return client

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        self._all.discard(client)
        try:
            client.close()
        except (aiosmtplib.SMTPException, OSError):
            return

    async def send(self, message: OutboundMessage) -> Receipt:
        payload = build_email(self.config.settings, message)
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else None
                if client is None or not client.is_connected:
                    client = await self._connect()
                errors, response = await client.sendmail(
                    self.config.settings.from_address, [message.to], payload
                )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                if client is not None:
                    await self._discard(client)
                first = exc.recipients[0] if exc.recipients else None
                raise _by_code(
                    first.code if first else 550, f"recipient refused: {first.message if first else ''}"
                ) from exc
            except aiosmtplib.SMTPAuthenticationError as exc:
                if client is not None:
                    await self._discard(client)
                raise PermanentDeliveryError(
                    f"SMTP authentication failed ({exc.code})", code=str(exc.code)
                ) from exc
            except aiosmtplib.SMTPResponseException as exc:
                if client is not None:
                    await self._discard(client)
                raise _by_code(exc.code, f"SMTP {exc.code}: {exc.message}") from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                if client is not None:
                    await self._discard(client)
                raise RetryableDeliveryError(f"SMTP connection problem: {type(exc).__name__}: {exc}") from exc
            self._idle.put_nowait(client)
        if errors:
            code, text = next(iter(errors.values()))
            raise _by_code(code, f"recipient refused: {code} {text}")
        return Receipt(
            message.notification_id,
            self.name,
            message_id(self.config.settings, message),
            datetime.now(UTC),
            detail=response,
        )

    async def aclose(self) -> None:
        for client in list(self._all):
            try:
                if client.is_connected:
                    # QUIT is a courtesy; a server that does not answer must not hold shutdown.
                    await client.quit(timeout=QUIT_TIMEOUT_SECONDS)
            except (aiosmtplib.SMTPException, OSError):
                client.close()
        self._all.clear()


QUIT_TIMEOUT_SECONDS = 1.0


def _by_code(code: int, reason: str) -> RetryableDeliveryError | PermanentDeliveryError:
    if 400 <= code < 500:
        return RetryableDeliveryError(reason, code=str(code))
    return PermanentDeliveryError(reason, code=str(code))


def _build(settings: EmailSettings, environ: Mapping[str, str]) -> Channel:
    return SmtpEmailChannel(configure(settings, environ))


PLUGIN = ChannelPlugin(
    name="email",
    parts=TemplateParts("email.txt", subject="subject.txt", html="email.html"),
    audiences=frozenset({"customer", "team"}),
    settings_model=EmailSettings,
    build=_build,
    team_routes=lambda settings: dict(settings.internal_recipients),
)
