"""Twilio talking back, through a real worker's web server and real Kafka: signed status
callbacks (never backwards), inbound STOP/START, and a 21610 refusal on send."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from heard.devstack.kafka import free_port
from heard.streams.base.settings import EngineSettings
from heard.streams.cli import explain_lines
from heard.streams.contract import stories
from heard.streams.contract.state import decision_lines
from heard.streams.kafka.readback import read_topic
from tests.conftest import Catchers, Worker, wait_for, wait_until
from tests.integration.conftest import PUBLIC, TOKEN, public_worker
from tests.integration.test_end_to_end import mails_for, send

pytestmark = pytest.mark.integration

SID_1 = "SM039b63d91abcd6e73d382f1f0ce7c1fc"  # Twilio message ids: SM and 32 hex digits
SID_2 = "SM1988497eb084683469653e339928bd01"
SID_3 = "SM27f2dbbb3c5bef225dfdf1a4081e51a6"
SID_4 = "SM7dba2524cbf018fd99df76db6bf1fa7c"
SID_5 = "SMaae8978d5f6c47b41cb700055ecfb81f"
SID_6 = "SMab40fdeb0d536b802b6d10d146157d4a"


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"cb{random.randrange(10**8)}."


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str,
    catchers: Catchers,
    prefix: str,
    web_port: int,
    ops_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    yield from public_worker(kafka_bootstrap, catchers, prefix, web_port, ops_port, tmp_path_factory)


async def post(
    port: int, path: str, params: dict[str, str], *, token: str = TOKEN, signed_url: str | None = None
) -> tuple[int, str]:
    url = f"{PUBLIC}{path}"
    signature = RequestValidator(token).compute_signature(signed_url or url, params)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}{path}", data=params, headers={"X-Twilio-Signature": signature}
        ) as response,
    ):
        return response.status, await response.text()


async def events_for(bootstrap: str, prefix: str, ticket: str) -> list[dict[str, Any]]:
    settings = EngineSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    return [
        json.loads(value)
        for _, value, _ in await read_topic(settings, f"{prefix}notification-events", key=ticket.encode())
    ]


async def wait_events(bootstrap: str, prefix: str, ticket: str, want: Any, what: str) -> list[dict[str, Any]]:
    return await wait_until(lambda: events_for(bootstrap, prefix, ticket), want, 60, what)


async def listening(port: int) -> bool:
    try:
        return (await get(port, "/twilio/status"))[0] == 405  # the route, for POST only
    except aiohttp.ClientConnectorError:
        return False


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def test_the_public_listener_serves_only_the_callbacks(
    worker: Worker, web_port: int, ops_port: int
) -> None:
    for path in ("/table/tickets/T-1/", "/router/", "/metrics", "/readyz", "/"):
        status, _ = await get(web_port, path)
        assert status == 404, path
    status, _ = await get(web_port, "/twilio/status")
    assert status == 405  # the route exists, for POST only
    ready = await wait_until(
        lambda: get(ops_port, "/readyz"), lambda answer: answer[0] == 200, 120, "the worker to report ready"
    )
    assert ready[1] == "ready"
    assert (await get(ops_port, "/livez"))[0] == 200
    status, metrics = await get(ops_port, "/metrics")
    assert status == 200 and "heard_record_failures_total" in metrics
    assert 'heard_build_info{version="' in metrics


def texts_to(catchers: Catchers, number: str) -> list[dict[str, Any]]:
    records = [json.loads(p.read_text()) for p in sorted(catchers.sms_dir.glob("*.json"))]
    return [r for r in records if r["To"] == number]


def now() -> datetime:
    return datetime.now(UTC)


def sms_customer(phone: str, name: str = "Łukasz") -> dict[str, Any]:
    return stories.customer(
        name=f"{name} Nowak",
        preferred_name=name,
        phone=phone,
        preferred_channel="sms",
        consent={"email": True, "sms": True},
        email=f"{name.lower()}@example.net".replace("ł", "l"),
    )


async def test_status_callbacks_are_signed_and_never_go_backwards(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str
) -> None:
    path = "/twilio/status?notification_id=n-cb-1&ticket_id=CB-1"
    params = {
        "MessageSid": SID_4,
        "MessageStatus": "sent",
        "To": "+48512345678",
        "AccountSid": "AC00000000000000000000000000000000",
    }
    forged = {**params, "MessageStatus": "failed"}
    status, _ = await post(web_port, path, forged, token="not-the-token")
    assert status == 403
    status, _ = await post(web_port, path, forged, signed_url=f"{PUBLIC}/twilio/status")
    assert status == 403, "the query string is part of what Twilio signs"

    # Same sid, same partition, in order: "read" last proves the earlier ones were handled.
    for report in ("sent", "delivered", "sent", "undelivered", "read"):
        status, _ = await post(web_port, path, {**params, "MessageStatus": report})
        assert status == 204
    found = await wait_events(
        kafka_bootstrap, prefix, "CB-1", lambda e: any(x["status"] == "read" for x in e), "the last report"
    )
    assert [(e["status"], e["provider_id"], e["notification_id"]) for e in found] == [
        ("sent", SID_4, "n-cb-1"),
        ("delivered", SID_4, "n-cb-1"),
        ("read", SID_4, "n-cb-1"),
    ]


async def test_stop_then_start_by_text_switches_sms_off_and_on_again(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    phone = "+48512345679"
    inbound = {
        "MessageSid": SID_1,
        "From": phone,
        "To": "+15005550006",
        "Body": "Stop",
        "AccountSid": "AC00000000000000000000000000000000",
    }
    status, _ = await post(web_port, "/twilio/inbound", inbound, token="forged")
    assert status == 403
    status, body = await post(web_port, "/twilio/inbound", inbound)
    assert status == 200 and "<Response>" in body

    await send(
        kafka_bootstrap,
        prefix,
        [stories.created("CB-2", now(), eid="cb-2-created", customer=sms_customer(phone))],
    )
    found = await wait_events(
        kafka_bootstrap,
        prefix,
        "CB-2",
        lambda e: any(x["channel"] == "email" for x in e),
        "the email fallback",
    )
    assert [(e["channel"], e["status"]) for e in found] == [("sms", "suppressed"), ("email", "sent")]
    assert "withdrew sms consent" in found[0]["reason"]
    assert texts_to(catchers, phone) == []
    assert mails_for(catchers.mail_dir, "CB-2")

    later = dict(inbound, MessageSid=SID_2, Body="START")
    status, _ = await post(web_port, "/twilio/inbound", later)
    assert status == 200
    await send(
        kafka_bootstrap,
        prefix,
        [stories.created("CB-3", now(), eid="cb-3-created", customer=sms_customer(phone))],
    )
    await wait_for(lambda: texts_to(catchers, phone), 60, "an SMS after START")
    # The capture keeps the text before the worker records the outcome: wait for it.
    found = await wait_events(
        kafka_bootstrap, prefix, "CB-3", lambda e: any(x["status"] == "sent" for x in e), "the SMS sent"
    )
    assert [(e["channel"], e["status"]) for e in found] == [("sms", "sent")]


async def test_after_stop_with_no_other_channel_the_team_is_told_and_explain_shows_it(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    phone = "+48512345677"
    stop = {
        "MessageSid": SID_3,
        "From": phone,
        "To": "+15005550006",
        "Body": "STOP",
        "AccountSid": "AC00000000000000000000000000000000",
    }
    assert (await post(web_port, "/twilio/inbound", stop))[0] == 200
    only_sms = stories.customer(
        name="Haruka Sato",
        preferred_name="Haruka",
        phone=phone,
        preferred_channel="sms",
        consent={"email": False, "sms": True},
    )
    del only_sms["email"]
    await send(
        kafka_bootstrap, prefix, [stories.created("CB-9", now(), eid="cb-9-created", customer=only_sms)]
    )
    found = await wait_events(
        kafka_bootstrap,
        prefix,
        "CB-9",
        lambda e: len([x for x in e if x["kind"] == "customer_unreachable" and x["status"] == "sent"]) == 2,
        "the team and the lead to be told",
    )
    assert (found[0]["kind"], found[0]["channel"], found[0]["status"]) == (
        "acknowledgment",
        "sms",
        "suppressed",
    )
    told = {(e["audience"], e["status"]) for e in found if e["kind"] == "customer_unreachable"}
    assert told == {("agent", "sent"), ("lead", "sent")}
    [to_team, to_lead] = sorted(mails_for(catchers.mail_dir, "CB-9"), key=lambda m: str(m["To"]))
    body = to_team.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Haruka did not receive our acknowledgment on CB-9" in body
    assert "withdrew sms consent" in body and phone not in body
    assert {str(to_team["To"]), str(to_lead["To"])} == {"team@example.com", "lead@example.com"}
    assert texts_to(catchers, phone) == []
    # heard explain: the decision, then what became of it, in one timeline.
    engine = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    decisions = [
        line
        for _, v, _ in await read_topic(engine, f"{prefix}heard-decisions", key=b"CB-9")
        for line in decision_lines(v)
    ]
    timeline = explain_lines(decisions, found)
    sent_at = next(i for i, line in enumerate(timeline) if " send " in line)
    suppressed_at = next(i for i, line in enumerate(timeline) if "suppressed" in line)
    assert sent_at < suppressed_at
    assert any("customer_unreachable" in line and " sent " in line for line in timeline)


async def test_a_21610_refusal_is_remembered_so_the_number_is_not_tried_again(
    worker: Worker, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    unsubscribed = "+15005550004"  # Twilio's magic test number for 21610
    await send(
        kafka_bootstrap,
        prefix,
        [stories.created("CB-4", now(), eid="cb-4-created", customer=sms_customer(unsubscribed, "Ana"))],
    )
    first = await wait_events(
        kafka_bootstrap,
        prefix,
        "CB-4",
        lambda e: any(x["channel"] == "email" for x in e),
        "the email fallback",
    )
    assert [(e["channel"], e["status"]) for e in first] == [("sms", "failed"), ("email", "sent")]
    assert "21610" in first[0]["reason"]

    await send(
        kafka_bootstrap,
        prefix,
        [
            stories.created(
                "CB-5",
                now() + timedelta(seconds=1),
                eid="cb-5-created",
                customer=sms_customer(unsubscribed, "Ana"),
            )
        ],
    )
    second = await wait_events(
        kafka_bootstrap, prefix, "CB-5", lambda e: any(x["channel"] == "email" for x in e), "the second email"
    )
    assert [(e["channel"], e["status"]) for e in second] == [("sms", "suppressed"), ("email", "sent")]
    assert second[0]["attempts"] == 0, "the provider must not be asked again"


async def test_a_21610_in_a_status_report_withdraws_consent_too(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    """Twilio may accept a text and report 21610 later, in the status callback."""
    phone = "+48512345676"
    path = "/twilio/status?notification_id=n-cb-7&ticket_id=CB-7"
    report = {
        "MessageSid": SID_6,
        "MessageStatus": "undelivered",
        "ErrorCode": "21610",
        "To": phone,
        "AccountSid": "AC00000000000000000000000000000000",
    }
    assert (await post(web_port, path, report))[0] == 204
    await wait_events(
        kafka_bootstrap, prefix, "CB-7", lambda e: any(x["status"] == "undelivered" for x in e), "the report"
    )
    await send(
        kafka_bootstrap,
        prefix,
        [stories.created("CB-8", now(), eid="cb-8-created", customer=sms_customer(phone, "Ola"))],
    )
    found = await wait_events(
        kafka_bootstrap,
        prefix,
        "CB-8",
        lambda e: any(x["channel"] == "email" for x in e),
        "the email instead of the text",
    )
    assert [(e["channel"], e["status"]) for e in found] == [("sms", "suppressed"), ("email", "sent")]
    assert "the carrier refused our texts, Twilio 21610" in found[0]["reason"]
    assert texts_to(catchers, phone) == []


async def test_the_ops_metrics_count_what_was_sent(
    worker: Worker, ops_port: int, kafka_bootstrap: str, prefix: str
) -> None:
    """After a text and an email: delivery latency per channel, SMS parts billed, timers."""
    texted = sms_customer("+48512345674", "Ewa")
    emailed = stories.customer(email="metrics@example.net")
    await send(
        kafka_bootstrap,
        prefix,
        [
            stories.created("CB-11", now(), eid="cb-11-created", urgent=True, customer=texted),
            stories.created("CB-12", now(), eid="cb-12-created", urgent=True, customer=emailed),
        ],
    )
    for ticket in ("CB-11", "CB-12"):
        await wait_until(
            lambda t=ticket: events_for(kafka_bootstrap, prefix, t),
            lambda e: any(x["status"] == "sent" for x in e),
            90,
            f"{ticket} sent",
        )
    status, metrics = await get(ops_port, "/metrics")
    assert status == 200

    def sample(name: str) -> float:
        lines = [line for line in metrics.splitlines() if line.startswith(name)]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

    assert sample('heard_delivery_seconds_count{channel="sms"}') >= 1
    assert sample('heard_delivery_seconds_count{channel="email"}') >= 1
    assert sample("heard_sms_segments_total") >= 1
    assert "heard_timers_pending" in metrics and "heard_template_errors_total" in metrics

    # Consumer lag per partition, read from the broker: every ticket event is committed.
    def lags(text: str) -> dict[str, float]:
        found = {}
        for line in text.splitlines():
            if line.startswith("heard_consumer_lag{") and f'topic="{prefix}ticket-events"' in line:
                found[line.split('partition="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
        return found

    async def lag_now() -> dict[str, float]:
        return lags((await get(ops_port, "/metrics"))[1])

    settled = await wait_until(
        lag_now, lambda found: bool(found) and not any(found.values()), 120, "consumer lag 0 on ticket-events"
    )
    assert set(settled) <= {"0", "1", "2", "3"}


async def test_a_restarted_worker_learns_every_stop_from_the_consent_topic(
    worker_with: Callable[..., Worker], kafka_bootstrap: str, topic_prefix: str, catchers: Catchers
) -> None:
    """STOP means stop on every worker: one that starts later reads the ledger from Kafka
    before its first send (the consent-topic follower and the ready gate). Its own workers
    and topics: the module's worker is left running for the other tests."""
    phone = "+48512345675"
    port = free_port()
    first = worker_with(
        HEARD_WEB_ENABLED="true",
        HEARD_WEB_PORT=str(port),
        HEARD_OPS_PORT=str(free_port()),
        HEARD_PUBLIC_URL=PUBLIC,
        TWILIO_AUTH_TOKEN=TOKEN,
        HEARD_ACK_HOLD_SECONDS="0",
    )
    stop = {
        "MessageSid": SID_5,
        "From": phone,
        "To": "+15005550006",
        "Body": "STOP",
        "AccountSid": "AC00000000000000000000000000000000",
    }
    # "Ready" is logged before the public listener's task has bound its port: wait for it.
    await wait_until(lambda: listening(port), bool, 60, "the public listener")
    assert (await post(port, "/twilio/inbound", stop))[0] == 200
    first.stop()  # the worker that took the STOP is gone; a new process takes over
    # The ticket waits on the topic, so the new worker's very first work is this text.
    await send(
        kafka_bootstrap,
        topic_prefix,
        [stories.created("CB-10", now(), eid="cb-10-created", customer=sms_customer(phone, "Iga"))],
    )
    worker_with(**{key: value for key, value in first.env.items() if key.startswith(("HEARD_", "TWILIO_"))})
    found = await wait_until(
        lambda: events_for(kafka_bootstrap, topic_prefix, "CB-10"),
        lambda e: any(x["channel"] == "email" for x in e),
        90,
        "the email instead of the text",
    )
    assert [(e["channel"], e["status"]) for e in found] == [("sms", "suppressed"), ("email", "sent")]
    assert texts_to(catchers, phone) == []


RACES = 40


async def test_stop_and_start_racing_for_one_number_never_leave_texts_allowed_after_the_stop(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str
) -> None:
    """A START and a STOP for the same number in flight at once, many times over: the
    changes are made one at a time, so the consent topic holds them in the order of their
    times (what compaction keeps is the newest), each carries the ids of those before it,
    and a replay of the START afterwards changes nothing."""
    numbers = [f"+4860000{n:04d}" for n in range(RACES)]

    def text(number: int, body: str) -> dict[str, str]:
        return {
            "MessageSid": f"SM{number:08d}{'a' if body == 'START' else 'b'}" + "0" * 23,
            "From": numbers[number],
            "To": "+15005550006",
            "Body": body,
            "AccountSid": "AC00000000000000000000000000000000",
        }

    async def race(number: int) -> None:
        answers = await asyncio.gather(
            post(web_port, "/twilio/inbound", text(number, "START")),
            post(web_port, "/twilio/inbound", text(number, "STOP")),
        )
        assert [status for status, _ in answers] == [200, 200]

    await asyncio.gather(*(race(n) for n in range(RACES)))
    settings = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)

    async def consent_records() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for key, value, _ in await read_topic(settings, f"{prefix}heard-consent"):
            record = json.loads(value)
            if record["address"] in numbers:
                found.setdefault((key or b"").decode(), []).append(record)
        return found

    records = await wait_until(
        consent_records,
        lambda found: len(found) == RACES and all(len(r) == 2 for r in found.values()),
        60,
        "both changes of every number on the consent topic",
    )
    for key, changes in records.items():
        first, last = changes  # in topic order
        assert datetime.fromisoformat(last["at"]) > datetime.fromisoformat(first["at"]), key
        assert set(first["handled"]) <= set(last["handled"]), (key, changes)
    # The STARTs again, as a replay: none may undo a STOP that came after it.
    for n in range(RACES):
        assert (await post(web_port, "/twilio/inbound", text(n, "START")))[0] == 200
    after = await consent_records()
    assert after == records, "a replayed START changed a number's consent"
