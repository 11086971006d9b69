"""The lifecycle agent: each ticket event (and each timer) through the pure policy, the
ticket's state kept, and what the policy decided handed on."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from heard.streams.base.settings import EngineSettings, TopicNames
from heard.streams.base.stages import STAGES, now_ns
from heard.streams.contract.records import InvalidEvent, TimerDue, parse_event
from heard.streams.policy.decide import decide
from heard.streams.policy.step import Outcome, Rules
from heard.streams.worker.agent import Agent
from heard.streams.worker.metrics import EVENTS, FIRST_ACK, REPLIES, TIMER_LATENESS, observe_promise
from heard.streams.worker.sink import Clock, DeadLetters, InboundRecord, Sink
from heard.streams.worker.state_cache import StateCache
from heard.streams.worker.timers import DueTimers

STAGE = "lifecycle"


class LifecycleAgent(Agent):
    stage = STAGE

    def __init__(self, *, rules: Rules, engine: EngineSettings, topics: TopicNames,
                 tickets: MutableMapping[str, Any], timers: DueTimers, states: StateCache,
                 sink: Sink, dead_letters: DeadLetters, clock: Clock) -> None:
        self.rules = rules
        self.engine = engine
        self.topics = topics
        self.tickets = tickets
        self.timers = timers
        self.states = states
        self.sink = sink
        self.dead_letters = dead_letters
        self.clock = clock

    async def handle(self, record: InboundRecord) -> None:
        lap = now_ns()
        parsed = await self._accepted(record)
        lap = STAGES.lap("lifecycle.parse", lap)
        if parsed is None:
            return
        ticket_id: str = parsed.ticket_id
        state = self.states.load(ticket_id, self.tickets.get(ticket_id))
        lap = STAGES.lap("lifecycle.load", lap)
        try:
            outcome = decide(state, parsed, self.clock(), self.rules, in_place=True)
            lap = STAGES.lap("lifecycle.decide", lap)
            # What was decided goes to the producer before the state that records it: a
            # SIGKILL in between then leaves the decision out and the state as it was (the
            # event is read again and decided again; notification ids and receipts absorb
            # the repeat), never the state saying "sent" for a message that never left.
            await self._hand_on(ticket_id.encode(), outcome)
            lap = STAGES.lap("lifecycle.emit", lap)
        except BaseException:  # any exit before the state is kept, cancellation too; re-raised
            self.states.forget(ticket_id)  # the cached object may be half-changed
            raise
        self._store(ticket_id, outcome)
        STAGES.lap("lifecycle.store", lap)
        EVENTS.labels(parsed.type).inc()

    async def _accepted(self, record: InboundRecord) -> Any:
        """The parsed event, or None once a record that cannot be applied is a dead letter."""
        internal = record.message.topic == self.topics.timers
        try:
            parsed = parse_event(record.value, internal=internal,
                                 max_bytes=self.engine.max_event_bytes)
        except InvalidEvent as exc:
            await self.dead_letters.send(record, str(exc), STAGE)
            return None
        if record.key != parsed.ticket_id.encode():
            # One worker owns a ticket only if every event of it lands on one partition.
            await self.dead_letters.send(record, f"Kafka key {record.key!r} is not the ticket_id "
                                         f"{parsed.ticket_id!r} (key each event by its ticket_id)",
                                         STAGE)
            return None
        if isinstance(parsed, TimerDue):
            # Timers acted on late mean this worker cannot keep up: alert on it.
            TIMER_LATENESS.observe(max(0.0, (self.clock() - parsed.due_at).total_seconds()))
            return parsed
        ahead = (parsed.occurred_at - self.clock()).total_seconds()
        if ahead > self.engine.max_event_future_seconds:
            await self.dead_letters.send(record, f"occurred_at is {ahead:.0f} s in the future "
                                         "(more than engine.max_event_future_seconds); is the "
                                         "producer's clock right?", STAGE)
            return None
        return parsed

    def _store(self, ticket_id: str, outcome: Outcome) -> None:
        if outcome.forget:
            # Tombstones in the changelogs: the ticket's data is gone from every replica.
            self.states.forget(ticket_id)
            if self.tickets.get(ticket_id) is not None:
                del self.tickets[ticket_id]
            self.timers.forget(ticket_id)
        elif outcome.changed:
            stored = outcome.state.to_json().decode()
            self.tickets[ticket_id] = stored
            self.states.keep(ticket_id, stored, outcome.state)
            self.timers.set(ticket_id, outcome.state.next_due())

    async def _hand_on(self, key: bytes, outcome: Outcome) -> None:
        topics, emit = self.topics, self.sink.emit
        # The questions asked of erased phones go too: no number keeps pointing at the ticket.
        for phone in outcome.forgotten_phones:
            await emit(topics.sms_inbound, phone.encode(), json.dumps(
                {"record": "forget", "phone": phone, "ticket_id": outcome.state.ticket_id}).encode())
        for notification in outcome.notifications:
            await emit(topics.outbound, key, notification.model_dump_json().encode())
        for line in outcome.decisions:
            await emit(topics.decisions, key, line.model_dump_json().encode())
        for promise in outcome.promise_records:
            observe_promise(promise)
            await emit(topics.promises, key, promise.model_dump_json().encode())
        if outcome.first_acknowledgment is not None:
            first = outcome.first_acknowledgment
            FIRST_ACK.labels(first.team or "none").observe(first.seconds)
            await emit(topics.promises, key, first.model_dump_json().encode())
        for transfer in outcome.transfers:
            await emit(topics.promises, key, transfer.model_dump_json().encode())
        for reply in outcome.replies:
            REPLIES.labels(reply.record, getattr(reply, "via", "")).inc()
            await emit(topics.replies, key, reply.model_dump_json().encode())
