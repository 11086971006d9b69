"""`heard ingest`: the HTTP service help desks post their webhooks to.

Routes: `POST /webhooks/<source>` per configured source, `POST /events` for
heard's canonical format (bearer token), `GET /healthz`. Bound to 127.0.0.1
unless configured otherwise.

Answers:
- 202 after every canonical event of the request is acknowledged by Kafka (acks=all);
- 202 with `dead_lettered` when a verified payload cannot be mapped: the raw body and
  the reason are on the dead-letter topic, so the vendor need not retry;
- 200 for a delivery id already accepted, and for event kinds heard ignores;
- 401 for a bad signature or credentials (counted, never published);
- 413 for an oversized body; 400 for an invalid canonical event on `/events`;
- 503 with Retry-After when Kafka does not acknowledge in time: the vendor retries
  later and, because event ids derive from delivery ids, a retry is never doubled.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter

from heard.streams.base.http import OPS_LIMITS, ListenerLimits, ops_app
from heard.streams.base.http import serve as serve_http_app
from heard.streams.base.metrics import DEAD_LETTERS
from heard.streams.base.secrets import require_strong
from heard.streams.base.settings import SourceSettings
from heard.streams.connectors import connector_for
from heard.streams.connectors.base import Connector, Request, Unmappable, to_events
from heard.streams.contract.records import InvalidEvent, event_to_json, parse_event
from heard.streams.delivery.config import Settings
from heard.streams.kafka.client import client_options

log = logging.getLogger("heard.ingest")

WEBHOOKS = Counter(
    "heard_ingest_requests_total", "Webhook requests by source and result", ["source", "result"]
)
SEEN_DELIVERIES = 100_000
RETRY_AFTER_SECONDS = "30"


# topic, key, value, headers
Outgoing = tuple[str, bytes, bytes, list[tuple[str, bytes]]]


def unrecognised(name: str, exc: BaseException) -> str:
    return f"unrecognised {name} payload: a field has an unexpected shape ({type(exc).__name__})"


class KafkaUnavailable(RuntimeError):
    def __init__(self, reason: str, pending: asyncio.Future[Any] | None = None) -> None:
        super().__init__(reason)
        self.pending = pending


async def wait_acknowledged(pending: asyncio.Future[Any], seconds: float) -> None:
    # Shielded: a timeout here must not cancel a send that may still succeed.
    await asyncio.wait_for(asyncio.shield(pending), seconds)


class Publisher:
    """A lazily (re)started idempotent producer; failures become KafkaUnavailable."""

    def __init__(
        self, bootstrap_servers: str, timeout_seconds: float = 2.0, connection: dict[str, Any] | None = None
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        # TLS and SASL options from `engine.security` (heard.streams.kafka.client).
        self.connection = {"bootstrap_servers": bootstrap_servers, **(connection or {})}
        # How long a webhook waits for Kafka before its 503: a vendor retries sooner than
        # it gives up, and a help desk's webhook timeout is typically 10 s or less.
        self.timeout_seconds = timeout_seconds
        self._producer: AIOKafkaProducer | None = None

    async def _ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **self.connection, acks="all", enable_idempotence=True, request_timeout_ms=8000
            )
            try:
                await asyncio.wait_for(producer.start(), self.timeout_seconds)
            except (KafkaError, OSError, TimeoutError) as exc:
                await producer.stop()
                raise KafkaUnavailable(f"Kafka unavailable: {type(exc).__name__}") from exc
            self._producer = producer
        return self._producer

    async def publish(self, items: list[Outgoing]) -> asyncio.Future[Any]:
        """Send (topic, key, value, headers) items and wait for Kafka's acknowledgement.

        Returns the acknowledgement future. On a timeout the send is not abandoned: the
        future is attached to the KafkaUnavailable, so a retry of the same delivery can
        wait for it instead of publishing twice.
        """
        producer = await self._ready()
        acknowledged: asyncio.Future[Any] | None = None
        try:
            futures = [
                await producer.send(topic, value, key=key, headers=headers)
                for topic, key, value, headers in items
            ]
            acknowledged = asyncio.gather(*futures)
            await wait_acknowledged(acknowledged, self.timeout_seconds)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise KafkaUnavailable(f"Kafka did not acknowledge: {type(exc).__name__}", acknowledged) from exc
        return acknowledged

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class Ingest:
    def __init__(
        self, settings: Settings, publisher: Publisher, environ: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.env = dict(os.environ if environ is None else environ)
        self.events_topic = settings.engine.topic("ticket_events")
        self.dead_letters = settings.engine.topic("dead_letters")
        self.sources: dict[str, tuple[Connector, SourceSettings]] = {
            name: (connector_for(name, source), source)
            for name, source in settings.connectors.sources.items()
            if source.enabled
        }
        self._seen: OrderedDict[str, None] = OrderedDict()
        # Sends that timed out but may still land: a vendor retry waits for them.
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    # ------------------------------------------------------------------ app
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.connectors.max_body_bytes)
        app.router.add_post("/webhooks/{source}", self.webhook)
        app.router.add_post("/events", self.canonical)
        app.router.add_get("/healthz", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        # Public: says it serves, and nothing about which help desks it trusts (the sources
        # are in the log at start-up and in the ops listener's metrics).
        return web.Response(text="ok")

    # ------------------------------------------------------------------ webhooks
    async def webhook(self, request: web.Request) -> web.Response:
        name = request.match_info["source"]
        if name not in self.sources:
            return web.json_response({"error": f"no enabled source {name!r}"}, status=404)
        connector, source = self.sources[name]
        body = await self._read(request)
        refusal = self._refusal(name, body)
        if refusal is not None:
            return refusal
        assert body is not None  # a missing body is refused above
        incoming = Request(
            request.headers,
            body,
            self._env(source.secret_env),
            self._env(source.username_env),
            self._env(source.password_env),
        )
        if not self._authentic(name, connector, incoming):
            return web.json_response({"error": "signature or credentials invalid"}, status=401)
        challenge = request.headers.get("X-Front-Challenge")
        if challenge and name == "front":
            return web.Response(text=challenge)
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("the body is not a JSON object")
        except (ValueError, RecursionError) as exc:
            return await self._dead_letter(name, body, f"not a JSON object: {exc}")
        try:
            delivery = connector.delivery_id(incoming, payload)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            return await self._dead_letter(name, body, unrecognised(name, exc))
        if await self._already_published(f"{name}:{delivery}"):
            WEBHOOKS.labels(name, "duplicate").inc()
            return web.json_response({"duplicate": delivery})
        try:
            events = self.map(name, connector, source, incoming, payload, delivery)
        except (Unmappable, InvalidEvent) as exc:
            return await self._dead_letter(name, body, str(exc), delivery)
        except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as exc:
            # A signed body of a shape the vendor documents nowhere: kept, said, not a 500.
            return await self._dead_letter(name, body, unrecognised(name, exc), delivery)
        if not events:
            WEBHOOKS.labels(name, "ignored").inc()
            return web.json_response({"ignored": delivery})
        return await self._publish(name, delivery, events)

    def _refusal(self, name: str, body: bytes | None) -> web.Response | None:
        """The answer to a body that is late or too large; None when it may be read."""
        if body is None:
            WEBHOOKS.labels(name, "slow_body").inc()
            return web.json_response({"error": "the body did not arrive in time"}, status=408)
        if len(body) > self.settings.connectors.max_body_bytes:
            WEBHOOKS.labels(name, "too_large").inc()
            return web.json_response({"error": "body too large"}, status=413)
        return None

    def _authentic(self, name: str, connector: Connector, incoming: Request) -> bool:
        try:
            authentic = connector.authentic(incoming)
        except (ValueError, UnicodeError, OverflowError):
            # A signature or timestamp header that is not even text or a number is forged.
            authentic = False
        if not authentic:
            WEBHOOKS.labels(name, "unauthenticated").inc()
            log.warning("%s: rejected a webhook with a bad signature or credentials", name)
        return authentic

    def map(
        self,
        name: str,
        connector: Connector,
        source: SourceSettings,
        incoming: Request,
        payload: Mapping[str, Any],
        delivery: str,
    ) -> list[Any]:
        """Vendor payload -> validated canonical events (raises Unmappable / InvalidEvent)."""
        events = []
        for index, activity in enumerate(connector.activities(incoming, payload)):
            for raw in to_events(
                activity, source, name, delivery, index, self.settings.connectors.default_region
            ):
                try:
                    events.append(parse_event(json.dumps(raw)))
                except InvalidEvent as exc:
                    raise InvalidEvent(f"{raw['type']} for {raw['ticket_id']}: {exc}") from exc
        return events

    async def _publish(self, name: str, delivery: str, events: list[Any]) -> web.Response:
        items: list[Outgoing] = [
            (self.events_topic, e.ticket_id.encode(), event_to_json(e), []) for e in events
        ]
        try:
            await self.publisher.publish(items)
        except KafkaUnavailable as exc:
            if exc.pending is not None:
                self._track(f"{name}:{delivery}", exc.pending)
            WEBHOOKS.labels(name, "kafka_unavailable").inc()
            log.warning("%s: %s; answering 503 so the sender retries", name, exc)
            return web.json_response(
                {"error": str(exc)}, status=503, headers={"Retry-After": RETRY_AFTER_SECONDS}
            )
        self._remember(f"{name}:{delivery}")
        WEBHOOKS.labels(name, "published").inc()
        return web.json_response({"published": [e.id for e in events]}, status=202)

    async def _dead_letter(
        self, name: str, body: bytes, reason: str, delivery: str | None = None
    ) -> web.Response:
        headers = [
            ("heard-reason", reason.encode()[:4000]),
            ("heard-stage", b"ingest"),
            ("heard-source", name.encode()),
            ("heard-at", datetime.now(UTC).isoformat().encode()),
        ]
        try:
            await self.publisher.publish([(self.dead_letters, name.encode(), body, headers)])
        except KafkaUnavailable as exc:
            WEBHOOKS.labels(name, "kafka_unavailable").inc()
            return web.json_response(
                {"error": str(exc)}, status=503, headers={"Retry-After": RETRY_AFTER_SECONDS}
            )
        if delivery is not None:
            self._remember(f"{name}:{delivery}")
        WEBHOOKS.labels(name, "dead_lettered").inc()
        DEAD_LETTERS.labels("ingest").inc()  # the series every dead-letter alert reads
        log.warning("%s: dead-lettered a webhook: %s", name, reason)
        return web.json_response({"dead_lettered": reason}, status=202)

    # ------------------------------------------------------------------ canonical
    async def canonical(self, request: web.Request) -> web.Response:
        token = self._env(self.settings.connectors.events_token_env)
        given = request.headers.get("Authorization", "")
        # Constant time: how much of a guessed token matches must not show in the timing.
        # A header's bytes that are not UTF-8 reach here as surrogates: compared as the
        # bytes they were (a mismatch, 401), never an encoding error before authentication.
        if not token or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), f"Bearer {token}".encode()
        ):
            WEBHOOKS.labels("events", "unauthenticated").inc()
            return web.json_response({"error": "a valid bearer token is required"}, status=401)
        body = await self._read(request)
        if body is None:
            return web.json_response({"error": "the body did not arrive in time"}, status=408)
        events = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                events.append(parse_event(line, max_bytes=self.settings.engine.max_event_bytes))
            except InvalidEvent as exc:
                reason = f"line {number}: {exc}"
                answer = await self._dead_letter("events", line, reason)
                if answer.status == 503:
                    return answer
                return web.json_response({"error": reason}, status=400)
        if not events:
            return web.json_response({"error": "no events in the body"}, status=400)
        return await self._publish("events", events[0].id, events)

    # ------------------------------------------------------------------ helpers
    async def _read(self, request: web.Request) -> bytes | None:
        """The body, or None when a client trickles it slower than the configured timeout
        (a stalled connection must not be held open for ever)."""
        try:
            return await asyncio.wait_for(request.read(), self.settings.connectors.body_timeout_seconds)
        except TimeoutError:
            return None

    def _env(self, name: str | None) -> str | None:
        return self.env.get(name) if name else None

    def _track(self, key: str, pending: asyncio.Future[Any]) -> None:
        self._inflight[key] = pending

        def settled(done: asyncio.Future[Any]) -> None:
            self._inflight.pop(key, None)
            if not done.cancelled() and done.exception() is None:
                self._remember(key)

        pending.add_done_callback(settled)

    async def _already_published(self, key: str) -> bool:
        """True for a delivery accepted before, or whose earlier timed-out send has landed."""
        if key in self._seen:
            return True
        pending = self._inflight.get(key)
        if pending is None:
            return False
        try:
            await wait_acknowledged(pending, self.publisher.timeout_seconds)
        except (KafkaError, OSError, TimeoutError):
            return False  # that send failed or is still stuck: publish again
        return True

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        while len(self._seen) > SEEN_DELIVERIES:
            self._seen.popitem(last=False)


def check_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Refuse a guessable bearer token for POST /events (ConfigError names the setting)."""
    name = settings.connectors.events_token_env
    token = (os.environ if environ is None else environ).get(name or "", "")
    if name and token:
        require_strong(
            "config/connectors.yaml: events_token_env",
            name,
            token,
            "lets whoever holds it publish ticket events, and so have heard email "
            "anyone under your company's name",
        )


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    cfg = settings.connectors
    publisher = Publisher(
        settings.engine.bootstrap_servers, cfg.kafka_timeout_seconds, client_options(settings.engine)
    )
    # A request's own bounds (body, Kafka) answer first; the listener's is the backstop.
    limits = ListenerLimits(
        "ingest",
        cfg.header_seconds,
        cfg.body_timeout_seconds + cfg.kafka_timeout_seconds + 10,
        cfg.max_connections,
    )
    runner = await serve_http_app(Ingest(settings, publisher).app(), cfg.host, cfg.port, limits)
    # Metrics on their own listener, as the worker's: the webhook port faces the internet.
    # Ready as soon as it serves: Kafka is reached on the first webhook, and a webhook that
    # finds Kafka down gets 503 with Retry-After, which the vendor honours.
    ops = await serve_http_app(
        ops_app(lambda: []), cfg.ops_host, cfg.ops_port, replace(OPS_LIMITS, name="ingest-ops")
    )
    log.info(
        "heard ingest on http://%s:%s (sources: %s); metrics on http://%s:%s/metrics",
        cfg.host,
        cfg.port,
        ", ".join(sorted(cfg.sources)) or "none",
        cfg.ops_host,
        cfg.ops_port,
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await ops.cleanup()
        await publisher.close()
