"""The Faust worker's wiring: topics, tables and agents bound together.

Each agent is a class in `heard.streams.worker`, given its tables as mappings, a sink and a
clock; here they are bound to Faust. Agents run with concurrency 1 and `at_least_once`;
duplicates are absorbed by event-id dedupe in the ticket state and by the receipts table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import faust
import faust.streams as faust_streams
from aiohttp import web
from faust.tables.table import Table as FaustTable
from faust.types import TableT
from prometheus_client import REGISTRY

from heard.channels.base import Channel
from heard.channels.registry import plugin
from heard.streams.base.http import OPS_LIMITS, ListenerLimits, ops_app
from heard.streams.base.http import serve as serve_http_app
from heard.streams.base.settings import ConfigError, EngineSettings, TopicNames
from heard.streams.base.stages import STAGES
from heard.streams.base.version import installed_version
from heard.streams.content.lint import sms_budget
from heard.streams.content.rendering import Renderer
from heard.streams.contract.records import event_to_json
from heard.streams.contract.state import TEAM_KINDS
from heard.streams.delivery.config import Settings
from heard.streams.delivery.consent import ConsentLedger
from heard.streams.delivery.consent import keep_following as keep_following_consent
from heard.streams.delivery.helpdesk.client import NoteWriter
from heard.streams.delivery.helpdesk.wording import NoteWording
from heard.streams.delivery.links import ReplyLinks
from heard.streams.delivery.sender import Delivery
from heard.streams.delivery.template_store import PublishedTemplates, keep_following_published
from heard.streams.delivery.wiring import team_routes
from heard.streams.kafka import faust_producer, faust_recovery, table_codec
from heard.streams.kafka.client import faust_credentials
from heard.streams.kafka.faust_flush import drain_buffer, flush_fully
from heard.streams.kafka.faust_monitor import LeanMonitor
from heard.streams.kafka.lag import LagProbe
from heard.streams.kafka.topics import prefixed_topics, retry_topic
from heard.streams.policy.step import Rules
from heard.streams.worker.answer_pages import AnswerPages, Brand
from heard.streams.worker.answer_pages import add_routes as add_answer_routes
from heard.streams.worker.delivery_agent import DeliveryAgent
from heard.streams.worker.helpdesk_notes import HelpdeskNotesAgent
from heard.streams.worker.lifecycle import LifecycleAgent
from heard.streams.worker.mail_events import MailEventsAgent
from heard.streams.worker.mail_webhooks import MailEventRoutes
from heard.streams.worker.mail_webhooks import add_routes as add_mail_event_routes
from heard.streams.worker.metrics import BUILD_INFO, LABELS, TIMERS_PENDING
from heard.streams.worker.opt_outs import OptOuts
from heard.streams.worker.preference_pages import PreferencePages
from heard.streams.worker.preference_pages import add_routes as add_preference_routes
from heard.streams.worker.redelivery import RedeliveryAgent
from heard.streams.worker.sink import Clock, DeadLetters, InboundRecord, Sink
from heard.streams.worker.sms_replies import SmsRepliesAgent
from heard.streams.worker.sms_status import SmsStatusAgent
from heard.streams.worker.state_cache import StateCache
from heard.streams.worker.team_notice import TeamInbox
from heard.streams.worker.timers import DueTimers
from heard.streams.worker.unsubscribe_pages import UnsubscribePages
from heard.streams.worker.unsubscribe_pages import add_routes as add_unsubscribe_routes
from heard.streams.worker.web import TwilioRoutes, public_app

log = logging.getLogger("heard.worker")
Handler = Callable[[InboundRecord], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def bind_current_event(event: Any) -> None:
    """Make `event` the current event of this task's context (Faust keeps it in a ContextVar)."""
    # Faust has no public setter for it; its own stream sets it the same way.
    faust_streams._current_event.set(weakref.ref(event))


def prepare_data_dir(folder: Path) -> None:
    """Faust writes table stores and its own state here: a fresh checkout has no folder yet,
    and an image's volume may belong to another user. Either way, say so before Faust starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"config/engine.yaml: data_dir: cannot create {folder} ({exc.strerror}); "
            "set HEARD_DATA_DIR to a folder this user can write"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"config/engine.yaml: data_dir: {folder} is not writable by uid "
            f"{os.getuid()}; set HEARD_DATA_DIR to a folder this user can write"
        )
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)  # its tables hold personal data: this user's alone


class FaustSink:
    """Hands records straight to the Kafka producer, without Faust's per-message bookkeeping.

    Durability is unchanged: before Faust commits a source offset it flushes the producer,
    so a record emitted here is acknowledged before its cause is committed.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def emit(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes] | None = None
    ) -> None:
        await self.app.producer.send(topic, key, value, partition=None, timestamp=None, headers=headers)


@dataclass(frozen=True)
class PublicSecrets:
    """What the public listener checks requests against: Twilio's auth token (empty: its
    callbacks get 403) and each mail provider's webhook key (absent: its route gets 403)."""

    twilio_auth_token: str
    mail_keys: Mapping[str, str]


@dataclass
class Tables:
    tickets: TableT[str, Any]
    due_index: TableT[str, Any]
    receipts: TableT[str, Any]
    provider_status: TableT[str, Any]
    # The latest question heard asked each phone by SMS, keyed by the number.
    sms_questions: TableT[str, Any]

    @classmethod
    def of(cls, app: faust.App, partitions: int, values: str = "json") -> Tables:
        table_codec.register()

        def table(name: str, value_type: type) -> TableT[str, Any]:
            made = app.Table(name, default=None, partitions=partitions, key_type=str, value_type=value_type)
            if value_type is str and isinstance(made, FaustTable):
                # Faust made the changelog topic (which decodes what recovery reads) with
                # the default codec; the store is made on first use.
                made.value_serializer = table_codec.CODECS[values]
                made.changelog_topic = made._new_changelog_topic()
            return made

        return cls(
            tickets=table("tickets", str),
            due_index=table("due-index", float),
            receipts=table("receipts", str),
            provider_status=table("sms-status", str),
            sms_questions=table("sms-questions", str),
        )


def faust_app(engine: EngineSettings) -> faust.App:
    if not isinstance(engine.replication_factor, int):
        raise ConfigError(
            "config/engine.yaml: replication_factor: `cluster` is resolved "
            "against the brokers before the worker is built (prepare_topics)"
        )
    faust_recovery.install()  # a restarted worker must not skip records (see the module)
    faust_producer.install()  # no record written twice by the producer's own retries
    return faust.App(
        engine.group_id,
        # heard's settings are the only ones: Faust would otherwise read its own environment
        # variables (PRODUCER_ACKS, TOPIC_REPLICATION_FACTOR, ...) over them.
        env={},
        broker=[f"kafka://{server}" for server in engine.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(engine),
        store=engine.store,
        datadir=engine.data_dir,
        topic_partitions=engine.partitions,
        topic_replication_factor=engine.replication_factor,
        processing_guarantee="at_least_once",
        table_standby_replicas=0,
        # Faust's own web server would publish its tables (customers' data) and router;
        # heard serves its own two listeners instead (streams/worker/web.py).
        web_enabled=False,
        broker_session_timeout=engine.session_timeout_seconds,
        broker_heartbeat_interval=engine.heartbeat_interval_seconds,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        Monitor=LeanMonitor,
    )


def raw_topic(app: faust.App, *names: str) -> faust.TopicT:
    return app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def one_by_one(app: faust.App, topic: faust.TopicT, name: str, handle: Handler) -> None:
    """An agent handing each record of `topic` to `handle`, in order; a record is acknowledged
    (as the next is taken) once its table writes left Faust's producer buffer."""

    async def agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await handle(event)
            await drain_buffer(app.producer)

    agent.__name__ = agent.__qualname__ = name.replace("-", "_")
    app.agent(topic, name=name, concurrency=1)(agent)


async def handle_in_batches(
    stream: faust.StreamT[bytes],
    max_records: int,
    wait_seconds: float,
    handle: Callable[[list[Any]], Awaitable[None]],
) -> None:
    """Batches of at most `max_records` events, none waiting more than `wait_seconds` to fill.

    A batch is acknowledged only once `handle` returned: an exception or a stop mid-batch
    leaves it unacknowledged, so no offset is committed past it, and a worker that starts
    again reads it again. (Faust's `take` acknowledges what it buffered when it is closed;
    its `noack_take` leaves acknowledging to the caller.)
    """
    # `within=0` would wait for a full batch however long that takes.
    batches = cast(Any, stream).noack_take(max_records, within=max(wait_seconds, 0.0005))
    async for batch in batches:
        await handle(batch)
        for event in batch:
            await stream.ack(event)


class BatchAgent(Protocol):
    async def handle_batch(
        self, records: Sequence[InboundRecord], before_each: Callable[[InboundRecord], None] = ...
    ) -> None: ...


def in_batches(
    app: faust.App,
    topic: faust.TopicT,
    name: str,
    agent: BatchAgent,
    max_records: int,
    wait_seconds: float,
) -> None:
    async def batched(stream: faust.StreamT[bytes]) -> None:
        async def handle(batch: list[Any]) -> None:
            await agent.handle_batch(batch, before_each=bind_current_event)
            # Acknowledged only once its state writes left Faust's buffer for Kafka's
            # producer, which every commit flushes first (see faust_flush).
            await drain_buffer(app.producer)

        await handle_in_batches(stream, max_records, wait_seconds, handle)

    batched.__name__ = batched.__qualname__ = name
    app.agent(topic, name=name, concurrency=1)(batched)


def delivering(app: faust.App, topic: faust.TopicT, agent: DeliveryAgent, concurrency: int) -> None:
    # A receipt is a table write, sent to its changelog in the background: the next send
    # waits for Kafka to have it (the agent's gate), so a SIGKILL repeats at most the message
    # in hand (the batch, with delivery_concurrency N), never the last few sent. The next
    # messages are parsed, checked and rendered meanwhile.
    if concurrency == 1:

        async def deliver_one_by_one(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                await agent(event)
                agent.gate.close_until(flush_fully(app.producer))

        app.agent(topic, name="deliver", concurrency=1)(deliver_one_by_one)
        return

    async def deliver(stream: faust.StreamT[bytes]) -> None:
        # Table writes find their partition through the current event; each ticket's group
        # runs in its own task, so it names its own.
        async def handle(batch: list[Any]) -> None:
            await agent.deliver_batch(batch, before_each=bind_current_event)
            agent.gate.close_until(flush_fully(app.producer))

        await handle_in_batches(stream, concurrency, 0.01, handle)

    app.agent(topic, name="deliver", concurrency=1)(deliver)


def check_team_templates(renderer: Renderer, settings: Settings) -> None:
    """Every channel carrying the team's messages has a template for each of them: a nudge
    that cannot be written would leave the team unwarned."""
    locale = settings.engine.default_locale
    missing = [
        f"{kind}/{locale}/{plugin(name).parts.text}"
        for name in settings.channels.team
        for kind in TEAM_KINDS
        if renderer.resolve(kind, locale, plugin(name).parts.text) is None
    ]
    if missing:
        raise ConfigError(
            f"config/channels.yaml: team: no template for the team's messages "
            f"by that channel: {', '.join(missing)}"
        )
    if not settings.channels.team:
        log.warning(
            "no channel carries the team's messages (config/channels.yaml team): "
            "nudges and escalations are only recorded in the decision log"
        )


def compiled_templates(settings: Settings) -> Renderer:
    """Every template compiled, and one for each team message by each team channel; any
    problem stops start-up."""
    renderer = Renderer(
        settings.engine.templates_dir,
        settings.engine.default_locale,
        sms_budget=sms_budget(Path(settings.config_dir)),
    )
    problems = renderer.compile_all()
    if problems:
        raise ConfigError("templates do not compile:\n" + "\n".join(str(p) for p in problems))
    check_team_templates(renderer, settings)
    return renderer


@dataclass(frozen=True)
class Worker:
    """What the agents of one worker share: the app, its topics and tables, the producer's
    sink, the dead letters, the consent ledger and the clock."""

    app: faust.App
    engine: EngineSettings
    topics: TopicNames
    tables: Tables
    sink: Sink
    dead_letters: DeadLetters
    ledger: ConsentLedger
    opt_outs: OptOuts
    timers: DueTimers
    clock: Clock

    @classmethod
    def of(cls, app: faust.App, engine: EngineSettings, topics: TopicNames, clock: Clock) -> Worker:
        tables = Tables.of(app, engine.partitions, engine.table_values)
        sink = FaustSink(app)
        ledger = ConsentLedger()
        return cls(
            app,
            engine,
            topics,
            tables,
            sink,
            DeadLetters(sink, topics.dead_letters, clock),
            ledger,
            OptOuts(ledger, sink, topics.consent, clock),
            DueTimers(tables.due_index),
            clock,
        )


def policy_rules(settings: Settings, routes: dict[str, dict[str, str]], renderer: Renderer) -> Rules:
    """What the policy decides by: the policy's settings, the channels, the team's routes and
    the languages each kind has templates in. Each team a route names gets its metrics."""
    engine = settings.engine
    LABELS.know_teams(
        {
            *engine.metric_teams,
            *settings.policy.team_calendars,
            *(name.split(":")[-1] for each in routes.values() for name in each),
        }
    )
    return Rules(
        policy=settings.policy,
        enabled_channels=tuple(settings.channels.enabled),
        internal_recipients=dict(routes.get("email", {})),
        team_channels=tuple(settings.channels.team),
        team_routes=routes,
        default_locale=engine.default_locale,
        template_locales=renderer.locales_by_kind(),
        feedback=settings.feedback,
    )


def build_app(
    settings: Settings,
    channels: dict[str, Channel],
    *,
    clock: Clock = utc_now,
    twilio_auth_token: str = "",
    links: ReplyLinks | None = None,
    mail_keys: Mapping[str, str] | None = None,
    notes: NoteWriter | None = None,
) -> faust.App:
    engine = settings.engine
    BUILD_INFO.info({"version": installed_version()})
    STAGES.register(REGISTRY)
    topics = prefixed_topics(engine)
    renderer = compiled_templates(settings)
    routes = team_routes(settings.channels)
    rules = policy_rules(settings, routes, renderer)
    delivery = Delivery(
        renderer, channels, settings.channels.retry, settings.policy.fallback_to_other_channel, links=links
    )
    templates = published_templates(settings, renderer)
    templates.listeners.append(delivery.use)

    prepare_data_dir(Path(engine.data_dir))
    worker = Worker.of(faust_app(engine), engine, topics, clock)
    app, tables, sink, ledger = worker.app, worker.tables, worker.sink, worker.ledger
    bind_lifecycle(worker, rules)
    team = TeamInbox(
        {name: route for name, route in routes.items() if name in channels},
        engine.default_locale,
        settings.policy.team_timezone,
    )
    bind_delivery(
        worker, settings, delivery, team, keep_sent_emails=bool(mail_keys), templates_ready=templates.ready
    )
    bind_sms_reports(worker, preference_pages=links is not None)
    bind_mail_events(worker, delivery, team)
    if notes is not None:
        bind_helpdesk_notes(worker, settings, notes)
    lag_probe = add_timers(app, engine, topics, worker.timers, tables, sink, clock)
    add_services(
        app,
        settings,
        channels,
        topics,
        ledger,
        templates,
        links,
        clock,
        PublicSecrets(twilio_auth_token, dict(mail_keys or {})),
        lag_probe,
    )
    return app


def published_templates(settings: Settings, folder: Renderer) -> PublishedTemplates:
    """The templates messages render with: the published version (laid out under the data
    folder), or the templates folder while nothing is published."""
    budget = sms_budget(Path(settings.config_dir))
    return PublishedTemplates(
        folder,
        Path(settings.engine.data_dir) / "templates",
        lambda laid_out, version: Renderer(laid_out, settings.engine.default_locale, budget, version),
    )


def bind_lifecycle(worker: Worker, rules: Rules) -> None:
    """Ticket events and timers, in batches, through the policy."""
    engine = worker.engine
    in_batches(
        worker.app,
        raw_topic(worker.app, worker.topics.ticket_events, worker.topics.timers),
        "lifecycle",
        LifecycleAgent(
            rules=rules,
            engine=engine,
            topics=worker.topics,
            tickets=worker.tables.tickets,
            timers=worker.timers,
            states=StateCache(engine.state_cache_size),
            sink=worker.sink,
            dead_letters=worker.dead_letters,
            clock=worker.clock,
        ),
        engine.batch_max_records,
        engine.batch_wait_ms / 1000,
    )


def bind_delivery(
    worker: Worker,
    settings: Settings,
    delivery: Delivery,
    team: TeamInbox,
    *,
    keep_sent_emails: bool = False,
    templates_ready: asyncio.Event | None = None,
) -> None:
    """The outbox, several messages at a time; each deferred-retry topic back into it."""
    app, topics, engine = worker.app, worker.topics, worker.engine
    deferred = [(wait, retry_topic(engine, wait)) for wait in settings.channels.retry.deferred_seconds]
    delivering(
        app,
        raw_topic(app, topics.outbound),
        DeliveryAgent(
            delivery=delivery,
            topics=topics,
            deferred=deferred,
            receipts=worker.tables.receipts,
            ledger=worker.ledger,
            opt_outs=worker.opt_outs,
            team=team,
            reply_window_days=settings.feedback.reply_window_days,
            sink=worker.sink,
            dead_letters=worker.dead_letters,
            clock=worker.clock,
            keep_sent_emails=keep_sent_emails,
            templates_ready=templates_ready,
        ),
        engine.delivery_concurrency,
    )
    redelivery = RedeliveryAgent(
        outbound=topics.outbound, sink=worker.sink, dead_letters=worker.dead_letters, clock=worker.clock
    )
    for wait, name in dict(deferred).items():
        one_by_one(app, raw_topic(app, name), f"redeliver-{wait:g}s", redelivery)


def bind_sms_reports(worker: Worker, *, preference_pages: bool = False) -> None:
    """Twilio's status reports and the customers' texts, as the public listener wrote them;
    with the preference pages served, the keyword texted back gets the link."""
    app, topics = worker.app, worker.topics
    one_by_one(
        app,
        raw_topic(app, topics.sms_status),
        "sms-status-reports",
        SmsStatusAgent(
            provider_status=worker.tables.provider_status,
            opt_outs=worker.opt_outs,
            notification_events=topics.notification_events,
            sink=worker.sink,
            dead_letters=worker.dead_letters,
        ),
    )
    one_by_one(
        app,
        raw_topic(app, topics.sms_inbound),
        "sms-replies",
        SmsRepliesAgent(
            questions=worker.tables.sms_questions,
            ticket_events=topics.ticket_events,
            sink=worker.sink,
            dead_letters=worker.dead_letters,
            preference_pages=preference_pages,
        ),
    )


def bind_helpdesk_notes(worker: Worker, settings: Settings, notes: NoteWriter) -> None:
    """What heard said and heard, written back to the help desk's tickets in batches."""
    writeback = settings.connectors.writeback
    assert writeback is not None  # the writer is made from it
    source = settings.connectors.sources.get(writeback.helpdesk)
    in_batches(
        worker.app,
        raw_topic(worker.app, worker.topics.notification_events, worker.topics.replies),
        "helpdesk-notes",
        HelpdeskNotesAgent(
            writer=notes,
            topics=worker.topics,
            dead_letters=worker.dead_letters,
            ticket_prefix=source.ticket_prefix if source else "",
            wording=NoteWording(writeback.language, ZoneInfo(settings.policy.team_timezone)),
        ),
        max_records=1000,
        wait_seconds=writeback.batch_seconds,
    )

    @worker.app.on_before_shutdown.connect
    async def close_notes(sender: Any, /, *_: Any, **__: Any) -> None:
        await notes.aclose()


def bind_mail_events(worker: Worker, delivery: Delivery, team: TeamInbox) -> None:
    """Mail providers' bounces and complaints, as the public listener wrote them, by ticket:
    the topic has the outbox's partitions, so each email's receipt is at hand."""
    one_by_one(
        worker.app,
        raw_topic(worker.app, worker.topics.mail_events),
        "mail-events",
        MailEventsAgent(
            receipts=worker.tables.receipts,
            delivery=delivery,
            topics=worker.topics,
            team=team,
            sink=worker.sink,
            dead_letters=worker.dead_letters,
            clock=worker.clock,
        ),
    )


def add_timers(
    app: faust.App,
    engine: EngineSettings,
    topics: TopicNames,
    timers: DueTimers,
    tables: Tables,
    sink: Sink,
    clock: Clock,
) -> LagProbe:
    @tables.due_index.on_recover
    async def rebuild_due_heap() -> None:
        log.info("timers restored: %d tickets with something due", timers.rebuild())

    @app.timer(interval=engine.sweep_interval_seconds)  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        """Emit a timer event for each ticket now due; the agent re-checks before acting."""
        TIMERS_PENDING.set(len(timers))
        for timer in timers.due(clock()):
            await sink.emit(topics.timers, timer.ticket_id.encode(), event_to_json(timer))

    lag_probe = LagProbe(engine)

    @app.timer(interval=engine.lag_interval_seconds)  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        await lag_probe.publish()

    @app.on_before_shutdown.connect
    async def close_lag_probe(sender: Any, /, *_: Any, **__: Any) -> None:
        await lag_probe.close()
        # Where this worker's time went, µs per run of each stage (read by the benchmark).
        log.info("stage times: %s", json.dumps(STAGES.summary()))

    return lag_probe


def durable_publisher(app: faust.App, name: str) -> Callable[[bytes, bytes], Awaitable[None]]:
    topic = raw_topic(app, name)

    async def publish(key: bytes, value: bytes) -> None:
        # Wait for the broker's acknowledgement: the HTTP answer promises durability.
        pending = await topic.send(key=key, value=value)
        await pending

    return publish


def not_ready_because(
    app: faust.App,
    ledger: ConsentLedger,
    lag_probe: LagProbe | None = None,
    templates_ready: asyncio.Event | None = None,
) -> list[str]:
    waiting = []
    silent = lag_probe.unanswered_for() if lag_probe is not None else None
    if lag_probe is not None and silent is not None and silent >= lag_probe.patience:
        waiting.append(
            f"Kafka has not answered for {silent:.0f} s (its partitions' leaders are out of reach)"
        )
    if not cast(Any, app.tables).recovery.completed.is_set():
        waiting.append("tables are being recovered")
    if not ledger.ready.is_set():
        waiting.append("the consent ledger is loading")
    if templates_ready is not None and not templates_ready.is_set():
        waiting.append("the published templates are being read")
    if app.rebalancing:
        waiting.append("partitions are being rebalanced")
    return waiting


def add_services(
    app: faust.App,
    settings: Settings,
    channels: dict[str, Channel],
    topics: TopicNames,
    ledger: ConsentLedger,
    templates: PublishedTemplates,
    links: ReplyLinks | None,
    clock: Clock,
    secrets: PublicSecrets,
    lag_probe: LagProbe | None = None,
) -> None:
    """The consent and published-templates followers, the two HTTP listeners, and closing it
    all down."""
    engine = settings.engine
    follower_stop = asyncio.Event()
    http_runners: list[Any] = []

    @app.task  # type: ignore[untyped-decorator]
    async def follow_consent() -> None:
        await keep_following_consent(ledger, engine, topics.consent, follower_stop)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_templates() -> None:
        await keep_following_published(templates, engine, topics.templates, follower_stop)

    @app.on_before_shutdown.connect
    async def close_channels(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        follower_stop.set()
        for runner in http_runners:
            await runner.cleanup()
        for name, channel in channels.items():
            log.info("closing the %s channel", name)
            await channel.aclose()
        log.info("channels closed")

    if not engine.web.enabled:
        return
    public = public_listener(app, settings, topics, ledger, templates, links, clock, secrets)
    ready = ops_app(lambda: not_ready_because(app, ledger, lag_probe, templates.ready))

    @app.task  # type: ignore[untyped-decorator]
    async def serve_http() -> None:
        web_cfg = engine.web
        http_runners.append(
            await serve_http_app(
                public,
                web_cfg.host,
                web_cfg.port,
                ListenerLimits(
                    "public", web_cfg.header_seconds, web_cfg.request_seconds, web_cfg.max_connections
                ),
            )
        )
        http_runners.append(await serve_http_app(ready, web_cfg.ops_host, web_cfg.ops_port, OPS_LIMITS))


def public_listener(
    app: faust.App,
    settings: Settings,
    topics: TopicNames,
    ledger: ConsentLedger,
    templates: PublishedTemplates,
    links: ReplyLinks | None,
    clock: Clock,
    secrets: PublicSecrets,
) -> web.Application:
    """What the internet reaches: Twilio's callbacks, the mail providers' events, and the
    signed answer pages when answer links are on."""
    public = public_app(
        TwilioRoutes(
            public_base_url=settings.channels.sms.public_base_url,
            auth_token=secrets.twilio_auth_token,
            ledger=ledger,
            clock=clock,
            publish_status=durable_publisher(app, topics.sms_status),
            publish_consent=durable_publisher(app, topics.consent),
            publish_inbound=durable_publisher(app, topics.sms_inbound),
        )
    )
    add_mail_event_routes(
        public,
        MailEventRoutes(
            keys=secrets.mail_keys,
            email=settings.channels.email,
            ledger=ledger,
            publish_consent=durable_publisher(app, topics.consent),
            publish_event=durable_publisher(app, topics.mail_events),
            clock=clock,
        ),
    )
    if links is not None:
        email = settings.channels.email
        pages = AnswerPages(
            links,
            templates.renderer,
            settings.engine.default_locale,
            clock=clock,
            publish_event=durable_publisher(app, topics.ticket_events),
            brand=Brand(email.brand_name(), email.pages.accent_color),
        )
        add_answer_routes(public, pages)
        templates.listeners.append(pages.use)
        add_unsubscribe_routes(
            public, UnsubscribePages(pages, ledger, durable_publisher(app, topics.consent), clock)
        )
        add_preference_routes(
            public, PreferencePages(pages, durable_publisher(app, topics.ticket_events), clock)
        )
    return public
