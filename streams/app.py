"""The Faust worker: a thin shell around the pure policy and the delivery layer.

Agents run with concurrency 1 and `at_least_once`; duplicates are absorbed by
event-id dedupe in the ticket state and by the receipts table.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import os
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import faust
import faust.streams as faust_streams
from prometheus_client import Counter, Gauge, Histogram, Info

from heard.channels.base import Channel
from heard.channels.sms_twilio import OPTED_OUT
from heard.channels.twilio_webhooks import STATUS_RANK
from heard.streams import faust_recovery
from heard.streams.answer_pages import AnswerPages
from heard.streams.answer_pages import add_routes as add_answer_routes
from heard.streams.consent import ConsentLedger, ConsentUpdate
from heard.streams.consent import keep_following as keep_following_consent
from heard.streams.delivery import Delivery, DeliveryOutcome
from heard.streams.kafka_client import faust_credentials
from heard.streams.lag import LagProbe
from heard.streams.links import ReplyLinks
from heard.streams.policy import Rules, decide
from heard.streams.records import InvalidEvent, TimerDue, event_to_json, parse_event
from heard.streams.redaction import redact
from heard.streams.rendering import Renderer
from heard.streams.replies import event_for_text, question_asked
from heard.streams.settings import ConfigError, Settings
from heard.streams.state import Notification, PromiseRecord, Question, notification_id
from heard.streams.state_cache import StateCache
from heard.streams.topics import retry_topic, topic_names
from heard.streams.version import installed_version
from heard.streams.web import TwilioRoutes, ops_app, public_app
from heard.streams.web import serve as serve_http_app

log = logging.getLogger("heard.worker")
Clock = Callable[[], datetime]

DEAD_LETTERS = Counter("heard_dead_letters_total", "Records sent to the dead-letter topic",
                       ["stage"])
EVENTS = Counter("heard_events_total", "Ticket events applied", ["type"])
AGENT_FAILURES = Counter("heard_record_failures_total",
                         "Records an agent could not handle (each became a dead letter)", ["stage"])
DELIVERIES = Counter("heard_deliveries_total", "Delivery outcomes", ["channel", "status"])
PROMISES = Counter("heard_promises_total", "Promise status changes (made = pending)",
                   ["team", "agent", "status"])
REPLIES = Counter("heard_customer_replies_total", "Customers' answers recorded",
                  ["record", "via"])
BUILD_INFO = Info("heard_build", "The heard version this worker runs")
DELIVERY_SECONDS = Histogram("heard_delivery_seconds",
                             "From the decision to the provider accepting the message",
                             ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                                                   300, 1800, 7200))
SMS_SEGMENTS = Counter("heard_sms_segments_total", "SMS parts sent (what the provider bills)")
TEMPLATE_ERRORS = Counter("heard_template_errors_total",
                          "Messages not sent because their template failed", ["kind"])
TIMERS_PENDING = Gauge("heard_timers_pending",
                       "Timer entries this worker holds (superseded ones go when reached)")
TIMER_LATENESS = Histogram("heard_timer_lateness_seconds",
                           "From a timer's due time to the agent acting on it",
                           buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800))
LATENESS = Histogram("heard_promise_lateness_seconds",
                     "How late a promise was kept (0 when on time)", ["team"],
                     buckets=(0, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400))
FIRST_ACK = Histogram("heard_first_acknowledgment_seconds",
                      "From ticket created to heard's first message to the customer", ["team"],
                      buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400))


TIMER_RECHECK_SECONDS = 5.0
# A delivery waiting longer than this for the consent ledger says so in the log.
LEDGER_PATIENCE_SECONDS = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def bind_current_event(event: Any) -> None:
    """Make `event` the current event of this task's context (Faust keeps it in a ContextVar)."""
    # Faust has no public setter for it; its own stream sets it the same way.
    faust_streams._current_event.set(weakref.ref(event))


def observe_promise(record: PromiseRecord) -> None:
    # Labels are bounded and carry no personal data: the agent's id, never their name (an
    # agent without an id counts as "unknown"); a promise without a team as "none".
    team = record.team or "none"
    PROMISES.labels(team, record.agent_id or "unknown", record.status).inc()
    if record.status in ("kept", "kept_late") and record.settled_at is not None:
        LATENESS.labels(team).observe(max(0.0, (record.settled_at - record.due_at).total_seconds()))


def prepare_data_dir(folder: Path) -> None:
    """Faust writes table stores and its own state here: a fresh checkout has no folder yet,
    and an image's volume may belong to another user. Either way, say so before Faust starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"config/engine.yaml: data_dir: cannot create {folder} ({exc.strerror}); "
                          "set HEARD_DATA_DIR to a folder this user can write") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"config/engine.yaml: data_dir: {folder} is not writable by uid "
                          f"{os.getuid()}; set HEARD_DATA_DIR to a folder this user can write")


def build_app(settings: Settings, channels: dict[str, Channel], *,
              clock: Clock = utc_now, twilio_auth_token: str = "",
              links: ReplyLinks | None = None) -> faust.App:
    engine = settings.engine
    BUILD_INFO.info({"version": installed_version()})
    faust_recovery.install()  # a restarted worker must not skip records (see the module)
    names = topic_names(engine)
    renderer = Renderer(engine.templates_dir, engine.default_locale)
    problems = renderer.compile_all()
    if problems:
        raise ConfigError("templates do not compile:\n" + "\n".join(str(p) for p in problems))
    rules = Rules(policy=settings.policy, enabled_channels=tuple(settings.channels.enabled),
                  internal_recipients=dict(settings.channels.email.internal_recipients),
                  default_locale=engine.default_locale,
                  template_locales=renderer.locales_by_kind(), feedback=settings.feedback)
    delivery = Delivery(renderer, channels, settings.channels.retry,
                        settings.policy.fallback_to_other_channel, links=links)

    prepare_data_dir(Path(engine.data_dir))
    app = faust.App(
        engine.app_id,
        broker=[f"kafka://{server}" for server in engine.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(engine),
        store=engine.store,
        datadir=engine.data_dir,
        topic_partitions=engine.partitions,
        topic_replication_factor=engine.replication_factor,
        processing_guarantee="at_least_once",
        table_standby_replicas=0,
        # Faust's own web server would publish its tables (customers' data) and router;
        # heard serves its own two listeners instead (streams/web.py).
        web_enabled=False,
        broker_session_timeout=engine.session_timeout_seconds,
        broker_heartbeat_interval=engine.heartbeat_interval_seconds,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
    )

    def raw_topic(*topic: str) -> faust.TopicT:
        return app.topic(*topic, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw")

    incoming = raw_topic(names["ticket_events"], names["timers"])
    ticket_events = raw_topic(names["ticket_events"])
    timers_topic = raw_topic(names["timers"])
    outbound = raw_topic(names["outbound"])
    notification_events = raw_topic(names["notification_events"])
    dead_letters = raw_topic(names["dead_letters"])
    consent_topic = raw_topic(names["consent"])
    sms_status = raw_topic(names["sms_status"])
    sms_inbound = raw_topic(names["sms_inbound"])
    deferred_waits = list(settings.channels.retry.deferred_seconds)
    retry_topics = {wait: raw_topic(retry_topic(engine, wait)) for wait in deferred_waits}

    tickets = app.Table("tickets", default=None, partitions=engine.partitions,
                        key_type=str, value_type=str)
    due_index = app.Table("due-index", default=None, partitions=engine.partitions,
                          key_type=str, value_type=float)
    receipts = app.Table("receipts", default=None, partitions=engine.partitions,
                         key_type=str, value_type=str)
    provider_status = app.Table("sms-status", default=None, partitions=engine.partitions,
                                key_type=str, value_type=str)
    # The latest question heard asked each phone by SMS (options, the closure's rating),
    # keyed by the number, on the same partitions as the texts that answer it.
    sms_questions = app.Table("sms-questions", default=None, partitions=engine.partitions,
                              key_type=str, value_type=str)

    async def dead_letter(raw: bytes, key: bytes | None, reason: str, stage: str,
                          message: Any) -> None:
        DEAD_LETTERS.labels(stage).inc()
        reason = redact(reason)
        log.warning("dead letter (%s): %s", stage, reason)
        headers = {
            "heard-reason": reason.encode()[:4000],
            "heard-stage": stage.encode(),
            "heard-source-topic": str(message.topic).encode(),
            "heard-source-partition": str(message.partition).encode(),
            "heard-source-offset": str(message.offset).encode(),
            "heard-at": clock().isoformat().encode(),
        }
        await dead_letters.send(key=key, value=raw, headers=headers)

    states = StateCache(engine.state_cache_size)

    async def emit(topic: str, key: bytes, value: bytes) -> None:
        """Hand a record to the Kafka producer, without Faust's per-message bookkeeping.

        Durability is unchanged: before Faust commits a source offset it flushes the
        producer, so a record emitted here is acknowledged before its cause is committed.
        """
        await app.producer.send(topic, key, value, partition=None, timestamp=None,
                                headers=None)

    async def survive(stage: str, event: Any, handle: Callable[[Any], Awaitable[None]],
                      on_failure: Callable[[Any, str], Awaitable[None]] | None = None) -> None:
        """Handle one record; whatever goes wrong, the record ends as a dead letter with the
        reason, never as an agent crash that commits past it. Cancellation still stops."""
        try:
            await handle(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of one record must not take the record with it
            AGENT_FAILURES.labels(stage).inc()
            reason = f"{stage} could not handle the record: {type(exc).__name__}: {exc}"
            log.error("%s (topic %s, partition %s, offset %s)", redact(reason),
                      event.message.topic, event.message.partition, event.message.offset)
            if on_failure is not None:
                await on_failure(event, reason)
            await dead_letter(event.value, event.key, reason, stage, event.message)

    @app.agent(incoming, concurrency=1)
    async def lifecycle(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await survive("lifecycle", event, handle_ticket_event)

    async def handle_ticket_event(event: Any) -> None:
        raw: bytes = event.value
        key: bytes | None = event.key
        internal = event.message.topic == names["timers"]
        try:
            parsed = parse_event(raw, internal=internal, max_bytes=engine.max_event_bytes)
        except InvalidEvent as exc:
            await dead_letter(raw, key, str(exc), "lifecycle", event.message)
            return
        if key != parsed.ticket_id.encode():
            # One worker owns a ticket only if every event of it lands on one partition.
            await dead_letter(raw, key, f"Kafka key {key!r} is not the ticket_id "
                              f"{parsed.ticket_id!r} (key each event by its ticket_id)",
                              "lifecycle", event.message)
            return
        ticket_id = parsed.ticket_id
        ahead = (parsed.occurred_at - clock()).total_seconds()
        if not isinstance(parsed, TimerDue) and ahead > engine.max_event_future_seconds:
            await dead_letter(raw, key, f"occurred_at is {ahead:.0f} s in the future (more than "
                              f"engine.max_event_future_seconds); is the producer's clock "
                              "right?", "lifecycle", event.message)
            return
        if isinstance(parsed, TimerDue):
            # Timers acted on late mean this worker cannot keep up: alert on it.
            TIMER_LATENESS.observe(max(0.0, (clock() - parsed.due_at).total_seconds()))
        state = states.load(ticket_id, tickets.get(ticket_id))
        try:
            outcome = decide(state, parsed, clock(), rules, in_place=True)
        except BaseException:  # any exit mid-decision, cancellation too; re-raised
            states.forget(ticket_id)
            raise
        # The questions asked of erased phones go too: no number keeps pointing at the ticket.
        for phone in outcome.forgotten_phones:
            await emit(names["sms_inbound"], phone.encode(), json.dumps(
                {"record": "forget", "phone": phone, "ticket_id": ticket_id}).encode())
        if outcome.forget:
            # Tombstones in the changelogs: the ticket's data is gone from every replica.
            states.forget(ticket_id)
            if tickets.get(ticket_id) is not None:
                del tickets[ticket_id]
            if due_index.get(ticket_id) is not None:
                del due_index[ticket_id]
        elif outcome.changed:
            stored = outcome.state.to_json().decode()
            tickets[ticket_id] = stored
            states.keep(ticket_id, stored, outcome.state)
            next_due = outcome.state.next_due()
            due = next_due.timestamp() if next_due is not None else None
            # Most events leave the due time alone; an unchanged value is not rewritten.
            if due != due_index.get(ticket_id):
                if due is None:
                    del due_index[ticket_id]
                else:
                    due_index[ticket_id] = due
                    heapq.heappush(due_heap, (due, ticket_id))
        EVENTS.labels(parsed.type).inc()
        ticket_key = ticket_id.encode()
        for notification in outcome.notifications:
            await emit(names["outbound"], ticket_key, notification.model_dump_json().encode())
        for line in outcome.decisions:
            await emit(names["decisions"], ticket_key, line.model_dump_json().encode())
        for record in outcome.promise_records:
            observe_promise(record)
            await emit(names["promises"], ticket_key, record.model_dump_json().encode())
        if outcome.first_acknowledgment is not None:
            first = outcome.first_acknowledgment
            FIRST_ACK.labels(first.team or "none").observe(first.seconds)
            await emit(names["promises"], ticket_key, first.model_dump_json().encode())
        for transfer in outcome.transfers:
            await emit(names["promises"], ticket_key, transfer.model_dump_json().encode())
        for reply in outcome.replies:
            REPLIES.labels(reply.record, getattr(reply, "via", "")).inc()
            await emit(names["replies"], ticket_key, reply.model_dump_json().encode())

    async def publish(outcome: DeliveryOutcome, key: bytes) -> None:
        n = outcome.notification
        DELIVERIES.labels(n.channel, outcome.status).inc()
        if outcome.receipt is not None:
            DELIVERY_SECONDS.labels(n.channel).observe(
                max(0.0, (outcome.receipt.accepted_at - n.decided_at).total_seconds()))
        if outcome.segments:
            SMS_SEGMENTS.inc(outcome.segments)
        if outcome.status == "failed" and outcome.reason.startswith("template:"):
            TEMPLATE_ERRORS.labels(n.kind).inc()
        await emit(names["notification_events"], key, json.dumps(outcome.event()).encode())

    async def record_opt_out(channel: str, address: str, source: str) -> None:
        kind: Literal["sms", "email"] = "sms" if channel == "sms" else "email"
        previous = ledger.current(kind, address)
        # The messages already handled stay remembered, so no replay can undo this either.
        update = ConsentUpdate(kind, address, False, clock(), source,
                               previous.handled if previous else ())
        ledger.apply(update)
        await consent_topic.send(key=update.key.encode(), value=update.to_json())

    team_addresses = settings.channels.email.internal_recipients

    async def tell_the_team(n: Notification, reason: str, key: bytes | None) -> None:
        """No customer message is lost in silence: when none of the customer's consented
        channels can carry it, the team and the lead are told, by email, what and why."""
        if n.audience != "customer" or "email" not in channels:
            return
        if reason.startswith("template:"):
            # heard's own fault, not the customer's reachability: the dead letter names the
            # file and line, and a replay after the fix sends the message.
            return
        customer = n.context.get("customer") or {}
        for audience, address in (("agent", team_addresses.get("default")),
                                  ("lead", team_addresses.get("lead"))):
            if not address:
                continue
            note = Notification(
                notification_id=notification_id(n.ticket_id, "customer_unreachable",
                                                n.notification_id, "email", audience),
                ticket_id=n.ticket_id, kind="customer_unreachable", audience=audience,
                channel="email", recipient=address, locale=engine.default_locale,
                timezone=settings.policy.team_timezone, trigger_event_id=n.notification_id,
                decided_at=clock(),
                context={"ticket": {"id": n.ticket_id,
                                    "subject": (n.context.get("ticket") or {}).get("subject", "")},
                         "customer": {"greeting_name": customer.get("greeting_name", "")},
                         "undelivered": {"kind": n.kind, "channel": n.channel,
                                         "reason": redact(reason)},
                         "sent_at": clock().isoformat()})
            await outbound.send(key=key or n.ticket_id.encode(),
                                value=note.model_dump_json().encode())

    async def defer_or_fail(outcome: DeliveryOutcome, raw: bytes, key: bytes | None,
                            message: Any) -> None:
        n = outcome.notification
        if outcome.retryable and n.delivery_round < len(deferred_waits):
            wait = deferred_waits[n.delivery_round]
            later = n.model_copy(update={
                "delivery_round": n.delivery_round + 1,
                "not_before": clock() + timedelta(seconds=wait),
            })
            outcome.status = "deferred"
            outcome.reason = f"{outcome.reason}; trying again in {wait:g} s"
            await retry_topics[wait].send(key=key, value=later.model_dump_json().encode())
            return
        await dead_letter(raw, key, outcome.reason, "delivery", message)
        if outcome.fallback is not None:
            await outbound.send(key=key, value=outcome.fallback.model_dump_json().encode())
        else:
            await tell_the_team(outcome.notification, outcome.reason, key)

    async def deliver_one(event: Any) -> None:
        raw: bytes = event.value
        key = event.key
        try:
            notification = Notification.model_validate_json(raw)
        except ValueError as exc:
            await dead_letter(raw, key, f"not a notification record: {exc}", "delivery",
                              event.message)
            return
        if receipts.get(notification.notification_id) is not None:
            log.info("notification %s already delivered; not sending again",
                     notification.notification_id)
            return
        # Never text someone whose STOP this worker has not finished reading.
        if not ledger.ready.is_set():
            try:
                await asyncio.wait_for(ledger.ready.wait(), LEDGER_PATIENCE_SECONDS)
            except TimeoutError:  # still waiting: say so once, then keep waiting
                log.warning("deliveries are waiting for the consent ledger (%s is still being "
                            "read)", names["consent"])
                await ledger.ready.wait()
        refusal = ledger.refusal(notification.channel, notification.recipient)
        if refusal is not None:
            outcome = delivery.suppressed(
                notification, f"the recipient withdrew {notification.channel} consent at "
                f"{refusal.at.isoformat()} ({refusal.source.split(':')[0]})")
            await publish(outcome, key or notification.ticket_id.encode())
            if outcome.fallback is not None:
                await outbound.send(key=key, value=outcome.fallback.model_dump_json().encode())
            else:
                await tell_the_team(notification, outcome.reason, key)
            return
        outcome = await delivery.deliver(notification)
        if outcome.status == "sent" and outcome.receipt is not None:
            question = question_asked(notification, outcome.receipt.accepted_at,
                                      settings.feedback.reply_window_days)
            if question is not None:
                # Keyed by the phone: the worker that reads the answer finds it there.
                await emit(names["sms_inbound"], question.phone.encode(),
                           question.model_dump_json().encode())
            receipts[notification.notification_id] = json.dumps({
                "provider_id": outcome.receipt.provider_id,
                "channel": outcome.receipt.channel,
                "accepted_at": outcome.receipt.accepted_at.isoformat(),
                "template_hashes": outcome.template_hashes,
            })
        if outcome.opted_out:
            await record_opt_out(notification.channel, notification.recipient,
                                 f"provider-refusal:{notification.notification_id}")
        if outcome.status == "failed":
            await defer_or_fail(outcome, raw, key, event.message)
        await publish(outcome, key or notification.ticket_id.encode())

    async def report_failed_delivery(event: Any, reason: str) -> None:
        """A decided message that could not be delivered still gets an outcome (`failed`,
        with the reason) and goes by the customer's other consented channel if there is one."""
        try:
            notification = Notification.model_validate_json(event.value)
        except ValueError:
            return  # not a notification at all: the dead letter says so
        outcome = delivery.failed(notification, reason)
        await publish(outcome, event.key or notification.ticket_id.encode())
        if outcome.fallback is not None:
            await outbound.send(key=event.key, value=outcome.fallback.model_dump_json().encode())
        else:
            await tell_the_team(notification, reason, event.key)

    async def deliver_in_order(events: list[Any]) -> None:
        """One ticket's messages, in their order; runs beside other tickets' groups."""
        for event in events:
            # Table writes find their partition through the current event; each group
            # runs in its own task (its own context), so it names its own event.
            bind_current_event(event)
            await survive("delivery", event, deliver_one, on_failure=report_failed_delivery)

    @app.agent(outbound, concurrency=1)
    async def deliver(stream: faust.StreamT[bytes]) -> None:
        # A receipt is a table write, sent to its changelog in the background: wait for Kafka
        # to have it before the next send, so a SIGKILL repeats at most the message in hand
        # (at most the batch with delivery_concurrency N), never the last few sent.
        if engine.delivery_concurrency == 1:
            async for event in stream.events():
                await survive("delivery", event, deliver_one, on_failure=report_failed_delivery)
                await app.producer.flush()
            return
        # Up to `delivery_concurrency` messages in flight, grouped by ticket so one
        # ticket's messages keep their order. Offsets are acknowledged once the whole
        # batch is done, so a crash re-delivers the batch and receipts absorb it.
        batches = cast(Any, stream).take_events(engine.delivery_concurrency, within=0.01)
        async for batch in batches:
            groups: dict[Any, list[Any]] = {}
            for event in batch:
                groups.setdefault(event.key, []).append(event)
            await asyncio.gather(*(deliver_in_order(group) for group in groups.values()))
            await app.producer.flush()

    def redeliver_agent(wait: float, topic: faust.TopicT) -> None:
        async def redeliver(stream: faust.StreamT[bytes]) -> None:
            """Hold each deferred message until its time, then hand it back to `deliver`.

            One topic per wait keeps each partition in due order; the offset is committed
            only after the hand-back, so a crash while waiting loses nothing.
            """
            async for event in stream.events():
                await survive("redelivery", event, hand_back)

        async def hand_back(event: Any) -> None:
            try:
                notification = Notification.model_validate_json(event.value)
            except ValueError as exc:
                await dead_letter(event.value, event.key, f"not a notification record: {exc}",
                                  "redelivery", event.message)
                return
            if notification.not_before is not None:
                delay = (notification.not_before - clock()).total_seconds()
                if delay > 0:
                    await asyncio.sleep(delay)  # the retry topic's wait: the record holds until not_before
            await outbound.send(key=event.key, value=event.value)

        redeliver.__name__ = redeliver.__qualname__ = f"redeliver_{wait:g}s"
        app.agent(topic, name=f"redeliver-{wait:g}s", concurrency=1)(redeliver)

    for wait, topic in retry_topics.items():
        redeliver_agent(wait, topic)

    @app.agent(sms_status, concurrency=1)
    async def sms_status_reports(stream: faust.StreamT[bytes]) -> None:
        """Forward-only status per message: a late "sent" never overwrites "delivered"."""
        async for event in stream.events():
            await survive("sms-status", event, apply_status_report)

    async def apply_status_report(event: Any) -> None:
        try:
            report = json.loads(event.value)
            rank = STATUS_RANK[report["status"]]
            sid = str(report["message_sid"])
        except (ValueError, KeyError, TypeError) as exc:
            await dead_letter(event.value, event.key, f"not a status report: {exc}",
                              "sms-status", event.message)
            return
        known = provider_status.get(sid)
        if known is not None and rank <= STATUS_RANK.get(known, -1):
            log.debug("status %s for %s ignored: already %s", report["status"], sid, known)
            return
        provider_status[sid] = report["status"]
        if str(report.get("error_code")) == str(OPTED_OUT) and report.get("to"):
            await record_opt_out("sms", str(report["to"]), f"twilio-status:{sid}")
        ticket = report.get("ticket_id") or ""
        DELIVERIES.labels("sms", report["status"]).inc()
        await notification_events.send(key=ticket.encode(), value=json.dumps({
            "notification_id": report.get("notification_id"), "ticket_id": ticket,
            "channel": "sms", "status": report["status"], "provider_id": sid,
            "error_code": report.get("error_code"), "reason": "provider status report",
            "at": report.get("at"),
        }).encode())

    @app.agent(sms_inbound, concurrency=1)
    async def sms_replies(stream: faust.StreamT[bytes]) -> None:
        """Texts customers send, and the questions heard asked them: a text that answers the
        latest question to its number becomes a choice or feedback on that ticket."""
        async for event in stream.events():
            await survive("sms-replies", event, read_sms_reply)

    async def read_sms_reply(event: Any) -> None:
        try:
            record = json.loads(event.value)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if record.get("record") == "question":
                question = Question.model_validate(record)
                sms_questions[question.phone] = question.model_dump_json()
                return
            if record.get("record") == "forget":
                forget_question(str(record["phone"]), str(record["ticket_id"]))
                return
            phone, sid = str(record["from"]), str(record["message_sid"])
            body, at = str(record.get("body") or ""), datetime.fromisoformat(record["at"])
        except (ValueError, KeyError, TypeError) as exc:  # a record of the wrong shape: dead letter
            await dead_letter(event.value, event.key, f"not an inbound text or question: {exc}",
                              "sms-replies", event.message)
            return
        stored = sms_questions.get(phone)
        if stored is None:
            log.info("inbound text %s answers no question heard asked; left for the team", sid)
            return
        question = Question.model_validate_json(stored)
        answer, why = event_for_text(question, sid, body, at)
        log.info("inbound text %s: %s", sid, why)
        if at > question.expires_at:
            forget_question(phone, question.ticket_id)
        if answer is not None:
            await emit(names["ticket_events"], answer["ticket_id"].encode(),
                       json.dumps(answer).encode())

    def forget_question(phone: str, ticket_id: str) -> None:
        stored = sms_questions.get(phone)
        if stored is not None and Question.model_validate_json(stored).ticket_id == ticket_id:
            del sms_questions[phone]

    ledger = ConsentLedger()
    follower_stop = asyncio.Event()

    @app.task  # type: ignore[untyped-decorator]
    async def follow_consent() -> None:
        await keep_following_consent(ledger, engine, names["consent"], follower_stop)

    @app.on_before_shutdown.connect
    async def close_channels(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        follower_stop.set()
        for runner in http_runners:
            await runner.cleanup()
        for name, channel in channels.items():
            log.info("closing the %s channel", name)
            await channel.aclose()
        log.info("channels closed")

    async def publish_to(topic: faust.TopicT, key: bytes, value: bytes) -> None:
        # Wait for the broker's acknowledgement: the HTTP answer promises durability.
        pending = await topic.send(key=key, value=value)
        await pending

    twilio_routes = TwilioRoutes(
        public_base_url=settings.channels.sms.public_base_url, auth_token=twilio_auth_token,
        ledger=ledger, clock=clock,
        publish_status=lambda k, v: publish_to(sms_status, k, v),
        publish_consent=lambda k, v: publish_to(consent_topic, k, v),
        publish_inbound=lambda k, v: publish_to(sms_inbound, k, v),
    )
    http_runners: list[Any] = []

    def not_ready_because() -> list[str]:
        waiting = []
        if not cast(Any, app.tables).recovery.completed.is_set():
            waiting.append("tables are being recovered")
        if not ledger.ready.is_set():
            waiting.append("the consent ledger is loading")
        if app.rebalancing:
            waiting.append("partitions are being rebalanced")
        return waiting

    if engine.web.enabled:
        @app.task  # type: ignore[untyped-decorator]
        async def serve_http() -> None:
            public = public_app(twilio_routes)
            if links is not None:
                add_answer_routes(public, AnswerPages(
                    links, renderer, engine.default_locale, clock=clock,
                    publish_event=lambda k, v: publish_to(ticket_events, k, v)))
            http_runners.append(await serve_http_app(public, engine.web.host, engine.web.port))
            http_runners.append(await serve_http_app(ops_app(not_ready_because),
                                                     engine.web.ops_host, engine.web.ops_port))

    # Due times of this worker's tickets, soonest first. Every write to `due_index`
    # pushes an entry; stale entries are skipped when popped, and the heap is rebuilt
    # from the table after every recovery, so a sweep costs O(due), not O(tickets).
    due_heap: list[tuple[float, str]] = []

    @due_index.on_recover
    async def rebuild_due_heap() -> None:
        entries = [(due, ticket) for ticket, due in due_index.items() if due is not None]
        heapq.heapify(entries)
        due_heap[:] = entries
        log.info("timers restored: %d tickets with something due", len(entries))

    lag_probe = LagProbe(engine)

    @app.timer(interval=engine.lag_interval_seconds)  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        await lag_probe.publish()

    @app.on_before_shutdown.connect
    async def close_lag_probe(sender: Any, /, *_: Any, **__: Any) -> None:
        await lag_probe.close()

    @app.timer(interval=engine.sweep_interval_seconds)  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        """Emit a timer event for each ticket now due; the agent re-checks before acting."""
        now = clock()
        stamp = now.timestamp()
        fired: set[str] = set()
        TIMERS_PENDING.set(len(due_heap))
        while due_heap and due_heap[0][0] <= stamp:
            _, ticket_id = heapq.heappop(due_heap)
            current = due_index.get(ticket_id)
            if current is None or current > stamp or ticket_id in fired:
                continue  # settled, moved later (its own entry exists), or not ours any more
            fired.add(ticket_id)
            timer = TimerDue(id=f"timer:{ticket_id}:{current:.3f}", type="heard.timer_due",
                             occurred_at=now, ticket_id=ticket_id,
                             due_at=datetime.fromtimestamp(current, UTC))
            await timers_topic.send(key=ticket_id.encode(), value=event_to_json(timer))
            # Look again shortly: if the agent has not moved the due time by then, re-emit.
            heapq.heappush(due_heap, (stamp + TIMER_RECHECK_SECONDS, ticket_id))

    return app
