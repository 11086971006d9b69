"""`heard ingest` over real HTTP into a real Kafka: each vendor's documented payloads,
signed well and badly; duplicates; unmappable payloads; a Kafka outage."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from heard.devstack.kafka import KafkaBroker, free_port
from heard.streams.connectors.base import body_digest
from heard.streams.connectors.service import Ingest, Publisher
from heard.streams.contract import stories
from heard.streams.delivery.config import Settings, load_settings
from heard.streams.kafka.readback import read_topic
from heard.streams.kafka.topics import ensure_topics
from tests.conftest import wait_for
from tests.connector_signing import SECRETS, body_of, signed_headers
from tests.peers import REPO

pytestmark = pytest.mark.integration

GOOD = [
    ("github", "issues_opened"),
    ("github", "issue_comment_created"),
    ("github", "issues_closed"),
    ("intercom", "conversation_user_created"),
    ("intercom", "conversation_admin_replied"),
    ("intercom", "conversation_admin_noted"),
    ("jira", "issue_created"),
    ("jira", "comment_created"),
    ("jira", "issue_resolved"),
    ("front", "inbound_received"),
    ("front", "outbound_sent"),
    ("zendesk", "created"),
    ("zendesk", "agent_reply"),
    ("zendesk", "solved"),
    ("freshdesk", "created"),
    ("freshdesk", "status_pending"),
]


@dataclass
class Running:
    url: str
    settings: Settings
    runner: web.AppRunner
    publisher: Publisher

    async def post(
        self, path: str, body: bytes, headers: dict[str, str], timeout: float = 60
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(f"{self.url}{path}", data=body, headers=headers) as response,
        ):
            return response.status, await response.json()

    async def post_until_accepted(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """Post again while the answer is 503, as a vendor retries a refused delivery."""
        give_up = asyncio.get_running_loop().time() + 60
        while True:
            status, answer = await self.post(path, body, headers)
            if status != 503 or asyncio.get_running_loop().time() > give_up:
                return status, answer
            await asyncio.sleep(1)  # a vendor's retry interval; bounded by the deadline

    async def topic(self, name: str) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
        return await read_topic(self.settings.engine, self.settings.engine.topic(name))

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.publisher.close()


# A help desk gives up on a webhook after about 10 s: the tests of ingest's own bound on
# Kafka (2 s, its default) post with this client timeout. Every other test lets ingest wait
# for Kafka as long as a slow, busy machine needs.
VENDOR_TIMEOUT = 10.0


async def start_ingest(bootstrap: str, prefix: str, kafka_timeout: float = 60.0) -> Running:
    settings = load_settings(
        REPO / "config", environ={"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "HEARD_TOPIC_PREFIX": prefix}
    )
    await ensure_topics(settings.engine)
    publisher = Publisher(bootstrap, kafka_timeout)
    runner = web.AppRunner(Ingest(settings, publisher, environ=SECRETS).app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Running(f"http://127.0.0.1:{port}", settings, runner, publisher)


@pytest.fixture(scope="module")
async def ingest(kafka_bootstrap: str) -> AsyncIterator[Running]:
    running = await start_ingest(kafka_bootstrap, f"in{random.randrange(10**8)}.")
    yield running
    await running.stop()


async def test_documented_payloads_become_canonical_events_in_kafka(ingest: Running) -> None:
    published: dict[str, list[str]] = {}
    for number, (source, name) in enumerate(GOOD):
        body = body_of(source, name)
        status, answer = await ingest.post(
            f"/webhooks/{source}", body, signed_headers(source, name, body, delivery=f"good-{number}")
        )
        assert status == 202, (source, name, answer)
        published[f"{source}/{name}"] = answer["published"]
    in_kafka = {
        json.loads(value)["id"]: (key, json.loads(value))
        for key, value, _ in await ingest.topic("ticket_events")
    }
    for fixture, ids in published.items():
        for event_id in ids:
            key, event = in_kafka[event_id]
            assert key == event["ticket_id"].encode(), f"{fixture}: keyed by ticket id"
    types = {fixture: [in_kafka[i][1]["type"] for i in ids] for fixture, ids in published.items()}
    assert types["jira/issue_resolved"] == ["ticket.resolved"]
    assert types["intercom/conversation_admin_noted"] == ["ticket.agent_reply"]
    assert types["github/issues_closed"] == ["ticket.closed"]
    assert types["freshdesk/status_pending"] == ["ticket.status_changed"]
    assert len(in_kafka) == sum(len(ids) for ids in published.values())


async def test_bad_signatures_are_refused_and_nothing_is_published(ingest: Running) -> None:
    before = len(await ingest.topic("ticket_events"))
    for source, name in {
        (s, n)
        for s, n in GOOD
        if n in ("issues_opened", "conversation_user_created", "issue_created", "inbound_received", "created")
    }:
        body = body_of(source, name)
        status, _ = await ingest.post(
            f"/webhooks/{source}", body, signed_headers(source, name, body, wrong=True, delivery="forged")
        )
        assert status == 401, source
        unsigned = {"Content-Type": "application/json"}
        assert (await ingest.post(f"/webhooks/{source}", body, unsigned))[0] == 401
    assert len(await ingest.topic("ticket_events")) == before


async def test_a_vendor_retry_is_accepted_once(ingest: Running) -> None:
    body = body_of("github", "issues_opened").replace(b"1347", b"2001")
    headers = signed_headers("github", "issues_opened", body, delivery="retry-me")
    first = await ingest.post("/webhooks/github", body, headers)
    second = await ingest.post("/webhooks/github", body, headers)
    digest = body_digest(body)
    assert first[0] == 202 and second == (200, {"duplicate": digest})
    ids = [json.loads(v)["id"] for _, v, _ in await ingest.topic("ticket_events")]
    assert ids.count(f"github:{digest}:0") == 1


@pytest.mark.parametrize(
    ("source", "name"),
    [("github", "issue_comment_created"), ("jira", "comment_created"), ("zendesk", "agent_reply")],
)
async def test_a_captured_signed_request_replayed_with_fresh_delivery_ids_counts_once(
    ingest: Running, source: str, name: str
) -> None:
    """Delivery-id headers are outside the vendors' signatures: replaying a captured request
    with a new one must not publish the same event again."""
    body = body_of(source, name).replace(b"2026-11-2", b"2026-10-2")  # unique to this test
    answers = [
        await ingest.post(
            f"/webhooks/{source}", body, signed_headers(source, name, body, delivery=f"replay-{n}")
        )
        for n in range(3)
    ]
    assert [status for status, _ in answers] == [202, 200, 200], answers
    published = [json.loads(v) for _, v, _ in await ingest.topic("ticket_events")]
    mine = [event for event in published if event["id"].startswith(f"{source}:{body_digest(body)}")]
    assert len(mine) == len(answers[0][1]["published"]) >= 1


async def test_unmappable_payloads_are_dead_lettered_with_reason_and_raw_body(ingest: Running) -> None:
    from prometheus_client import REGISTRY

    def dead_lettered() -> float:
        return REGISTRY.get_sample_value("heard_dead_letters_total", {"stage": "ingest"}) or 0

    before = dead_lettered()
    body = body_of("zendesk", "solved_without_summary")
    status, answer = await ingest.post(
        "/webhooks/zendesk",
        body,
        signed_headers("zendesk", "solved_without_summary", body, delivery="no-summary"),
    )
    assert status == 202 and "no closure summary" in answer["dead_lettered"]
    # Counted where every dead-letter alert looks (ops/prometheus/alerts.yml).
    assert dead_lettered() == before + 1
    not_json = b"{this is not json"
    status, _ = await ingest.post(
        "/webhooks/github",
        not_json,
        {
            **signed_headers("github", "issues_opened", not_json, delivery="broken"),
            "Content-Type": "application/json",
        },
    )
    assert status == 202
    letters = {value: headers for _, value, headers in await ingest.topic("dead_letters")}
    assert b"no closure summary" in letters[body]["heard-reason"]
    assert letters[body]["heard-source"] == b"zendesk"
    assert letters[not_json]["heard-reason"].startswith(b"not a JSON object")


async def test_canonical_events_need_the_token_and_invalid_ones_are_refused(ingest: Running) -> None:
    event = stories.dumps(stories.created("EV-1", eid="ev-1"))
    bearer = {"Authorization": f"Bearer {SECRETS['HEARD_EVENTS_TOKEN']}"}
    assert (await ingest.post("/events", event, {}))[0] == 401
    status, answer = await ingest.post("/events", event, bearer)
    assert (status, answer) == (202, {"published": ["ev-1"]})
    bad = stories.dumps(stories.created("EV-2", eid="ev-2", customer={"name": ""}))
    status, answer = await ingest.post("/events", bad, bearer)
    assert status == 400 and answer["error"].startswith("line 1: customer.name")


async def test_a_kafka_outage_answers_503_and_loses_nothing(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka", port=free_port())
    try:
        await asyncio.to_thread(broker.start, 90)  # its readiness probe runs its own loop
    except Exception as exc:  # any start failure must fail the test, not skip it
        pytest.fail(f"Kafka could not start: {exc}")
    running = await start_ingest(broker.bootstrap, "outage.", kafka_timeout=2.0)
    try:

        def post(number: int) -> tuple[bytes, dict[str, str]]:
            body = body_of("github", "issues_opened").replace(b"1347", str(3000 + number).encode())
            return body, signed_headers("github", "issues_opened", body, delivery=f"o-{number}")

        def event_id(number: int) -> str:
            return f"github:{body_digest(post(number)[0])}:0"

        assert (await running.post_until_accepted("/webhooks/github", *post(1)))[0] == 202
        await asyncio.to_thread(broker.stop)
        # Bounded by connectors.kafka_timeout_seconds (2 s): the 503 comes inside the
        # vendor's own timeout (the client's here), so the vendor retries instead of
        # counting a failure.
        status, answer = await running.post("/webhooks/github", *post(2), timeout=VENDOR_TIMEOUT)
        assert status == 503 and "Kafka" in answer["error"]
        await asyncio.to_thread(broker.start, 90, False, False)  # same data, same port
        # The vendor retries the refused delivery once Kafka is back. The first send may
        # have landed after all (its acknowledgement was late): then it is not sent twice.
        status, answer = await running.post_until_accepted("/webhooks/github", *post(2))
        assert (status, answer) in (
            (200, {"duplicate": body_digest(post(2)[0])}),
            (202, {"published": [event_id(2)]}),
        )
        ids = [json.loads(v)["id"] for _, v, _ in await running.topic("ticket_events")]
        assert sorted(ids) == sorted([event_id(1), event_id(2)])
    finally:
        await running.stop()
        await asyncio.to_thread(broker.stop)


async def test_hostile_canonical_lines_get_400_with_their_line_never_500(ingest: Running) -> None:
    bearer = {"Authorization": f"Bearer {SECRETS['HEARD_EVENTS_TOKEN']}"}
    hostile = {
        b'{"type":"ticket.created","x":' + b"[" * 10000 + b"]" * 10000 + b"}": "nested deeper than",
        b'{"type":"ticket.created","urgent":' + b"9" * 5000 + b"}": "a number of more than",
        b'{"type":"ticket.created","id":"\xff"}': "not JSON",
        stories.dumps(
            {**stories.created("EV-9"), "occurred_at": "0001-01-01T00:00:00+01:00"}
        ): "outside the accepted window",
    }
    good = stories.dumps(stories.created("EV-8", eid="ev-8"))
    for line, reason in hostile.items():
        # A blank line and a valid one first: the reported number is the body's own line.
        status, answer = await ingest.post("/events", b"\n" + good + b"\n" + line, bearer)
        assert status == 400, answer
        assert answer["error"].startswith("line 3: ") and reason in answer["error"], answer


def frozen(pid: int) -> bool:
    """Every thread of the process stopped (a signal reaches a busy thread a moment later)."""
    states = [
        (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        for task in Path(f"/proc/{pid}/task").iterdir()
    ]
    return bool(states) and all(state in ("T", "t") for state in states)


async def test_a_paused_broker_gets_no_2xx_and_the_retry_lands_once(tmp_path: Path) -> None:
    """A 2xx promises the event is in Kafka: while the broker is frozen (SIGSTOP: it accepts
    connections but answers nothing) no webhook gets one."""
    broker = KafkaBroker(tmp_path / "kafka", port=free_port())
    try:
        await asyncio.to_thread(broker.start, 90)
    except Exception as exc:  # any start failure must fail the test, not skip it
        pytest.fail(f"Kafka could not start: {exc}")
    running = await start_ingest(broker.bootstrap, "paused.", kafka_timeout=2.0)
    assert broker.process is not None
    body = body_of("github", "issues_opened").replace(b"1347", b"4001")
    headers = signed_headers("github", "issues_opened", body, delivery="p-1")
    try:
        warm = body_of("github", "issues_opened").replace(b"1347", b"4000")
        assert (
            await running.post_until_accepted(
                "/webhooks/github", warm, signed_headers("github", "issues_opened", warm, delivery="p-0")
            )
        )[0] == 202
        os.kill(broker.process.pid, signal.SIGSTOP)  # the broker this test started
        await wait_for(lambda: frozen(broker.process.pid), 30, "every broker thread stopped")
        try:
            # Inside the vendor's timeout (the client's), whatever the frozen broker does.
            status, answer = await running.post("/webhooks/github", body, headers, timeout=VENDOR_TIMEOUT)
            assert status == 503 and "Kafka" in answer["error"], (status, answer)
        finally:
            os.kill(broker.process.pid, signal.SIGCONT)
        status, answer = await running.post_until_accepted("/webhooks/github", body, headers)
        digest = body_digest(body)
        assert (status, answer) in (
            (200, {"duplicate": digest}),
            (202, {"published": [f"github:{digest}:0"]}),
        )
        ids = [json.loads(v)["id"] for _, v, _ in await running.topic("ticket_events")]
        assert ids.count(f"github:{digest}:0") == 1
    finally:
        await running.stop()
        await asyncio.to_thread(broker.stop)


async def test_a_signed_body_of_an_undocumented_shape_is_a_dead_letter_not_a_500(ingest: Running) -> None:
    body = json.dumps(
        {
            "action": "opened",
            "issue": {"number": 9, "user": "not-an-object", "title": "x", "labels": "y"},
            "repository": ["odd"],
        }
    ).encode()
    status, answer = await ingest.post(
        "/webhooks/github", body, signed_headers("github", "issues_opened", body, delivery="odd-shape")
    )
    assert status == 202 and answer["dead_lettered"].startswith("unrecognised github payload")
    bad_signature = {
        **signed_headers("github", "issues_opened", body),
        "X-Hub-Signature-256": "sha256=\u00ff\u00fe",
    }
    assert (await ingest.post("/webhooks/github", body, bad_signature))[0] == 401


async def test_a_token_that_is_not_utf8_is_refused_with_401_and_health_names_no_source(
    ingest: Running,
) -> None:
    """Raw bytes on the wire (aiohttp's client would not send them): a bearer token with a
    byte that is not UTF-8 is a wrong token, 401, never a 500 before authentication."""
    host, port = ingest.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = stories.dumps(stories.created("EV-UTF"))
    writer.write(
        b"POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe-token\r\n"
        b"Content-Type: application/x-ndjson\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 60)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    async with aiohttp.ClientSession() as session, session.get(f"{ingest.url}/healthz") as got:
        assert got.status == 200 and await got.text() == "ok"


async def test_a_newcomer_posts_each_sample_signed_and_it_becomes_a_ticket_in_kafka(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The walk-through in docs/connectors.md: `heard ingest sample`, then `heard ingest
    post`, with the secrets in the environment, against a running ingest of its own (a
    sample posted twice is a duplicate, as the same webhook delivered twice would be)."""
    from heard.streams.cli import main

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HEARD_CONFIG_DIR", str(REPO / "config"))
    fresh = await start_ingest(kafka_bootstrap, f"try{random.randrange(10**8)}.")
    try:
        for source in ("zendesk", "freshdesk", "jira", "intercom", "front", "github"):
            url = f"{fresh.url}/webhooks/{source}"
            assert await asyncio.to_thread(main, ["ingest", "post", "--source", source, "--url", url]) == 0
            said = capsys.readouterr().out
            assert said.startswith("202 "), (source, said)
        url = f"{fresh.url}/webhooks/intercom"
        assert await asyncio.to_thread(main, ["ingest", "post", "--source", "intercom", "--url", url]) == 0
        assert capsys.readouterr().out.startswith('200 {"duplicate"')
        events = [json.loads(value) for _, value, _ in await fresh.topic("ticket_events")]
    finally:
        await fresh.stop()
    assert [event["type"] for event in events] == ["ticket.created"] * 6
