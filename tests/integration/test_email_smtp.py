"""Email against real SMTP servers (aiosmtpd): STARTTLS + AUTH, scripted 4xx/5xx, a vanishing server."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from email import policy
from email.parser import BytesParser

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from heard.channels.base import (
    OutboundMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from heard.channels.email_smtp import EmailConfig, EmailSettings, SmtpEmailChannel
from heard.devstack.kafka import free_port
from tests.conformance import ChannelConformance

pytestmark = pytest.mark.integration


class ScriptedHandler:
    """Accepts mail, except for recipients whose local part scripts an answer."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("tempfail"):
            return "451 4.3.0 Mailbox busy, try again later"
        if address.startswith("shutdown"):
            return "421 4.7.0 Closing connection"
        if address.startswith("nosuchuser"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope.original_content or b"")
        return "250 Message accepted"


def authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"heard"
        and auth_data.password == b"s3cret"
    )
    # handled=False: aiosmtpd itself answers 235 or 535.
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def smtp_server(ca: trustme.CA) -> Iterator[tuple[Controller, ScriptedHandler]]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    handler = ScriptedHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    yield controller, handler
    controller.stop()


def client_config(port: int, ca: trustme.CA, **overrides: object) -> EmailConfig:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    login = {
        key: None if value is None else str(value)
        for key, value in (
            ("username", overrides.pop("username", "heard")),
            ("password", overrides.pop("password", "s3cret")),
        )
    }
    settings = EmailSettings.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "starttls",
            "from_address": "support@example.com",
            "from_name": "Example Support",
            "reply_to": "support+{ticket_id}@example.com",
            "message_id_domain": "heard.example.com",
            "pool_size": 2,
            "timeout_seconds": 60,
            **overrides,
        }
    )
    return EmailConfig(settings, tls_context=context, **login)


@pytest.fixture
async def email(
    smtp_server: tuple[Controller, ScriptedHandler], ca: trustme.CA
) -> AsyncIterator[SmtpEmailChannel]:
    channel = SmtpEmailChannel(client_config(smtp_server[0].port, ca))
    yield channel
    await channel.aclose()


def message(to: str = "zoe@example.net", **overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "notification_id": "4d192abf-aa6e-557c-b719-4c88676a9a46",
        "ticket_id": "T-1001",
        "to": to,
        "subject": "We have your message",
        "text": "Hi Zoë,\n\nThank you.\n",
        "html": "<p>Hi Zoë,</p>",
        "display_name": "Zoë Brontë",
    }
    values.update(overrides)
    return OutboundMessage(**values)  # type: ignore[arg-type]


class TestEmailConformance(ChannelConformance):
    @pytest.fixture
    def channel(self, email: SmtpEmailChannel) -> SmtpEmailChannel:
        return email

    @pytest.fixture
    async def unreachable(self, ca: trustme.CA) -> AsyncIterator[SmtpEmailChannel]:
        channel = SmtpEmailChannel(client_config(free_port(), ca, security="none", username=None))
        yield channel
        await channel.aclose()

    @pytest.fixture
    def deliverable(self) -> OutboundMessage:
        return message()

    @pytest.fixture
    def refused(self) -> OutboundMessage:
        return message(to="nosuchuser@example.net")


async def test_starttls_auth_send_is_received_well_formed_and_threaded(
    email: SmtpEmailChannel, smtp_server: tuple[Controller, ScriptedHandler]
) -> None:
    handler = smtp_server[1]
    before = len(handler.received)
    receipt = await email.send(message())
    await email.send(message(notification_id="second-id"))
    assert receipt.provider_id == "<4d192abf-aa6e-557c-b719-4c88676a9a46.VC0xMDAx@heard.example.com>"
    first, second = (BytesParser(policy=policy.default).parsebytes(raw) for raw in handler.received[before:])
    assert not first.defects
    assert str(first["To"]) == "Zoë Brontë <zoe@example.net>"
    assert first["References"] == second["References"] == "<ticket-T-1001@heard.example.com>"
    assert first["Reply-To"] == "support+T-1001@example.com"
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]
    # RFC 2047: the non-ASCII display name is encoded on the wire.
    assert b"=?utf-8?" in handler.received[before].split(b"\r\n\r\n")[0]


async def test_plain_text_only_has_no_html_part(
    email: SmtpEmailChannel, smtp_server: tuple[Controller, ScriptedHandler]
) -> None:
    await email.send(message(html=None))
    parsed = BytesParser(policy=policy.default).parsebytes(smtp_server[1].received[-1])
    assert parsed.get_content_type() == "text/plain"


async def test_header_injection_through_customer_fields_is_impossible(
    email: SmtpEmailChannel, smtp_server: tuple[Controller, ScriptedHandler]
) -> None:
    await email.send(
        message(subject="Help\r\nBcc: victim@example.org", display_name="Eve\r\nBcc: victim@example.org")
    )
    raw = smtp_server[1].received[-1]
    headers = raw.split(b"\r\n\r\n")[0]
    assert b"\r\nBcc:" not in headers
    with pytest.raises(PermanentDeliveryError):
        await email.send(message(to="a@example.net\r\nBcc: victim@example.org"))


@pytest.mark.parametrize(
    ("to", "error", "code"),
    [
        ("tempfail@example.net", RetryableDeliveryError, "451"),
        ("shutdown@example.net", RetryableDeliveryError, "421"),
        ("nosuchuser@example.net", PermanentDeliveryError, "550"),
    ],
)
async def test_scripted_answers_map_to_the_error_tree(
    email: SmtpEmailChannel, to: str, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as caught:
        await email.send(message(to=to))
    assert caught.value.code == code  # type: ignore[attr-defined]
    # The pool recovers: the next message goes through.
    await email.send(message())


async def test_wrong_password_is_permanent(
    smtp_server: tuple[Controller, ScriptedHandler], ca: trustme.CA
) -> None:
    channel = SmtpEmailChannel(client_config(smtp_server[0].port, ca, password="wrong"))
    with pytest.raises(PermanentDeliveryError) as caught:
        await channel.send(message())
    assert caught.value.code == "535"
    await channel.aclose()


async def test_a_server_that_vanishes_mid_session_is_retryable(ca: trustme.CA) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 127.0.0.1 ESMTP\r\n")
        await writer.drain()
        await reader.readline()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(hang_up, "127.0.0.1", port)
    channel = SmtpEmailChannel(client_config(port, ca, security="none", username=None))
    try:
        with pytest.raises(RetryableDeliveryError):
            await channel.send(message())
    finally:
        await channel.aclose()
        server.close()
        await server.wait_closed()
