"""Twilio's two routes on the worker's public listener, through HTTP requests (aiohttp's test
server, no Kafka): what each answers, what it publishes, what it refuses and counts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from twilio.request_validator import RequestValidator

from heard.channels.twilio_webhooks import EMPTY_TWIML
from heard.streams.contract.stories import T0
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate
from heard.streams.worker.web import TwilioRoutes, public_app

PUBLIC = "https://heard.example.test"
TOKEN = "route-test-token"
NUMBER = "+48512345678"
SID = "SM9923dbfca747779f48461902184c2b9f"


@dataclass
class Published:
    status: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)
    consent: list[ConsentUpdate] = field(default_factory=list)
    inbound: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)

    def nothing(self) -> bool:
        return not (self.status or self.consent or self.inbound)


def routes_for(published: Published, public: str | None = PUBLIC) -> TwilioRoutes:
    async def status(key: bytes, value: bytes) -> None:
        published.status.append((key, json.loads(value)))

    async def consent(key: bytes, value: bytes) -> None:
        published.consent.append(ConsentUpdate.from_json(value))

    async def inbound(key: bytes, value: bytes) -> None:
        published.inbound.append((key, json.loads(value)))

    return TwilioRoutes(
        public_base_url=public,
        auth_token=TOKEN,
        ledger=ConsentLedger(),
        publish_status=status,
        publish_consent=consent,
        publish_inbound=inbound,
        clock=lambda: T0,
    )


@pytest.fixture
async def published() -> AsyncIterator[Published]:
    yield Published()


async def client_for(routes: TwilioRoutes) -> TestClient:
    client = TestClient(TestServer(public_app(routes)))
    await client.start_server()
    return client


def counted(route: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value("heard_twilio_callbacks_total", {"route": route, "result": result}) or 0.0
    )


def signed(path: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(f"{PUBLIC}{path}", form)}


STATUS_FORM = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30005", "To": NUMBER}
INBOUND_FORM = {"MessageSid": SID, "From": NUMBER, "To": "+15005550006", "Body": "la 2"}
STATUS_PATH = "/twilio/status?notification_id=n-1&ticket_id=T-9"


async def test_a_signed_status_report_is_published_whole_and_answered_204(published: Published) -> None:
    client = await client_for(routes_for(published))
    before = counted("status", "accepted")
    try:
        answer = await client.post(STATUS_PATH, data=STATUS_FORM, headers=signed(STATUS_PATH, STATUS_FORM))
        assert answer.status == 204 and await answer.text() == ""
    finally:
        await client.close()
    assert published.status == [
        (
            SID.encode(),
            {
                "message_sid": SID,
                "status": "undelivered",
                "error_code": "30005",
                "to": NUMBER,
                "notification_id": "n-1",
                "ticket_id": "T-9",
                "at": T0.isoformat(),
            },
        )
    ]
    assert counted("status", "accepted") == before + 1


async def test_a_signed_text_is_published_keyed_by_the_number_and_answered_with_empty_twiml(
    published: Published,
) -> None:
    client = await client_for(routes_for(published))
    before = counted("inbound", "message")
    try:
        answer = await client.post(
            "/twilio/inbound", data=INBOUND_FORM, headers=signed("/twilio/inbound", INBOUND_FORM)
        )
        assert answer.status == 200
        assert answer.content_type == "text/xml"
        assert await answer.text() == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    finally:
        await client.close()
    assert published.inbound == [
        (
            NUMBER.encode(),
            {"message_sid": SID, "from": NUMBER, "to": "+15005550006", "body": "la 2", "at": T0.isoformat()},
        )
    ]
    assert counted("inbound", "message") == before + 1


@pytest.mark.parametrize(
    ("path", "form", "route"),
    [(STATUS_PATH, STATUS_FORM, "status"), ("/twilio/inbound", {**INBOUND_FORM, "Body": "STOP"}, "inbound")],
)
@pytest.mark.parametrize("signature", ["forged", "missing", "other token", "other url"])
async def test_a_request_not_signed_by_twilio_is_refused_403_counted_and_nothing_published(
    published: Published, path: str, form: dict[str, str], route: str, signature: str
) -> None:
    headers = {
        "forged": {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        "missing": {},
        "other token": signed(path, form, token="not-the-account-token"),
        "other url": signed("/twilio/elsewhere", form),
    }[signature]
    client = await client_for(routes_for(published))
    before = counted(route, "bad_signature")
    try:
        answer = await client.post(path, data=form, headers=headers)
        assert answer.status == 403
        assert await answer.text() == "invalid X-Twilio-Signature"
    finally:
        await client.close()
    assert published.nothing()
    assert counted(route, "bad_signature") == before + 1


async def test_without_a_public_url_every_callback_is_refused_and_counted(published: Published) -> None:
    client = await client_for(routes_for(published, public=None))
    before = counted("inbound", "not_configured")
    try:
        answer = await client.post(
            "/twilio/inbound", data=INBOUND_FORM, headers=signed("/twilio/inbound", INBOUND_FORM)
        )
        assert answer.status == 403
        assert await answer.text() == "sms.public_base_url is not configured; callbacks are refused"
    finally:
        await client.close()
    assert published.nothing() and counted("inbound", "not_configured") == before + 1


async def test_a_signed_callback_heard_cannot_read_is_a_400_that_says_why(published: Published) -> None:
    form = {**STATUS_FORM, "MessageStatus": "exploded"}
    client = await client_for(routes_for(published))
    before = counted("status", "bad_request")
    try:
        answer = await client.post(STATUS_PATH, data=form, headers=signed(STATUS_PATH, form))
        assert answer.status == 400 and await answer.text() == "unknown message status 'exploded'"
    finally:
        await client.close()
    assert published.nothing() and counted("status", "bad_request") == before + 1


async def test_stop_and_start_are_published_and_counted_by_keyword_and_a_replay_as_replayed(
    published: Published,
) -> None:
    client = await client_for(routes_for(published))
    stop = {**INBOUND_FORM, "Body": "STOP"}
    before = {result: counted("inbound", result) for result in ("stop", "start", "replayed")}
    try:
        for _ in range(2):  # Twilio's retry of the same signed request
            answer = await client.post("/twilio/inbound", data=stop, headers=signed("/twilio/inbound", stop))
            assert answer.status == 200 and await answer.text() == EMPTY_TWIML
    finally:
        await client.close()
    assert [(u.channel, u.address, u.allowed) for u in published.consent] == [("sms", NUMBER, False)]
    assert published.inbound == []
    assert counted("inbound", "stop") == before["stop"] + 1
    assert counted("inbound", "replayed") == before["replayed"] + 1


async def test_a_number_may_text_ten_times_at_once_then_six_a_minute(published: Published) -> None:
    routes = routes_for(published)
    assert routes.texts_limit.per_second * 60 == pytest.approx(6)
    client = await client_for(routes)
    before = counted("inbound", "rate_limited")
    try:
        for n in range(11):
            form = {**INBOUND_FORM, "MessageSid": f"SM{n:032x}", "Body": f"text {n}"}
            answer = await client.post("/twilio/inbound", data=form, headers=signed("/twilio/inbound", form))
            assert answer.status == 200  # Twilio is answered either way: no retry storm
    finally:
        await client.close()
    assert [body["body"] for _, body in published.inbound] == [f"text {n}" for n in range(10)]
    assert counted("inbound", "rate_limited") == before + 1


@pytest.mark.parametrize(("size", "status"), [(65536, 403), (65537, 413)])
async def test_a_body_past_64_kib_is_refused_before_it_is_read(
    published: Published, size: int, status: int
) -> None:
    """Up to the limit the body is read (and, unsigned, refused 403); one byte more is 413."""
    client = await client_for(routes_for(published))
    try:
        answer = await client.post(
            "/twilio/inbound",
            data=b"a" * size,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status == status
    finally:
        await client.close()
    assert published.nothing()


async def test_a_start_replayed_after_the_carrier_refused_the_number_changes_nothing() -> None:
    """START (texted), then Twilio's 21610 on a later message (the carrier says the number
    opted out), then the captured START posted again: the number stays opted out."""
    from heard.streams.worker.opt_outs import OptOuts
    from heard.streams.worker.sink import RecordingSink

    published = Published()
    routes = routes_for(published)
    sink = RecordingSink()
    opt_outs = OptOuts(routes.ledger, sink, "consent", lambda: T0)
    start = {**INBOUND_FORM, "Body": "START"}
    client = await client_for(routes)
    try:
        headers = signed("/twilio/inbound", start)
        assert (await client.post("/twilio/inbound", data=start, headers=headers)).status == 200
        await opt_outs.record("sms", NUMBER, "twilio-status:SM" + "b" * 32)
        assert (await client.post("/twilio/inbound", data=start, headers=headers)).status == 200
    finally:
        await client.close()
    refusal = routes.ledger.refusal("sms", NUMBER)
    assert refusal is not None and refusal.source == "twilio-status:SM" + "b" * 32
    assert [u.allowed for u in published.consent] == [True]
    [withdrawn] = [ConsentUpdate.from_json(r.value) for r in sink.on("consent")]
    assert (withdrawn.channel, withdrawn.address, withdrawn.allowed) == ("sms", NUMBER, False)
    # The withdrawal carries the START's ids: a worker restarted from the topic refuses it too.
    restored = ConsentLedger()
    restored.apply(withdrawn)
    assert restored.already_handled("sms", NUMBER, SID)


async def test_an_email_opt_out_is_recorded_for_email_only() -> None:
    from heard.streams.worker.opt_outs import OptOuts
    from heard.streams.worker.sink import RecordingSink

    ledger, sink = ConsentLedger(), RecordingSink()
    await OptOuts(ledger, sink, "consent", lambda: T0).record(
        "email", "amara@example.net", "provider-refusal:n1"
    )
    assert ledger.refusal("email", "amara@example.net") is not None
    assert ledger.refusal("sms", "amara@example.net") is None
    [record] = sink.on("consent")
    assert record.key is not None and ConsentUpdate.from_json(record.value).channel == "email"


async def test_a_sender_trickling_its_body_is_answered_408_and_counted(
    published: Published, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers promise a body that never comes: the route stops waiting (the bound is made
    short here) instead of holding the connection."""
    import asyncio

    from heard.streams.worker import web

    monkeypatch.setattr(web, "BODY_TIMEOUT_SECONDS", 0.2)
    client = await client_for(routes_for(published))
    before = counted("inbound", "slow_body")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(
            b"POST /twilio/inbound HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nBody=ST"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 30)
        writer.close()
    finally:
        await client.close()
    assert (
        answer.startswith(b"HTTP/1.1 408")
        and answer.split(b"\r\n\r\n", 1)[1] == b"the body did not arrive in time"
    )
    assert published.nothing() and counted("inbound", "slow_body") == before + 1


async def test_refusals_and_rate_limits_are_logged_for_the_operator(
    published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    routes = routes_for(published)
    client = await client_for(routes)
    try:
        await client.post("/twilio/inbound", data=INBOUND_FORM, headers={"X-Twilio-Signature": "forged"})
        for n in range(11):
            form = {**INBOUND_FORM, "MessageSid": f"SM{n:032x}"}
            await client.post("/twilio/inbound", data=form, headers=signed("/twilio/inbound", form))
    finally:
        await client.close()
    assert "inbound: rejected a request with a missing or invalid X-Twilio-Signature" in caplog.text
    assert "inbound: a number texted more often than 6 a minute; a text was not taken" in caplog.text


async def test_a_text_signed_with_hmac_sha256_as_the_settings_header_says_is_accepted(
    published: Published,
) -> None:
    """Twilio's newer signing: X-Twilio-Webhooks-Signature-Settings names HMAC_SHA256."""
    client = await client_for(routes_for(published))
    url = f"{PUBLIC}/twilio/inbound"
    signature = RequestValidator(TOKEN).compute_signature(url, INBOUND_FORM, algorithm="HMAC_SHA256")
    headers = {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    }
    try:
        answer = await client.post("/twilio/inbound", data=INBOUND_FORM, headers=headers)
        assert answer.status == 200
        without = await client.post(
            "/twilio/inbound", data=INBOUND_FORM, headers={"X-Twilio-Signature": signature}
        )
        assert without.status == 403  # the same bytes read as the legacy SHA-1 signature
    finally:
        await client.close()
    assert len(published.inbound) == 1


def test_callback_fields_heard_cannot_do_without_are_named_and_the_rest_default_to_empty() -> None:
    from heard.channels.twilio_webhooks import BadCallback, parse_inbound, parse_status

    with pytest.raises(BadCallback) as no_sid:
        parse_status({"MessageStatus": "sent"})
    assert str(no_sid.value) == "MessageSid is missing or not a Twilio message id"
    with pytest.raises(BadCallback) as no_sender:
        parse_inbound({"MessageSid": SID})
    assert str(no_sender.value) == "inbound message without From"
    bare = parse_inbound({"MessageSid": SID, "From": NUMBER})
    assert (bare.to_number, bare.body) == ("", "")
    with pytest.raises(AttributeError):
        bare.body = "changed"  # type: ignore[misc]
    report = parse_status({"MessageSid": SID, "MessageStatus": "sent"})
    assert (report.error_code, report.to) == (None, None)
    with pytest.raises(AttributeError):
        report.status = "delivered"  # type: ignore[misc]
