"""The delivery agent: each decided message rendered and sent once, its receipt kept, its
outcome published; a failure deferred to a retry topic, sent by the customer's other
channel, or told to the team."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from heard.streams.base.settings import TopicNames
from heard.streams.base.stages import STAGES
from heard.streams.contract.state import Notification, Texted
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate
from heard.streams.delivery.sender import Delivery, DeliveryOutcome
from heard.streams.policy.replies import question_asked
from heard.streams.worker.agent import RecordAgent
from heard.streams.worker.mail_events import mail_reason
from heard.streams.worker.metrics import (
    DELIVERIES,
    DELIVERY_SECONDS,
    SMS_SEGMENTS,
    TEMPLATE_ERRORS,
)
from heard.streams.worker.opt_outs import OptOuts
from heard.streams.worker.send_gate import SendGate
from heard.streams.worker.sink import Clock, DeadLetters, InboundRecord, Sink
from heard.streams.worker.team_notice import TeamInbox, unreachable_notices

log = logging.getLogger("heard.worker")
STAGE = "delivery"
# A delivery waiting longer than this for the consent ledger says so in the log.
LEDGER_PATIENCE_SECONDS = 10.0


class ConsentWithdrawn(Exception):
    """Consent was withdrawn between the check and the send."""

    def __init__(self, refusal: ConsentUpdate) -> None:
        super().__init__(refusal.source)
        self.refusal = refusal


# How each way of withdrawing consent reads to the team (the record's source, before ":").
WITHDRAWN_BY = {
    "twilio-inbound": "by texting STOP",
    "twilio-status": "the carrier refused our texts, Twilio 21610",
    "provider-refusal": "the provider refused to deliver to them",
    "sms-stop": "by texting STOP",
}


def withdrawn_reason(channel: str, at: datetime, source: str) -> str:
    """Why a message was not sent, for the team and `heard explain`: in words, with the time
    to the minute (UTC), never a raw timestamp."""
    if source.startswith("mail-"):  # a mail provider's bounce, complaint or unsubscribe
        kind, _, rest = source.removeprefix("mail-").partition(":")
        return mail_reason(kind, rest.partition(":")[2], at.astimezone(UTC))
    how = WITHDRAWN_BY.get(source.split(":")[0], source.split(":")[0])
    when = at.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")
    return f"the recipient withdrew {channel} consent on {when} ({how})"


# Phones whose last ticket the agent remembers before it starts over.
TEXTED_REMEMBERED = 50_000


class DeliveryAgent(RecordAgent):
    stage = STAGE

    def __init__(
        self,
        *,
        delivery: Delivery,
        topics: TopicNames,
        deferred: Sequence[tuple[float, str]],
        receipts: MutableMapping[str, Any],
        ledger: ConsentLedger,
        opt_outs: OptOuts,
        team: TeamInbox,
        reply_window_days: float,
        sink: Sink,
        dead_letters: DeadLetters,
        clock: Clock,
        ledger_patience: float = LEDGER_PATIENCE_SECONDS,
        gate: SendGate | None = None,
        keep_sent_emails: bool = False,
        templates_ready: asyncio.Event | None = None,
    ) -> None:
        self.delivery = delivery
        # Set once the published templates are read: no message renders a draft before.
        self.templates_ready = templates_ready
        # With a mail provider's bounces heard (`email.events`), a customer's email is kept in
        # its receipt: a bounce found later sends it by the other channel and quotes it.
        self.keep_sent_emails = keep_sent_emails
        self.topics = topics
        # (wait, retry topic) per round: a message failing its n-th round waits the n-th.
        self.deferred = list(deferred)
        self.receipts = receipts
        self.ledger = ledger
        self.opt_outs = opt_outs
        self.team = team
        self.reply_window_days = reply_window_days
        self.sink = sink
        self.dead_letters = dead_letters
        self.clock = clock
        self.ledger_patience = ledger_patience
        # What the worker holds sends on until the previous ones' receipts are durable.
        self.gate = gate or SendGate()
        # The ticket each phone was last told it texted about (a keyword texted back is about
        # it): a record goes once per phone and ticket, not per text. Bounded: forgetting
        # one costs a record written again.
        self.texted: dict[str, str] = {}

    async def deliver_batch(
        self,
        records: Sequence[InboundRecord],
        before_each: Callable[[InboundRecord], None] = lambda _: None,
    ) -> None:
        """Several messages at once, grouped by ticket so one ticket's keep their order."""
        groups: dict[bytes | None, list[InboundRecord]] = {}
        for record in records:
            groups.setdefault(record.key, []).append(record)

        async def in_order(group: list[InboundRecord]) -> None:
            for record in group:
                before_each(record)
                await self(record)

        await asyncio.gather(*(in_order(group) for group in groups.values()))

    async def handle(self, record: InboundRecord) -> None:
        with STAGES.timed("delivery.check"):
            try:
                notification = Notification.model_validate_json(record.value)
            except ValueError as exc:
                await self.dead_letters.send(record, f"not a notification record: {exc}", STAGE)
                return
            if self.receipts.get(notification.notification_id) is not None:
                log.info("notification %s already delivered; not sending again", notification.notification_id)
                return
            await self._ledger_loaded()
            if self.templates_ready is not None:
                await self.templates_ready.wait()
            refusal = self.ledger.refusal(notification.channel, notification.recipient)
        key = record.key or notification.ticket_id.encode()
        if refusal is None:
            try:
                outcome = await self.delivery.deliver(notification, ready=lambda: self._cleared(notification))
            except ConsentWithdrawn as withdrawn:
                refusal = withdrawn.refusal
        if refusal is not None:
            outcome = self.delivery.suppressed(
                notification, withdrawn_reason(notification.channel, refusal.at, refusal.source)
            )
            await self.publish(outcome, key)
            await self._instead(outcome.notification, outcome.fallback, outcome.reason, key)
            return
        await self._settle(outcome, record, key)

    async def _settle(self, outcome: DeliveryOutcome, record: InboundRecord, key: bytes) -> None:
        """What a delivery attempt leaves: its receipt, a provider's opt-out, its retry or
        failure, and its outcome event."""
        notification = outcome.notification
        if outcome.status == "sent":
            with STAGES.timed("delivery.receipt"):
                await self._sent(outcome)
        with STAGES.timed("delivery.publish"):
            if outcome.opted_out:
                await self.opt_outs.record(
                    notification.channel,
                    notification.recipient,
                    f"provider-refusal:{notification.notification_id}",
                )
            if outcome.status == "failed":
                await self._defer_or_fail(outcome, record, key)
            await self.publish(outcome, key)

    async def failed(self, record: InboundRecord, reason: str) -> None:
        """A decided message that could not be delivered still gets an outcome (`failed`,
        with the reason) and goes by the customer's other consented channel if there is one."""
        try:
            notification = Notification.model_validate_json(record.value)
        except ValueError:
            return  # not a notification at all: the dead letter says so
        outcome = self.delivery.failed(notification, reason)
        key = record.key or notification.ticket_id.encode()
        await self.publish(outcome, key)
        await self._instead(notification, outcome.fallback, reason, key)

    async def publish(self, outcome: DeliveryOutcome, key: bytes) -> None:
        n = outcome.notification
        DELIVERIES.labels(n.channel, outcome.status).inc()
        if outcome.receipt is not None:
            DELIVERY_SECONDS.labels(n.channel).observe(
                max(0.0, (outcome.receipt.accepted_at - n.decided_at).total_seconds())
            )
        if outcome.segments:
            SMS_SEGMENTS.inc(outcome.segments)
        if outcome.status == "failed" and outcome.reason.startswith("template:"):
            TEMPLATE_ERRORS.labels(n.kind).inc()
        await self.sink.emit(self.topics.notification_events, key, json.dumps(outcome.event()).encode())

    async def _cleared(self, n: Notification) -> None:
        """Just before the send: the previous receipts durable (the gate), then consent read
        once more, so a STOP that arrived while the producer flushed is kept."""
        await self.gate.wait()
        refusal = self.ledger.refusal(n.channel, n.recipient)
        if refusal is not None:
            raise ConsentWithdrawn(refusal)

    async def _ledger_loaded(self) -> None:
        """Never text someone whose STOP this worker has not finished reading."""
        if self.ledger.ready.is_set():
            return
        try:
            await asyncio.wait_for(self.ledger.ready.wait(), self.ledger_patience)
        except TimeoutError:  # still waiting: say so once, then keep waiting
            log.warning(
                "deliveries are waiting for the consent ledger (%s is still being read)", self.topics.consent
            )
            await self.ledger.ready.wait()

    async def _sent(self, outcome: DeliveryOutcome) -> None:
        n, receipt = outcome.notification, outcome.receipt
        assert receipt is not None  # a sent outcome always carries the provider's receipt
        question = question_asked(n, receipt.accepted_at, self.reply_window_days)
        if question is not None:
            # Keyed by the phone: the worker that reads the answer finds it there.
            await self.sink.emit(
                self.topics.sms_inbound, question.phone.encode(), question.model_dump_json().encode()
            )
        if n.channel == "sms" and n.audience == "customer" and self.texted.get(n.recipient) != n.ticket_id:
            if len(self.texted) >= TEXTED_REMEMBERED:
                self.texted.clear()
            self.texted[n.recipient] = n.ticket_id
            texted = Texted(
                phone=n.recipient,
                ticket_id=n.ticket_id,
                at=receipt.accepted_at,
                locale=n.locale,
                contact=n.contact,
            )
            await self.sink.emit(
                self.topics.sms_inbound, n.recipient.encode(), texted.model_dump_json().encode()
            )
        kept: dict[str, Any] = {
            "provider_id": receipt.provider_id,
            "channel": receipt.channel,
            "accepted_at": receipt.accepted_at.isoformat(),
            "template_hashes": outcome.template_hashes,
        }
        if self.keep_sent_emails and n.channel == "email" and n.audience == "customer":
            kept["notification"] = n.model_dump(mode="json")
        self.receipts[n.notification_id] = json.dumps(kept)

    async def _defer_or_fail(self, outcome: DeliveryOutcome, record: InboundRecord, key: bytes) -> None:
        n = outcome.notification
        if outcome.retryable and n.delivery_round < len(self.deferred):
            wait, retry_topic = self.deferred[n.delivery_round]
            later = n.model_copy(
                update={
                    "delivery_round": n.delivery_round + 1,
                    "not_before": self.clock() + timedelta(seconds=wait),
                }
            )
            outcome.status = "deferred"
            outcome.reason = f"{outcome.reason}; trying again in {wait:g} s"
            await self.sink.emit(retry_topic, key, later.model_dump_json().encode())
            return
        await self.dead_letters.send(record, outcome.reason, STAGE)
        await self._instead(n, outcome.fallback, outcome.reason, key)

    async def _instead(self, n: Notification, fallback: Notification | None, reason: str, key: bytes) -> None:
        """What goes when `n` cannot: its fallback by the other channel, else the team's notice."""
        if fallback is not None:
            await self.sink.emit(self.topics.outbound, key, fallback.model_dump_json().encode())
            return
        missed = self.delivery.what_it_said(n) if n.audience == "customer" else None
        for notice in unreachable_notices(n, reason, self.team, self.clock(), missed):
            await self.sink.emit(self.topics.outbound, key, notice.model_dump_json().encode())
