"""Mail providers' bounces, complaints and unsubscribes: each provider's own signature scheme
and documented event shapes, the public route through HTTP requests (aiohttp's test server,
no Kafka), and the worker's agent acting on what the route wrote."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from heard.channels.email_events import PROVIDERS
from heard.channels.email_events.base import MailEvent
from heard.channels.email_smtp import EmailSettings, sent_ids
from heard.streams.base.settings import ConfigError
from heard.streams.contract.stories import T0
from heard.streams.delivery.config import ChannelSettings
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate
from heard.streams.delivery.wiring import mail_event_keys
from heard.streams.worker.delivery_agent import withdrawn_reason
from heard.streams.worker.mail_events import MailEventsAgent
from heard.streams.worker.mail_webhooks import MailEventRoutes, add_routes
from heard.streams.worker.sink import DeadLetters
from tests.unit.test_worker_agents import TOPICS, Deliveries, consumed, customer_message, values

DOMAIN = "heard.example.com"
EMAIL = EmailSettings(message_id_domain=DOMAIN)

# SendGrid's own test vector (sendgrid-python, test/unit/test_eventwebhook.py, MIT licence):
# a body, its timestamp and signature, and the public key that verifies them.
SG_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SG_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
)
SG_TIMESTAMP = "1600112502"
SG_BODY = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def sg_headers(signature: str = SG_SIGNATURE, timestamp: str = SG_TIMESTAMP) -> dict[str, str]:
    return {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def heard_message_id(notification: str, ticket: str) -> str:
    """The Message-ID heard gives an email, built here from its documented form."""
    encoded = base64.urlsafe_b64encode(ticket.encode()).decode().rstrip("=")
    return f"<{notification}.{encoded}@{DOMAIN}>"


# --------------------------------------------------------------------- SendGrid
def test_sendgrids_own_signed_example_is_authentic_and_any_change_is_not() -> None:
    sendgrid = PROVIDERS["sendgrid"]
    assert sendgrid.authentic(SG_KEY, SG_BODY, sg_headers())
    assert not sendgrid.authentic(SG_KEY, SG_BODY.replace(b"hello@", b"hellO@"), sg_headers())
    assert not sendgrid.authentic(SG_KEY, SG_BODY, sg_headers(timestamp="1600112503"))
    assert not sendgrid.authentic(SG_KEY, SG_BODY, {})
    assert not sendgrid.authentic(SG_KEY, SG_BODY, sg_headers(signature="not base64!"))
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_key = base64.b64encode(
        other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    assert not sendgrid.authentic(other_key, SG_BODY, sg_headers())
    assert sendgrid.key_problem(SG_KEY) is None and sendgrid.key_problem(other_key) is None
    assert sendgrid.key_problem("change-me") is not None


class SendGridSigner:
    """Signs as SendGrid does: ECDSA P-256 over the timestamp followed by the raw body."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        public = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key = base64.b64encode(public).decode()

    def headers(self, body: bytes, timestamp: str = "1765100000") -> dict[str, str]:
        signature = self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return sg_headers(base64.b64encode(signature).decode(), timestamp)


def sendgrid_event(event: str, message_id: str, **more: Any) -> dict[str, Any]:
    """An event as the Event Webhook Reference shows it."""
    return {
        "email": "amara@example.net",
        "timestamp": 1765100000,
        "smtp-id": message_id,
        "event": event,
        "category": ["heard"],
        "sg_event_id": f"sg-{event}-{more.get('type', '')}-{message_id[1:9]}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **more,
    }


def test_sendgrid_events_are_read_as_the_reference_describes_them() -> None:
    mid = heard_message_id("n-1", "T-1")
    body = json.dumps(
        [
            sendgrid_event("processed", mid),
            sendgrid_event("delivered", mid, response="250 OK"),
            sendgrid_event(
                "bounce",
                mid,
                type="bounce",
                status="5.1.1",
                reason="550 5.1.1 The email account that you tried to reach does not exist.",
                bounce_classification="Invalid Address",
            ),
            sendgrid_event("bounce", mid, type="blocked", status="4.0.0", reason="421 try again later"),
            sendgrid_event("deferred", mid, response="400 try again later", attempt="5"),
            sendgrid_event("dropped", mid, reason="Spam Reporting Address"),
            sendgrid_event("dropped", mid, reason="Spam Content (if spam checker app is enabled)"),
            sendgrid_event("spamreport", mid),
            sendgrid_event("group_unsubscribe", mid, asm_group_id=10),
            sendgrid_event("open", mid, useragent="Mozilla/4.0", ip="255.255.255.255"),
        ]
    ).encode()
    events = PROVIDERS["sendgrid"].parse(body)
    assert [e.kind for e in events] == [
        "hard_bounce",
        "soft_bounce",
        "soft_bounce",
        "complaint",
        "complaint",
        "unsubscribe",
    ]
    hard = events[0]
    assert hard.detail == "5.1.1 550 5.1.1 The email account that you tried to reach does not exist."
    assert hard.message_id == mid.strip("<>") and hard.address == "amara@example.net"
    assert hard.at == datetime(2025, 12, 7, 9, 33, 20, tzinfo=UTC)
    assert all(e.provider == "sendgrid" for e in events)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{}", "SendGrid posts a JSON array of events"),
        (b"[1]", "event 0: not an object"),
        (b'[{"event": "bounce", "sg_event_id": "x", "timestamp": 1}]', "event 0: no email address"),
        (b'[{"event": "spamreport", "email": "a@b.c", "timestamp": 1}]', "event 0: no sg_event_id"),
        (b'[{"event": "spamreport", "email": "a@b.c", "sg_event_id": "x"}]', "event 0: no timestamp"),
        (b"not json", "not JSON"),
    ],
)
def test_a_sendgrid_body_outside_the_reference_is_refused_with_its_reason(body: bytes, problem: str) -> None:
    from heard.channels.email_events.base import BadMailEvents

    with pytest.raises(BadMailEvents, match=problem):
        PROVIDERS["sendgrid"].parse(body)


# --------------------------------------------------------------------- Mailgun
def mailgun_signed(event_data: dict[str, Any], key: str = MAILGUN_KEY, token: str = "t" * 50) -> bytes:
    """A webhook body signed as Mailgun documents: hex HMAC-SHA256 of timestamp + token."""
    timestamp = "1765100000"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": event_data,
        }
    ).encode()


def mailgun_failure(message_id: str, severity: str = "permanent", **more: Any) -> dict[str, Any]:
    """A `failed` event as Mailgun's events reference shows it."""
    return {
        "event": "failed",
        "id": f"mg-{severity}-{message_id[:8]}",
        "timestamp": 1765100000.389832,
        "log-level": "error",
        "severity": severity,
        "reason": "bounce",
        "recipient": "amara@example.net",
        "message": {"headers": {"to": "amara@example.net", "message-id": message_id, "from": "Support"}},
        "delivery-status": {
            "attempt-no": 1,
            "code": 550,
            "message": "5.1.1 The email account that you tried to reach does not exist.",
            "description": "",
            "session-seconds": 2.95,
        },
        **more,
    }


def test_mailgun_bodies_signed_with_the_key_are_authentic_and_forgeries_are_not() -> None:
    mailgun = PROVIDERS["mailgun"]
    body = mailgun_signed(mailgun_failure("n-1.VC0x@heard.example.com"))
    assert mailgun.authentic(MAILGUN_KEY, body, {})
    assert not mailgun.authentic("key-" + "0" * 32, body, {})
    forged = json.loads(body)
    forged["signature"]["token"] = "u" * 50  # a captured signature on another token
    assert not mailgun.authentic(MAILGUN_KEY, json.dumps(forged).encode(), {})
    assert not mailgun.authentic(MAILGUN_KEY, b'{"event-data": {}}', {})
    assert not mailgun.authentic(MAILGUN_KEY, b"[]", {})
    assert mailgun.key_problem(MAILGUN_KEY) is None and mailgun.key_problem("short") is not None


def test_mailgun_events_are_read_by_severity_not_by_name() -> None:
    mailgun = PROVIDERS["mailgun"]
    [hard] = mailgun.parse(mailgun_signed(mailgun_failure("n-1.VC0x@heard.example.com")))
    assert (hard.kind, hard.message_id) == ("hard_bounce", "n-1.VC0x@heard.example.com")
    assert hard.detail == "550 5.1.1 The email account that you tried to reach does not exist."
    [soft] = mailgun.parse(mailgun_signed(mailgun_failure("n-1.VC0x@heard.example.com", "temporary")))
    assert soft.kind == "soft_bounce"
    complained = {k: v for k, v in mailgun_failure("n-2.VC0x@heard.example.com").items() if k != "severity"}
    [complaint] = mailgun.parse(mailgun_signed({**complained, "event": "complained"}))
    assert complaint.kind == "complaint"
    delivered = mailgun.parse(mailgun_signed({**complained, "event": "delivered"}))
    assert delivered == []


# ----------------------------------------------------------- heard's Message-ID
def test_a_message_id_heard_made_names_its_notification_and_ticket_and_no_other_does() -> None:
    for ticket in ("T-1", "ZD-2026-0004815162", "acme/app#42", "Ünïcode 7"):
        assert sent_ids(EMAIL, heard_message_id("5f0c1e2a", ticket).strip("<>")) == ("5f0c1e2a", ticket)
    assert sent_ids(EMAIL, "5f0c1e2a.VC0x@other.example.com") is None
    assert sent_ids(EMAIL, "5f0c1e2a@heard.example.com") is None  # another system's shape
    assert sent_ids(EMAIL, "LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net") is None
    assert sent_ids(EMAIL, "n.%%%@heard.example.com") is None


# ------------------------------------------------------------------- the route
@dataclass
class Published:
    consent: list[ConsentUpdate] = field(default_factory=list)
    events: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Route:
    keys: dict[str, str]
    soft_limit: int = 3
    published: Published = field(default_factory=Published)
    ledger: ConsentLedger = field(default_factory=ConsentLedger)

    def routes(self) -> MailEventRoutes:
        async def consent(key: bytes, value: bytes) -> None:
            update = ConsentUpdate.from_json(value)
            assert key == update.key.encode()
            self.published.consent.append(update)

        async def event(key: bytes, value: bytes) -> None:
            self.published.events.append((key, json.loads(value)))

        settings = EmailSettings(
            message_id_domain=DOMAIN, events={"soft_bounces_before_hard": self.soft_limit}
        )
        return MailEventRoutes(
            keys=self.keys,
            email=settings,
            ledger=self.ledger,
            publish_consent=consent,
            publish_event=event,
            clock=lambda: T0,
        )


@pytest.fixture
async def signer() -> AsyncIterator[SendGridSigner]:
    yield SendGridSigner()


async def client_for(route: Route) -> TestClient:
    app = web.Application()
    add_routes(app, route.routes())
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_a_signed_hard_bounce_refuses_the_address_and_is_written_by_its_ticket(
    signer: SendGridSigner,
) -> None:
    route = Route({"sendgrid": signer.key})
    mid = heard_message_id("n-ack", "T-42")
    body = json.dumps(
        [sendgrid_event("bounce", mid, type="bounce", status="5.1.1", reason="550 5.1.1 no such user")]
    ).encode()
    client = await client_for(route)
    try:
        response = await client.post("/email/events/sendgrid", data=body, headers=signer.headers(body))
        assert response.status == 200
        [update] = route.published.consent
        assert (update.channel, update.address, update.allowed) == ("email", "amara@example.net", False)
        assert update.source == "mail-hard_bounce:sendgrid:5.1.1 550 5.1.1 no such user"
        assert route.ledger.refusal("email", "amara@example.net") == update
        [(key, event)] = route.published.events
        assert key == b"T-42"
        assert {k: event[k] for k in ("kind", "notification_id", "ticket_id", "refused")} == {
            "kind": "hard_bounce",
            "notification_id": "n-ack",
            "ticket_id": "T-42",
            "refused": True,
        }
        assert "amara" not in json.dumps(event), "no address on the mail-events topic"
        # SendGrid retrying the same post: answered, nothing changes.
        again = await client.post("/email/events/sendgrid", data=body, headers=signer.headers(body))
        assert again.status == 200
        assert len(route.published.consent) == 1 and len(route.published.events) == 1
    finally:
        await client.close()


async def test_a_forged_unconfigured_or_malformed_post_changes_nothing(signer: SendGridSigner) -> None:
    route = Route({"sendgrid": signer.key})
    mid = heard_message_id("n-ack", "T-42")
    body = json.dumps([sendgrid_event("spamreport", mid)]).encode()
    forger = SendGridSigner()
    client = await client_for(route)
    try:
        forged = await client.post("/email/events/sendgrid", data=body, headers=forger.headers(body))
        assert forged.status == 401
        unsigned = await client.post("/email/events/sendgrid", data=body)
        assert unsigned.status == 401
        mailgun = await client.post("/email/events/mailgun", data=mailgun_signed(mailgun_failure(mid[1:-1])))
        assert mailgun.status == 403, "a provider without a key is refused"
        unknown = await client.post("/email/events/postfix", data=body)
        assert unknown.status == 404
        bad = b'{"not": "a list"}'
        malformed = await client.post("/email/events/sendgrid", data=bad, headers=signer.headers(bad))
        assert (malformed.status, await malformed.text()) == (400, "SendGrid posts a JSON array of events")
        assert route.published == Published() and len(route.ledger) == 0
    finally:
        await client.close()


async def test_another_systems_email_through_the_same_account_changes_no_consent(
    signer: SendGridSigner,
) -> None:
    route = Route({"sendgrid": signer.key})
    body = json.dumps([sendgrid_event("spamreport", "<newsletter-7@marketing.example.com>")]).encode()
    client = await client_for(route)
    try:
        response = await client.post("/email/events/sendgrid", data=body, headers=signer.headers(body))
        assert response.status == 200
        assert route.published == Published() and len(route.ledger) == 0
    finally:
        await client.close()


async def test_soft_bounces_of_different_emails_refuse_the_address_at_the_limit() -> None:
    route = Route({"mailgun": MAILGUN_KEY}, soft_limit=2)
    first, second = (heard_message_id(n, "T-9")[1:-1] for n in ("n-1", "n-2"))
    client = await client_for(route)

    async def soft(message_id: str, event_id: str) -> None:
        body = mailgun_signed({**mailgun_failure(message_id, "temporary"), "id": event_id})
        response = await client.post("/email/events/mailgun", data=body)
        assert response.status == 200

    try:
        await soft(first, "ev-1")
        await soft(first, "ev-2")  # Mailgun's next attempt at the same email: counted once
        assert [(u.allowed, u.strikes) for u in route.published.consent] == [(True, 1)]
        await soft(second, "ev-3")
        assert [(u.allowed, u.strikes) for u in route.published.consent] == [(True, 1), (False, 2)]
        assert [e["refused"] for _, e in route.published.events] == [False, True]
        await soft(heard_message_id("n-3", "T-9")[1:-1], "ev-4")  # already refused: nothing more
        assert len(route.published.consent) == 2
    finally:
        await client.close()


# -------------------------------------------------------------- start-up keys
def test_a_key_the_provider_cannot_have_issued_stops_start_up_naming_the_setting() -> None:
    channels = ChannelSettings()
    assert mail_event_keys(channels, {}) == {}
    assert mail_event_keys(channels, {"HEARD_SENDGRID_VERIFICATION_KEY": SG_KEY}) == {"sendgrid": SG_KEY}
    with pytest.raises(ConfigError, match=r"email\.events\.mailgun_key_env: HEARD_MAILGUN_SIGNING_KEY has 6"):
        mail_event_keys(channels, {"HEARD_MAILGUN_SIGNING_KEY": "secret"})
    with pytest.raises(ConfigError, match="sendgrid_key_env: HEARD_SENDGRID_VERIFICATION_KEY does not hold"):
        mail_event_keys(channels, {"HEARD_SENDGRID_VERIFICATION_KEY": "change-me"})


# ------------------------------------------------------------------- the agent
@dataclass
class Bounces:
    deliveries: Deliveries = field(default_factory=lambda: Deliveries())

    def __post_init__(self) -> None:
        self.deliveries.agent.keep_sent_emails = True
        d = self.deliveries
        self.agent = MailEventsAgent(
            receipts=d.receipts,
            delivery=d.agent.delivery,
            topics=TOPICS,
            team=d.team,
            sink=d.sink,
            dead_letters=DeadLetters(d.sink, TOPICS.dead_letters, d.clock),
            clock=d.clock,
        )

    async def tell(
        self, ticket: str, notification: str, kind: str = "hard_bounce", refused: bool = True
    ) -> None:
        record = {
            "provider": "sendgrid",
            "kind": kind,
            "event_id": "sg-1",
            "notification_id": notification,
            "ticket_id": ticket,
            "detail": "550 5.1.1 no such user",
            "refused": refused,
            "strikes": 0,
            "at": (T0 + timedelta(minutes=3)).isoformat(),
        }
        await self.agent(consumed(TOPICS.mail_events, ticket, json.dumps(record).encode()))


async def test_a_bounced_email_goes_by_sms_and_the_team_and_owner_are_told_once() -> None:
    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    bounces = Bounces()
    d = bounces.deliveries
    note = customer_message(phone="+14155550123", consent={"email": True, "sms": True})
    note = note.model_copy(update={"owner_email": "aisha@example.com"})
    await d.deliver(note)
    sent_before = len(d.sink.on(TOPICS.outbound))
    d.clock.at = T0 + timedelta(minutes=4)
    await bounces.tell("T-1", note.notification_id)
    after = d.outbound()[sent_before:]
    assert [(n.channel, n.kind, n.recipient) for n in after] == [
        ("sms", "acknowledgment", "+14155550123"),
        ("email", "customer_unreachable", "team@example.com"),
        ("email", "customer_unreachable", "lead@example.com"),
        ("email", "customer_unreachable", "aisha@example.com"),
    ]
    bounced = [v for v in values(d.sink, TOPICS.notification_events) if v["status"] == "bounced"]
    assert [(v["notification_id"], v["channel"]) for v in bounced] == [(note.notification_id, "email")]
    assert bounced[0]["reason"].startswith("their email address bounced on 20 Nov 2026, 10:03 UTC")
    notice = after[-1]
    rendered = Renderer(REPO / "templates").render(notice.kind, "email", "en", "UTC", notice.context)
    assert rendered.subject == "[T-1] Amara's email bounced: our acknowledgment went by SMS"
    assert "It went to her by SMS instead" in rendered.text
    assert "550 5.1.1 no such user" in rendered.text and "What it said:" in rendered.text


async def test_a_soft_bounce_below_the_limit_is_shown_and_sends_nothing() -> None:
    bounces = Bounces()
    d = bounces.deliveries
    note = customer_message(phone="+14155550123", consent={"email": True, "sms": True})
    await d.deliver(note)
    sent_before = len(d.sink.on(TOPICS.outbound))
    await bounces.tell("T-1", note.notification_id, kind="soft_bounce", refused=False)
    assert len(d.sink.on(TOPICS.outbound)) == sent_before
    assert [v["status"] for v in values(d.sink, TOPICS.notification_events)] == ["sent", "soft-bounced"]


async def test_a_bounce_for_an_email_long_gone_tells_the_team_but_resends_nothing() -> None:
    bounces = Bounces()
    d = bounces.deliveries
    note = customer_message(phone="+14155550123", consent={"email": True, "sms": True})
    await d.deliver(note)
    d.clock.at = T0 + timedelta(days=3)
    await bounces.tell("T-1", note.notification_id)
    told = d.outbound()
    assert [n.kind for n in told] == ["customer_unreachable", "customer_unreachable"]
    assert told[0].context["undelivered"]["instead"] is None


async def test_without_bounce_handling_no_copy_of_the_email_is_kept() -> None:
    d = Deliveries()
    note = customer_message()
    await d.deliver(note)
    assert "notification" not in json.loads(d.receipts[note.notification_id])


async def test_a_later_message_to_a_bounced_address_goes_by_sms_with_the_bounce_as_reason() -> None:
    d = Deliveries()
    source = "mail-hard_bounce:sendgrid:5.1.1 550 5.1.1 no such user"
    d.ledger.apply(ConsentUpdate("email", "amara@example.net", False, T0, source))
    await d.deliver(customer_message(phone="+14155550123", consent={"email": True, "sms": True}))
    assert [(n.channel, n.kind) for n in d.outbound()] == [("sms", "acknowledgment")]
    [event] = values(d.sink, TOPICS.notification_events)
    assert event["reason"] == (
        "their email address bounced on 20 Nov 2026, 10:00 UTC; it cannot receive mail: "
        "5.1.1 550 5.1.1 no such user"
    )
    assert withdrawn_reason("email", T0, "mail-complaint:mailgun:") == (
        "they marked our email as spam on 20 Nov 2026, 10:00 UTC"
    )


async def test_a_record_that_is_no_mail_event_is_a_dead_letter() -> None:
    bounces = Bounces()
    await bounces.agent(consumed(TOPICS.mail_events, "T-1", b'{"kind": "hard_bounce"}'))
    [letter] = bounces.deliveries.sink.on(TOPICS.dead_letters)
    assert (letter.headers or {})["heard-reason"].decode().startswith("not a mail event:")
    assert (letter.headers or {})["heard-stage"] == b"mail-events"  # where an operator finds it


def test_a_mail_event_names_the_provider_and_kind_it_came_from() -> None:
    event = MailEvent("mailgun", "complaint", "a@b.c", "id", T0, "", None)
    assert event.refuses and not MailEvent("mailgun", "soft_bounce", "a@b.c", "id", T0, "", None).refuses


# ------------------------------------------------ what the operator sees of the route
def counted(provider: str, result: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"provider": provider, "result": result}
    return REGISTRY.get_sample_value("heard_mail_events_total", labels) or 0.0


async def test_every_answer_says_why_and_every_outcome_is_counted(
    signer: SendGridSigner, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.WARNING, logger="heard.web")
    route = Route({"sendgrid": signer.key})
    mid = heard_message_id("n-7", "T-7")
    hard = json.dumps([sendgrid_event("bounce", mid, type="bounce", reason="550 no such user")]).encode()
    foreign = json.dumps([sendgrid_event("spamreport", "<news-1@marketing.example.com>")]).encode()
    bad = b"{}"
    expected = {
        ("sendgrid", "hard_bounce"): 1,
        ("sendgrid", "replayed"): 1,
        ("sendgrid", "not_ours"): 1,
        ("sendgrid", "bad_signature"): 1,
        ("sendgrid", "bad_request"): 1,
        ("mailgun", "not_configured"): 1,
    }
    before = {key: counted(*key) for key in expected}
    client = await client_for(route)
    try:
        answers = [
            (r.status, await r.text())
            for r in [
                await client.post("/email/events/sendgrid", data=hard, headers=signer.headers(hard)),
                await client.post("/email/events/sendgrid", data=hard, headers=signer.headers(hard)),
                await client.post("/email/events/sendgrid", data=foreign, headers=signer.headers(foreign)),
                await client.post(
                    "/email/events/sendgrid", data=hard, headers=SendGridSigner().headers(hard)
                ),
                await client.post("/email/events/sendgrid", data=bad, headers=signer.headers(bad)),
                await client.post("/email/events/mailgun", data=b"{}"),
                await client.post("/email/events/postmark", data=b"{}"),
            ]
        ]
    finally:
        await client.close()
    assert answers == [
        (200, "ok"),
        (200, "ok"),
        (200, "ok"),
        (401, "invalid sendgrid signature"),
        (400, "SendGrid posts a JSON array of events"),
        (403, "mailgun's webhook key is not configured; events are refused"),
        (404, "no mail provider 'postmark'; known: sendgrid, mailgun"),
    ]
    assert {key: counted(*key) - before[key] for key in expected} == expected
    assert "email events: rejected a sendgrid request without a valid signature" in caplog.text


async def test_a_provider_trickling_its_body_is_answered_408_and_counted(
    signer: SendGridSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from heard.streams.worker import mail_webhooks

    monkeypatch.setattr(mail_webhooks, "BODY_TIMEOUT_SECONDS", 0.2)
    route = Route({"sendgrid": signer.key})
    before = counted("sendgrid", "slow_body")
    client = await client_for(route)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(
            b"POST /email/events/sendgrid HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 30)
        writer.close()
    finally:
        await client.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert answer.split(b"\r\n\r\n", 1)[1] == b"the body did not arrive in time"
    assert route.published == Published() and counted("sendgrid", "slow_body") == before + 1


def test_sendgrids_drops_for_an_address_are_read_by_their_reason() -> None:
    mid = heard_message_id("n-1", "T-1")
    reasons = ["Bounced Address", "Invalid", "Spam Reporting Address", "Unsubscribed Address"]
    body = json.dumps([sendgrid_event("dropped", mid, reason=r, sg_event_id=f"d-{r}") for r in reasons])
    assert [e.kind for e in PROVIDERS["sendgrid"].parse(body.encode())] == [
        "hard_bounce",
        "hard_bounce",
        "complaint",
        "unsubscribe",
    ]
    [known] = PROVIDERS["sendgrid"].parse(SG_BODY)  # SendGrid's own signed example
    assert (known.kind, known.detail) == ("hard_bounce", "Bounced Address")


def test_an_event_with_an_empty_id_is_refused() -> None:
    from heard.channels.email_events.base import BadMailEvents

    body = json.dumps([sendgrid_event("spamreport", "<a@b>", sg_event_id="")]).encode()
    with pytest.raises(BadMailEvents, match="no sg_event_id"):
        PROVIDERS["sendgrid"].parse(body)


def test_a_verification_key_that_is_not_an_elliptic_curve_one_is_named() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    rsa_key = base64.b64encode(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    assert PROVIDERS["sendgrid"].key_problem(rsa_key) == (
        "holds a public key that is not an elliptic-curve one (SendGrid's is P-256)"
    )
    assert not PROVIDERS["sendgrid"].authentic(rsa_key, SG_BODY, sg_headers())
    # A signature without its timestamp (or the other way round) is no signature.
    assert not PROVIDERS["sendgrid"].authentic(
        SG_KEY, SG_BODY, {k: v for k, v in sg_headers().items() if "Sig" in k}
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[]", "no event-data object"),
        (b'{"event-data": 3}', "no event-data object"),
        (b'{"event-data": {"event": "failed", "id": "x", "timestamp": 1}}', "event-data: no recipient"),
        (
            b'{"event-data": {"event": "failed", "recipient": "nobody", "id": "x", "timestamp": 1}}',
            "no recipient",
        ),
        (
            b'{"event-data": {"event": "complained", "recipient": "a@b.c", "timestamp": 1}}',
            "event-data: no id",
        ),
        (b'{"event-data": {"event": "complained", "recipient": "a@b.c", "id": "", "timestamp": 1}}', "no id"),
        (
            b'{"event-data": {"event": "complained", "recipient": "a@b.c", "id": "x"}}',
            "event-data: no timestamp",
        ),
        (
            b'{"event-data": {"event": "complained", "recipient": "a@b.c", "id": "x", "timestamp": true}}',
            "timestamp",
        ),
        (b"{not json", "not JSON"),
    ],
)
def test_a_mailgun_body_outside_its_documented_shape_is_refused_with_its_reason(
    body: bytes, problem: str
) -> None:
    from heard.channels.email_events.base import BadMailEvents

    with pytest.raises(BadMailEvents, match=problem):
        PROVIDERS["mailgun"].parse(body)


def test_mailgun_unsubscribes_and_details_read_from_what_the_event_has() -> None:
    mailgun = PROVIDERS["mailgun"]
    base = {
        "recipient": "a@b.c",
        "id": "x",
        "timestamp": 1765100000,
        "message": {"headers": {"message-id": "m@d"}},
    }
    [unsubscribed] = mailgun.parse(mailgun_signed({**base, "event": "unsubscribed"}))
    assert (unsubscribed.kind, unsubscribed.detail) == ("unsubscribe", "unsubscribed")
    [reasoned] = mailgun.parse(mailgun_signed({**base, "event": "failed", "reason": "suppress-bounce"}))
    assert reasoned.detail == "suppress-bounce"
    described = {"code": 605, "description": "Not delivering to previously bounced address"}
    [coded] = mailgun.parse(mailgun_signed({**base, "event": "failed", "delivery-status": described}))
    assert coded.detail == "605 Not delivering to previously bounced address"
    [bare] = mailgun.parse(
        mailgun_signed({**base, "event": "failed", "reason": "generic", "delivery-status": {}})
    )
    assert bare.detail == "generic"
    assert mailgun.key_problem("k" * 24) is None
    assert mailgun.key_problem("k" * 23) == "has 23 characters; Mailgun's signing key has more than 24"
    unsigned = json.dumps({"signature": {"timestamp": "1", "token": "", "signature": "ab"}, "event-data": {}})
    assert not mailgun.authentic(MAILGUN_KEY, unsigned.encode(), {})
    with_number = json.dumps(
        {"signature": {"timestamp": 1, "token": "t", "signature": "ab"}, "event-data": {}}
    )
    assert not mailgun.authentic(MAILGUN_KEY, with_number.encode(), {})


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("complaint", "complained", "they marked our email as spam on 20 Nov 2026, 10:03 UTC"),
        ("unsubscribe", "unsubscribed", "they unsubscribed from our emails on 20 Nov 2026, 10:03 UTC"),
        (
            "soft_bounce",
            "soft-bounced",
            "our email could not be delivered for now on 20 Nov 2026, 10:03 UTC (2 such email(s) in a row): "
            "550 5.1.1 no such user",
        ),
    ],
)
async def test_each_kind_of_mail_event_is_shown_in_its_own_words(kind: str, status: str, reason: str) -> None:
    bounces = Bounces()
    record = {
        "provider": "mailgun",
        "kind": kind,
        "event_id": "mg-7",
        "notification_id": "n-1",
        "ticket_id": "T-1",
        "detail": "550 5.1.1 no such user",
        "refused": False,
        "strikes": 2,
        "at": (T0 + timedelta(minutes=3)).isoformat(),
    }
    await bounces.agent(consumed(TOPICS.mail_events, "T-1", json.dumps(record).encode()))
    [shown] = values(bounces.deliveries.sink, TOPICS.notification_events)
    assert (shown["status"], shown["reason"], shown["provider_id"]) == (status, reason, "mg-7")


async def test_a_bounce_exactly_a_day_after_its_email_still_sends_it_by_sms() -> None:
    bounces = Bounces()
    d = bounces.deliveries
    note = customer_message(phone="+14155550123", consent={"email": True, "sms": True})
    await d.deliver(note)
    d.clock.at = note.decided_at + timedelta(hours=24)
    await bounces.tell("T-1", note.notification_id)
    assert [n.channel for n in d.outbound() if n.kind == "acknowledgment"] == ["sms"]


async def test_a_bounce_for_an_email_of_which_no_copy_is_kept_tells_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="heard.worker")
    bounces = Bounces()
    await bounces.tell("T-1", "n-unknown")
    assert bounces.deliveries.outbound() == []
    assert "mail event for n-unknown: no copy of the email is kept; nobody to tell" in caplog.text
    bounces.deliveries.receipts["n-old"] = json.dumps({"provider_id": "x"})  # kept before bounces were on
    bounces.deliveries.receipts["n-bad"] = "{not json"
    await bounces.tell("T-1", "n-old")
    await bounces.tell("T-1", "n-bad")
    assert bounces.deliveries.outbound() == []
