"""The lifecycle agent: each ticket event (and each timer) through the pure policy, the
ticket's state kept, and what the policy decided handed on.

Records come in batches. Each is decided in turn, and what it decided goes to the producer
at once; a ticket's state is written to its table once per batch, after all of the batch's
decisions (the record cache Kafka Streams keeps in front of its stores). A busy ticket then
costs one changelog record per batch instead of one per event, and a SIGKILL at any point
leaves decisions without the state recording them (read again, decided again, absorbed by
notification ids and receipts), never a state saying "sent" for a message that never left.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from heard.streams.base.settings import EngineSettings, TopicNames
from heard.streams.base.stages import STAGES
from heard.streams.contract.records import Event, ForgetRequested, InvalidEvent, TimerDue, parse_event
from heard.streams.contract.state import TicketState
from heard.streams.policy.decide import decide
from heard.streams.policy.step import Outcome, Rules
from heard.streams.worker.agent import Agent
from heard.streams.worker.metrics import (
    AGENT_FAILURES,
    EVENTS,
    FIRST_ACK,
    LABELS,
    REPLIES,
    TIMER_LATENESS,
    observe_promise,
)
from heard.streams.worker.sink import Clock, DeadLetters, InboundRecord, Sink
from heard.streams.worker.state_cache import StateCache
from heard.streams.worker.timers import DueTimers

STAGE = "lifecycle"


@dataclass
class Unwritten:
    """A ticket's state as this batch has changed it, not yet in the table."""

    # The table's JSON when the batch began: what a failed event's ticket is rebuilt from.
    stored: str | None
    state: TicketState
    # The records that changed it, in order: the last one's partition is the one the table
    # writes to, and all of them become dead letters if the state cannot be kept.
    records: list[InboundRecord] = field(default_factory=list)
    # The events applied since `stored`, with the time each was decided at.
    applied: list[tuple[Event, datetime]] = field(default_factory=list)


ERASED_KEY = "heard_erased_at"


def erasure_marker(at: datetime) -> str:
    """What the tickets table keeps for a ticket erased at the customer's request."""
    return json.dumps({ERASED_KEY: at.isoformat()})


def erased_at(stored: str | None) -> str | None:
    """When the ticket was erased at the customer's request, if this is its marker."""
    if stored is None or not stored.startswith('{"' + ERASED_KEY):
        return None
    when = json.loads(stored).get(ERASED_KEY)
    return str(when) if when else None


class LifecycleAgent(Agent):
    stage = STAGE

    def __init__(
        self,
        *,
        rules: Rules,
        engine: EngineSettings,
        topics: TopicNames,
        tickets: MutableMapping[str, Any],
        timers: DueTimers,
        states: StateCache,
        sink: Sink,
        dead_letters: DeadLetters,
        clock: Clock,
    ) -> None:
        self.rules = rules
        self.engine = engine
        self.topics = topics
        self.tickets = tickets
        self.timers = timers
        self.states = states
        self.sink = sink
        self.dead_letters = dead_letters
        self.clock = clock

    async def __call__(self, record: InboundRecord) -> None:
        await self.handle_batch([record])  # guarded and timed there, record by record

    async def handle_batch(
        self,
        records: Sequence[InboundRecord],
        before_each: Callable[[InboundRecord], None] = lambda _: None,
    ) -> None:
        """Every record decided in order, each behind the dead-letter guard; then each changed
        ticket's state written once. `before_each` names the record a table write belongs to."""
        unwritten: dict[str, Unwritten] = {}

        async def apply(record: InboundRecord) -> None:
            await self._apply(record, unwritten)

        with STAGES.timed_batch(STAGE, len(records)):
            try:
                for record in records:
                    before_each(record)
                    await self.dead_letters.guard(STAGE, record, apply, self.failed)
                for ticket_id, change in unwritten.items():
                    before_each(change.records[-1])
                    await self._keep(ticket_id, change)
            except BaseException:  # stopped mid-batch (cancelled): re-raised below
                # Cached objects changed by unwritten events would pass for the table's state.
                for ticket_id in unwritten:
                    self.states.forget(ticket_id)
                raise

    async def _apply(self, record: InboundRecord, unwritten: dict[str, Unwritten]) -> None:
        with STAGES.timed("lifecycle.parse"):
            parsed = await self._accepted(record)
        if parsed is None:
            return
        ticket_id: str = parsed.ticket_id
        change = unwritten.get(ticket_id)
        with STAGES.timed("lifecycle.load"):
            stored = self.tickets.get(ticket_id) if change is None else change.stored
            erased = erased_at(stored) if change is None else None
            if erased is not None:
                await self._refuse_erased(record, parsed, erased)
                return
            state = self.states.load(ticket_id, stored) if change is None else change.state
        now = self.clock()
        try:
            with STAGES.timed("lifecycle.decide"):
                outcome = decide(state, parsed, now, self.rules, in_place=True)
            # What was decided goes to the producer before the state that records it.
            with STAGES.timed("lifecycle.emit"):
                await self._hand_on(ticket_id.encode(), outcome)
        except asyncio.CancelledError:
            self.states.forget(ticket_id)  # the cached object may be half-changed
            raise
        except Exception as exc:  # re-raised: the guard makes this record a dead letter
            self.states.forget(ticket_id)  # the cached object may be half-changed
            if change is not None:
                await self._rebuild(ticket_id, change, unwritten, exc)
            raise
        EVENTS.labels(parsed.type).inc()
        if outcome.forget:
            # Erased now, not at the batch's end: nothing of it waits in memory.
            unwritten.pop(ticket_id, None)
            with STAGES.timed("lifecycle.store"):
                self._erase(ticket_id, now if outcome.erased_on_request else None)
        elif outcome.changed:
            if change is None:
                change = Unwritten(stored=stored, state=outcome.state)
                unwritten[ticket_id] = change
            change.state = outcome.state
            change.records.append(record)
            change.applied.append((parsed, now))
        elif change is None and state is not None:
            # An event already applied, read again after a crash: its state reached the table,
            # but the due time written beside it, to another changelog, may not have. Put it
            # back (an unchanged one is not rewritten), or a held closure would never go.
            self.timers.set(ticket_id, state.next_due())

    async def _rebuild(
        self, ticket_id: str, change: Unwritten, unwritten: dict[str, Unwritten], cause: Exception
    ) -> None:
        """After an event failed, its ticket as the batch's earlier events left it; if even
        that fails, those events become dead letters too (never a half-changed state)."""
        del unwritten[ticket_id]
        try:
            change.state = self._rebuilt(change)
        except Exception as exc:  # the earlier events' effects cannot be kept: say so for each
            reason = (
                f"{STAGE} could not apply the ticket's events again after a later one "
                f"failed ({type(cause).__name__}: {cause}): {type(exc).__name__}: {exc}"
            )
            for record in change.records:
                await self.dead_letters.send(record, reason, STAGE)
            return
        unwritten[ticket_id] = change

    async def _keep(self, ticket_id: str, change: Unwritten) -> None:
        """Write the ticket's state; if it cannot be kept, each event that changed it becomes a
        dead letter (their decisions went out; replaying them is absorbed by their ids)."""
        try:
            self._write(ticket_id, change.state)
        except Exception as exc:  # no event may vanish with a state that was not written
            AGENT_FAILURES.labels(STAGE).inc()
            reason = f"{STAGE} could not keep the ticket's state: {type(exc).__name__}: {exc}"
            for record in change.records:
                await self.dead_letters.send(record, reason, STAGE)

    def _rebuilt(self, change: Unwritten) -> TicketState:
        """The ticket as the batch's earlier events left it, decided again from the table's
        state: the policy is pure, so the same events at the same times give the same state."""
        state = TicketState.from_json(change.stored) if change.stored is not None else None
        for event, at in change.applied:
            state = decide(state, event, at, self.rules, in_place=True).state
        assert state is not None  # at least one event changed it
        return state

    async def _accepted(self, record: InboundRecord) -> Any:
        """The parsed event, or None once a record that cannot be applied is a dead letter."""
        internal = record.message.topic == self.topics.timers
        try:
            parsed = parse_event(record.value, internal=internal, max_bytes=self.engine.max_event_bytes)
        except InvalidEvent as exc:
            await self.dead_letters.send(record, str(exc), STAGE)
            return None
        if record.key != parsed.ticket_id.encode():
            # One worker owns a ticket only if every event of it lands on one partition.
            await self.dead_letters.send(
                record,
                f"Kafka key {record.key!r} is not the ticket_id "
                f"{parsed.ticket_id!r} (key each event by its ticket_id)",
                STAGE,
            )
            return None
        if isinstance(parsed, TimerDue):
            # Timers acted on late mean this worker cannot keep up: alert on it.
            TIMER_LATENESS.observe(max(0.0, (self.clock() - parsed.due_at).total_seconds()))
            return parsed
        ahead = (parsed.occurred_at - self.clock()).total_seconds()
        if ahead > self.engine.max_event_future_seconds:
            await self.dead_letters.send(
                record,
                f"occurred_at is {ahead:.0f} s in the future "
                "(more than engine.max_event_future_seconds); is the "
                "producer's clock right?",
                STAGE,
            )
            return None
        return parsed

    def _erase(self, ticket_id: str, requested_at: datetime | None) -> None:
        """The ticket's data gone from every replica: a tombstone in the changelog, or, for
        an erasure the customer asked for, a marker that holds nothing of them (compaction
        keeps only the newest value of a key, so the marker replaces the data as a tombstone
        would) and refuses whatever would bring the ticket back."""
        self.states.forget(ticket_id)
        if requested_at is not None:
            self.tickets[ticket_id] = erasure_marker(requested_at)
        elif self.tickets.get(ticket_id) is not None:
            del self.tickets[ticket_id]
        self.timers.forget(ticket_id)

    async def _refuse_erased(self, record: InboundRecord, parsed: Any, erased: str) -> None:
        """An event for a ticket erased at the customer's request: a dead letter that keeps
        why and where it came from, never its content (it would bring the person back)."""
        if isinstance(parsed, TimerDue | ForgetRequested):
            return  # heard's own timers, or the erasure asked again: nothing to bring back
        await self.dead_letters.send(
            record,
            f"ticket {parsed.ticket_id} was erased on {erased[:10]} at the customer's request "
            f"(heard forget): this {parsed.type} would bring its data back, so it is refused "
            "and its content is not kept",
            STAGE,
            keep_value=False,
        )

    def _write(self, ticket_id: str, state: TicketState) -> None:
        with STAGES.timed("lifecycle.store"):
            try:
                stored = state.to_json().decode()
                self.tickets[ticket_id] = stored
            except BaseException:  # re-raised: the cached object is not what the table holds
                self.states.forget(ticket_id)
                raise
            self.states.keep(ticket_id, stored, state)
            self.timers.set(ticket_id, state.next_due())

    async def _hand_on(self, key: bytes, outcome: Outcome) -> None:
        topics, emit = self.topics, self.sink.emit
        # The questions asked of erased phones go too: no number keeps pointing at the ticket.
        for phone in outcome.forgotten_phones:
            await emit(
                topics.sms_inbound,
                phone.encode(),
                json.dumps(
                    {"record": "forget", "phone": phone, "ticket_id": outcome.state.ticket_id}
                ).encode(),
            )
        for notification in outcome.notifications:
            await emit(topics.outbound, key, notification.model_dump_json().encode())
        if self.engine.decision_records == "per_event" and outcome.decisions:
            # One record for the event's every line (docs/architecture.md, "Records per message").
            lines = [line.model_dump(mode="json") for line in outcome.decisions]
            await emit(topics.decisions, key, json.dumps({"record": "decisions", "lines": lines}).encode())
        else:
            for line in outcome.decisions:
                await emit(topics.decisions, key, line.model_dump_json().encode())
        for promise in outcome.promise_records:
            observe_promise(promise)
            await emit(topics.promises, key, promise.model_dump_json().encode())
        if outcome.first_acknowledgment is not None:
            first = outcome.first_acknowledgment
            FIRST_ACK.labels(LABELS.team(first.team)).observe(first.seconds)
            await emit(topics.promises, key, first.model_dump_json().encode())
        for transfer in outcome.transfers:
            await emit(topics.promises, key, transfer.model_dump_json().encode())
        for reply in outcome.replies:
            REPLIES.labels(reply.record, getattr(reply, "via", "")).inc()
            await emit(topics.replies, key, reply.model_dump_json().encode())
