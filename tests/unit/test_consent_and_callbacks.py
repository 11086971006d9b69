"""The consent ledger and Twilio callback parsing, without a network."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from heard.channels.twilio_webhooks import (
    BadCallback,
    parse_inbound,
    parse_status,
    signature_valid,
)
from heard.streams.contract.stories import T0
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate, keyword_of

SID_1 = "SM9923dbfca747779f48461902184c2b9f"  # Twilio message ids: SM and 32 hex digits
SID_2 = "SMcd3d4f4f9fc6592ad019629556d32ce3"
SID_3 = "SMd36c0364e3842955b2c8f86da3bd8ad6"

NUMBER = "+48512345678"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "stop"),
        (" stop ", "stop"),
        ("Unsubscribe", "stop"),
        ("end.", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("yes", "start"),
        ("please stop texting me", None),
        ("Thanks!", None),
        ("", None),
    ],
)
def test_only_a_lone_keyword_counts(body: str, expected: str | None) -> None:
    assert keyword_of(body) == expected


# Twilio's default opt-out and opt-in keywords (Advanced Opt-Out, "Default keywords"),
# written out here rather than read from heard's tables.
TWILIO_OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"]
TWILIO_OPT_IN = ["START", "YES", "UNSTOP"]


@pytest.mark.parametrize("word", TWILIO_OPT_OUT + TWILIO_OPT_IN)
def test_every_keyword_twilio_honours_is_honoured_here(word: str) -> None:
    expected = "stop" if word in TWILIO_OPT_OUT else "start"
    assert keyword_of(word) == keyword_of(word.lower() + ".") == expected


async def test_a_consent_record_remembers_the_hundred_newest_message_ids() -> None:
    from heard.streams.delivery.consent import change_consent

    published: list[ConsentUpdate] = []

    async def publish(key: bytes, value: bytes) -> None:
        published.append(ConsentUpdate.from_json(value))

    ledger = ConsentLedger()
    moments = iter(T0 + timedelta(seconds=n) for n in range(200))
    for n in range(101):
        await change_consent(
            ledger, publish, lambda: next(moments), "sms", NUMBER, n % 2 == 0, "t", (f"SM{n}",)
        )
    newest = published[-1].handled
    assert len(newest) == 100 and newest[0] == "SM100" and newest[-1] == "SM1"
    assert ConsentUpdate.from_json(published[-1].to_json()).handled == newest


def test_the_newest_consent_update_wins_whatever_order_it_arrives_in() -> None:
    ledger = ConsentLedger()
    stop = ConsentUpdate("sms", NUMBER, False, T0, "inbound:SM1")
    start = ConsentUpdate("sms", NUMBER, True, T0 + timedelta(minutes=5), "inbound:SM2")
    assert ledger.apply(start)
    assert not ledger.apply(stop), "an older STOP must not override a newer START"
    assert ledger.refusal("sms", NUMBER) is None
    ledger.apply(ConsentUpdate("sms", NUMBER, False, T0 + timedelta(minutes=9), "inbound:SM3"))
    refusal = ledger.refusal("sms", NUMBER)
    assert refusal is not None and refusal.source == "inbound:SM3"
    assert ledger.refusal("email", NUMBER) is None, "a text STOP says nothing about email"


def test_consent_records_round_trip_and_reject_naive_times() -> None:
    update = ConsentUpdate("sms", NUMBER, False, T0, "provider-refusal:n1")
    assert ConsentUpdate.from_json(update.to_json()) == update
    with pytest.raises(ValueError, match="timezone"):
        ConsentUpdate.from_json(
            b'{"channel": "sms", "address": "x", "allowed": false, "at": "2026-11-20T10:00:00"}'
        )
    with pytest.raises(ValueError, match="channel"):
        ConsentUpdate.from_json(
            b'{"channel": "fax", "address": "x", "allowed": false, "at": "2026-11-20T10:00:00Z"}'
        )


def test_twilio_signatures_are_checked_against_the_exact_url_and_fields() -> None:
    token = "secret-token"
    url = "https://heard.example.test/twilio/status?notification_id=n1&ticket_id=T-1"
    params = {"MessageSid": SID_3, "MessageStatus": "delivered", "To": NUMBER}
    good = RequestValidator(token).compute_signature(url, params)
    assert signature_valid(token, url, params, {"X-Twilio-Signature": good})
    assert not signature_valid("other-token", url, params, {"X-Twilio-Signature": good})
    assert not signature_valid(token, url.replace("T-1", "T-2"), params, {"X-Twilio-Signature": good})
    assert not signature_valid(
        token, url, {**params, "MessageStatus": "failed"}, {"X-Twilio-Signature": good}
    )
    assert not signature_valid(token, url, params, {})
    assert not signature_valid("", url, params, {"X-Twilio-Signature": good})


def test_status_and_inbound_parsing() -> None:
    report = parse_status({"MessageSid": SID_3, "MessageStatus": "Delivered", "To": NUMBER})
    assert (report.status, report.rank, report.to) == ("delivered", 3, NUMBER)
    assert parse_status({"SmsSid": SID_1, "SmsStatus": "sent"}).rank == 2
    with pytest.raises(BadCallback, match="unknown message status"):
        parse_status({"MessageSid": SID_3, "MessageStatus": "teleported"})
    with pytest.raises(BadCallback, match="MessageSid"):
        parse_status({"MessageStatus": "sent"})
    inbound = parse_inbound({"MessageSid": SID_2, "From": NUMBER, "To": "+15005550006", "Body": "STOP"})
    assert (inbound.from_number, inbound.body) == (NUMBER, "STOP")
    with pytest.raises(BadCallback):
        parse_inbound({"Body": "hi"})


def test_sms_capture_fault_scripts_parse_or_refuse() -> None:
    from heard.devstack.catchers import parse_faults

    assert parse_faults("429for10,503for2.5") == [(429, 10.0), (503, 2.5)]
    assert parse_faults("") == []
    with pytest.raises(ValueError, match="STATUSforSECONDS"):
        parse_faults("429x3")


async def test_readiness_names_what_it_still_waits_for() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from heard.streams.base.http import ops_app

    waiting = ["tables are being recovered", "the consent ledger is loading"]
    async with TestClient(TestServer(ops_app(lambda: list(waiting)))) as client:
        answer = await client.get("/readyz")
        assert answer.status == 503
        assert await answer.text() == ("not ready: tables are being recovered, the consent ledger is loading")
        waiting.clear()
        answer = await client.get("/readyz")
        assert answer.status == 200 and await answer.text() == "ready"
        assert (await client.get("/table/tickets/T-1/")).status == 404


async def signed_text(client: Any, public: str, token: str, sid: str, body: str) -> int:
    """A text from NUMBER to the inbound route, signed as Twilio signs it; the status."""
    form = {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": NUMBER,
        "To": "+15005550006",
        "Body": body,
    }
    signature = RequestValidator(token).compute_signature(f"{public}/twilio/inbound", form)
    answer = await client.post("/twilio/inbound", data=form, headers={"X-Twilio-Signature": signature})
    return int(answer.status)


def inbound_routes(
    public: str, token: str, clock: Callable[[], datetime]
) -> tuple[Any, ConsentLedger, list[ConsentUpdate]]:
    """Twilio's routes over a fresh ledger; consent updates are collected, the rest dropped."""
    from heard.streams.worker.web import TwilioRoutes

    ledger = ConsentLedger()
    published: list[ConsentUpdate] = []

    async def publish_consent(key: bytes, value: bytes) -> None:
        published.append(ConsentUpdate.from_json(value))

    async def ignore(key: bytes, value: bytes) -> None:
        return None

    routes = TwilioRoutes(
        public_base_url=public,
        auth_token=token,
        ledger=ledger,
        publish_status=ignore,
        publish_consent=publish_consent,
        publish_inbound=ignore,
        clock=clock,
    )
    return routes, ledger, published


async def test_a_replayed_start_never_undoes_a_newer_stop() -> None:
    """Each request is validly signed; the third replays the second (a captured START)."""
    from aiohttp.test_utils import TestClient, TestServer

    from heard.streams.worker.web import public_app

    public, token = "https://heard.example.test", "replay-token"
    moments = iter(T0 + timedelta(minutes=n) for n in range(10))
    routes, ledger, published = inbound_routes(public, token, lambda: next(moments))

    async def text(client: TestClient, sid: str, body: str) -> int:
        return await signed_text(client, public, token, sid, body)

    async with TestClient(TestServer(public_app(routes))) as client:
        assert await text(client, "SM" + "1" * 32, "STOP") == 200
        assert await text(client, "SM" + "2" * 32, "START") == 200
        assert await text(client, "SM" + "3" * 32, "STOP") == 200
        assert await text(client, "SM" + "2" * 32, "START") == 200  # the replay
    assert [update.allowed for update in published] == [False, True, False]
    refusal = ledger.refusal("sms", NUMBER)
    assert refusal is not None and refusal.source == "twilio-inbound:SM" + "3" * 32
    # The history travels in the compacted record: a restarted worker knows it too.
    restored = ConsentLedger()
    restored.apply(ConsentUpdate.from_json(published[-1].to_json()))
    assert restored.already_handled("sms", NUMBER, "SM" + "2" * 32)


async def test_a_signed_start_recut_into_a_new_message_id_is_refused() -> None:
    """Twilio signs the fields run together; moving the start of one field into the end of
    MessageSid keeps the signature valid. Such a MessageSid is no Twilio id: 400."""
    from aiohttp.test_utils import TestClient, TestServer

    from heard.streams.worker.web import public_app

    public, token = "https://heard.example.test", "recut-token"
    routes, _, published = inbound_routes(public, token, lambda: T0)
    sid = "SM" + "a" * 32
    start = {
        "AccountSid": "AC" + "0" * 32,
        "Body": "START",
        "From": NUMBER,
        "MessageSid": sid,
        "NumMedia": "0",
        "To": "+15005550006",
    }
    recut = {key: value for key, value in start.items() if key != "NumMedia"}
    recut["MessageSid"] = sid + "NumMedia0"
    url = f"{public}/twilio/inbound"
    validator = RequestValidator(token)
    assert validator.compute_signature(url, start) == validator.compute_signature(url, recut)
    async with TestClient(TestServer(public_app(routes))) as client:
        answer = await client.post(
            "/twilio/inbound",
            data=recut,
            headers={"X-Twilio-Signature": validator.compute_signature(url, recut)},
        )
        assert answer.status == 400
    assert published == []


def test_a_rate_limit_allows_a_burst_then_refills_and_forgets_old_keys() -> None:
    from heard.streams.base.rate import RateLimit

    now = [0.0]
    limit = RateLimit(burst=3, per_minute=6, max_keys=2, clock=lambda: now[0])
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    now[0] += 10  # one token back every 10 s
    assert [limit.allow("a"), limit.allow("a")] == [True, False]
    assert limit.allow("b") and limit.allow("c")  # "a" is forgotten: three keys, two kept
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    with pytest.raises(ValueError, match="burst >= 1"):
        RateLimit(burst=0, per_minute=1)


async def test_a_number_flooding_texts_is_refused_but_its_stop_always_counts() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from heard.streams.base.rate import RateLimit
    from heard.streams.worker.web import TwilioRoutes, public_app

    public, token = "https://heard.example.test", "flood-token"
    ledger, inbound, consent = ConsentLedger(), [], []

    async def keep(into: list[bytes], key: bytes, value: bytes) -> None:
        into.append(value)

    routes = TwilioRoutes(
        public_base_url=public,
        auth_token=token,
        ledger=ledger,
        publish_status=lambda k, v: keep([], k, v),
        publish_consent=lambda k, v: keep(consent, k, v),
        publish_inbound=lambda k, v: keep(inbound, k, v),
        clock=lambda: T0,
        texts_limit=RateLimit(burst=3, per_minute=1),
    )

    async def text(client: TestClient, n: int, body: str) -> int:
        return await signed_text(client, public, token, f"SM{n:032d}", body)

    async with TestClient(TestServer(public_app(routes))) as client:
        assert [await text(client, n, f"hello {n}") for n in range(10)] == [200] * 10
        assert await text(client, 99, "STOP") == 200
    assert len(inbound) == 3  # the burst, then nothing more from this number
    assert len(consent) == 1 and ledger.refusal("sms", NUMBER) is not None
