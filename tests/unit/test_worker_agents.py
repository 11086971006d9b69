"""Each worker agent on its own: plain dicts for tables, a recording sink for Kafka, the
recording channel for a provider, a clock that moves only when told. No Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from heard.channels.base import DeliveryError, RecipientOptedOut, RetryableDeliveryError
from heard.channels.recording import RecordingChannel
from heard.streams.base.settings import EngineSettings, RetrySettings
from heard.streams.content.rendering import Renderer
from heard.streams.contract import stories
from heard.streams.contract.records import event_to_json
from heard.streams.contract.state import Notification, Question, Texted
from heard.streams.contract.stories import T0, minutes
from heard.streams.delivery.consent import ConsentLedger, ConsentUpdate
from heard.streams.delivery.sender import Delivery
from heard.streams.kafka.topics import prefixed_topics, retry_topic
from heard.streams.worker.delivery_agent import DeliveryAgent
from heard.streams.worker.lifecycle import LifecycleAgent
from heard.streams.worker.opt_outs import OptOuts
from heard.streams.worker.redelivery import RedeliveryAgent
from heard.streams.worker.sink import Consumed, DeadLetters, Offset, RecordingSink
from heard.streams.worker.sms_replies import SmsRepliesAgent
from heard.streams.worker.sms_status import SmsStatusAgent
from heard.streams.worker.state_cache import StateCache
from heard.streams.worker.team_notice import TeamInbox
from heard.streams.worker.timers import DueTimers
from tests.peers import REPO
from tests.unit.test_policy import RULES

ENGINE = EngineSettings(topic_prefix="t.")
TOPICS = prefixed_topics(ENGINE)
WAITS = [30.0, 300.0]
TEAM = TeamInbox({"email": {"default": "team@example.com", "lead": "lead@example.com"}}, "en", "UTC")


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def consumed(topic: str, key: str | bytes | None, value: bytes, offset: int = 0) -> Consumed:
    return Consumed(key.encode() if isinstance(key, str) else key, value, Offset(topic, 0, offset))


def reasons(sink: RecordingSink) -> list[str]:
    return [(record.headers or {})["heard-reason"].decode() for record in sink.on(TOPICS.dead_letters)]


def values(sink: RecordingSink, topic: str) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in sink.on(topic)]


def decided(sink: RecordingSink) -> list[dict[str, Any]]:
    """The decision lines written, in either of the decision log's forms."""
    from heard.streams.contract.state import decision_lines

    return [line for record in sink.on(TOPICS.decisions) for line in decision_lines(record.value)]


# --- the lifecycle agent ---------------------------------------------------------------


@dataclass
class Lifecycle:
    clock: Clock = field(default_factory=Clock)
    sink: RecordingSink = field(default_factory=RecordingSink)
    tickets: dict[str, Any] = field(default_factory=dict)
    due_index: dict[str, Any] = field(default_factory=dict)
    engine: EngineSettings = ENGINE

    def __post_init__(self) -> None:
        self.timers = DueTimers(self.due_index)
        self.agent = LifecycleAgent(
            rules=RULES,
            engine=self.engine,
            topics=TOPICS,
            tickets=self.tickets,
            timers=self.timers,
            states=StateCache(16),
            sink=self.sink,
            dead_letters=DeadLetters(self.sink, TOPICS.dead_letters, self.clock),
            clock=self.clock,
        )

    async def event(self, item: dict[str, Any], key: str | None = None) -> None:
        await self.agent(consumed(TOPICS.ticket_events, key or item["ticket_id"], stories.dumps(item)))

    async def sweep(self) -> int:
        """What the worker's sweep does: each due timer back through the agent."""
        due = self.timers.due(self.clock())
        for timer in due:
            await self.agent(consumed(TOPICS.timers, timer.ticket_id, event_to_json(timer)))
        return len(due)


async def test_decisions_go_one_record_per_line_or_one_per_event_and_read_alike_either_way() -> None:
    from heard.streams.contract.state import decision_lines

    by_line = Lifecycle(engine=ENGINE.model_copy(update={"decision_records": "line"}))
    per_event = Lifecycle()
    assert per_event.engine.decision_records == "per_event", "the default since the readers read both"
    for worker in (by_line, per_event):
        await worker.event(stories.created("T-1", urgent=True))
        await worker.event(stories.reply("T-1", T0 + timedelta(minutes=1)))
    lines = [
        [line for r in w.sink.on(TOPICS.decisions) for line in decision_lines(r.value)]
        for w in (by_line, per_event)
    ]
    assert lines[0] == lines[1] and len(lines[0]) >= 3
    assert len(per_event.sink.on(TOPICS.decisions)) == 2, "one record per event"
    assert len(by_line.sink.on(TOPICS.decisions)) == len(lines[0])
    assert all(r.key == b"T-1" for r in per_event.sink.on(TOPICS.decisions))
    assert decision_lines(b'{"record": "decisions", "lines": [{"a": 1}, "junk"]}') == [{"a": 1}]
    assert decision_lines(b"[1]") == []


async def test_a_created_ticket_is_stored_its_acknowledgment_held_and_sent_when_due() -> None:
    worker = Lifecycle()
    await worker.event(stories.created("T-1"))
    assert json.loads(worker.tickets["T-1"])["ticket_id"] == "T-1"
    assert worker.due_index["T-1"] == (T0 + timedelta(seconds=60)).timestamp()
    assert worker.sink.on(TOPICS.outbound) == []  # held: an agent may answer first
    assert {d["kind"] for d in decided(worker.sink)} >= {"acknowledgment"}

    worker.clock.at = T0 + timedelta(seconds=61)
    assert await worker.sweep() == 1
    [sent] = values(worker.sink, TOPICS.outbound)
    assert (sent["kind"], sent["recipient"]) == ("acknowledgment", "amara@example.net")
    assert worker.sink.on(TOPICS.outbound)[0].key == b"T-1"


async def test_promise_and_first_acknowledgment_records_go_to_the_promises_topic() -> None:
    worker = Lifecycle()
    await worker.event(stories.created("T-p", urgent=True))
    await worker.event(stories.promised("T-p", T0 + minutes(1), T0 + minutes(90)))
    records = values(worker.sink, TOPICS.promises)
    assert [r.get("record") for r in records] == ["first_acknowledgment", "promise"]
    assert records[1]["status"] == "pending" and records[1]["ticket_id"] == "T-p"
    assert all(r.key == b"T-p" for r in worker.sink.on(TOPICS.promises))


async def test_a_customers_choice_goes_to_the_replies_topic() -> None:
    worker = Lifecycle()
    await worker.event(stories.created("T-r", urgent=True))
    await worker.event(stories.offered("T-r", T0 + minutes(1)))
    await worker.event(stories.chosen("T-r", T0 + minutes(2), 2))
    [reply] = values(worker.sink, TOPICS.replies)
    assert (reply["record"], reply["ticket_id"], reply["option"]) == ("option_chosen", "T-r", 2)


async def test_a_timer_is_never_refused_for_the_time_it_names() -> None:
    worker = Lifecycle()
    await worker.event(stories.created("T-t"))
    # A timer's occurred_at is when the sweep ran; a worker whose clock is behind still acts.
    timer = stories.event(
        "heard.timer_due", "T-t", T0 + timedelta(hours=1), due_at=stories.iso(T0 + timedelta(seconds=60))
    )
    await worker.agent(consumed(TOPICS.timers, "T-t", stories.dumps(timer)))
    assert reasons(worker.sink) == []  # never "in the future": a timer is heard's own


async def test_the_same_event_twice_is_applied_once() -> None:
    worker = Lifecycle()
    urgent = stories.created("T-2", urgent=True)
    await worker.event(urgent)
    await worker.event(urgent)
    assert len(worker.sink.on(TOPICS.outbound)) == 1


async def test_an_event_keyed_by_anything_but_its_ticket_is_a_dead_letter() -> None:
    worker = Lifecycle()
    await worker.event(stories.created("T-3"), key="T-other")
    assert worker.tickets == {}
    assert reasons(worker.sink) == [
        "Kafka key b'T-other' is not the ticket_id 'T-3' (key each event by its ticket_id)"
    ]
    dead = worker.sink.on(TOPICS.dead_letters)[0]
    assert dead.value == stories.dumps(stories.created("T-3"))  # unchanged, nothing lost
    assert dead.headers is not None and dead.headers["heard-stage"] == b"lifecycle"


async def test_an_event_from_the_future_and_one_that_is_not_json_are_dead_letters() -> None:
    worker = Lifecycle()
    await worker.event(stories.created("T-4", at=T0 + timedelta(hours=1)))
    await worker.agent(consumed(TOPICS.ticket_events, "T-5", b"{not json"))
    first, second = reasons(worker.sink)
    assert first.startswith("occurred_at is 3600 s in the future")
    assert "JSON" in second or "json" in second
    assert worker.tickets == {}


async def test_a_timer_on_the_public_topic_is_refused() -> None:
    worker = Lifecycle()
    timer = stories.event("heard.timer_due", "T-6", T0, due_at=stories.iso(T0))
    await worker.event(timer)
    assert len(reasons(worker.sink)) == 1 and worker.tickets == {}


async def test_a_policy_that_raises_leaves_a_dead_letter_and_the_next_record_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = Lifecycle()

    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("customer")

    monkeypatch.setattr("heard.streams.worker.lifecycle.decide", broken)
    await worker.event(stories.created("T-7"))
    monkeypatch.undo()
    await worker.event(stories.created("T-8", urgent=True))
    assert reasons(worker.sink) == ["lifecycle could not handle the record: KeyError: 'customer'"]
    assert list(worker.tickets) == ["T-8"]


async def test_an_erased_ticket_leaves_no_state_no_timer_and_its_questions_go() -> None:
    worker = Lifecycle()
    await worker.event(
        stories.created(
            "T-9", customer=stories.customer(phone="+14155550123", consent={"email": True, "sms": True})
        )
    )
    assert "T-9" in worker.due_index
    forget = stories.event("heard.forget", "T-9", T0 + minutes(1))
    # `heard forget` writes to the timers topic: producers of ticket events cannot erase.
    await worker.agent(consumed(TOPICS.timers, "T-9", stories.dumps(forget)))
    assert "@" not in worker.tickets["T-9"] and "+1415" not in worker.tickets["T-9"]
    assert "T-9" not in worker.due_index
    assert values(worker.sink, TOPICS.sms_inbound) == [
        {"record": "forget", "phone": "+14155550123", "ticket_id": "T-9"}
    ]


async def test_what_was_decided_reaches_the_producer_before_the_state_that_records_it() -> None:
    order: list[str] = []

    class Tickets(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            order.append("state")
            super().__setitem__(key, value)

    class Sink(RecordingSink):
        async def emit(self, topic: str, key: bytes | None, value: bytes, headers: Any = None) -> None:
            order.append(topic.removeprefix("t."))
            await super().emit(topic, key, value, headers)

    worker = Lifecycle(sink=Sink(), tickets=Tickets())
    await worker.event(stories.created("T-o", urgent=True))
    # A SIGKILL between the two leaves the event to be decided again, never a state that
    # says "sent" for an acknowledgment that never left.
    assert order.index("notifications-outbound") < order.index("state")


async def test_a_producer_that_fails_leaves_the_state_as_it_was_and_a_dead_letter() -> None:
    class Refusing(RecordingSink):
        async def emit(self, topic: str, key: bytes | None, value: bytes, headers: Any = None) -> None:
            if "outbound" in topic:
                raise RuntimeError("broker gone")
            await super().emit(topic, key, value, headers)

    worker = Lifecycle(sink=Refusing())
    await worker.event(stories.created("T-f", urgent=True))
    assert worker.tickets == {} and worker.due_index == {}
    assert reasons(worker.sink) == ["lifecycle could not handle the record: RuntimeError: broker gone"]


def note(ticket: str, n: int) -> Consumed:
    return consumed(
        TOPICS.ticket_events,
        ticket,
        stories.dumps(stories.reply(ticket, T0 + minutes(n), public=False, eid=f"{ticket}-note-{n}")),
        offset=n,
    )


def created_record(ticket: str) -> Consumed:
    return consumed(TOPICS.ticket_events, ticket, stories.dumps(stories.created(ticket)))


class CountingTickets(dict[str, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)


async def test_a_batch_writes_each_changed_ticket_once_after_every_decision_of_it() -> None:
    tickets = CountingTickets()
    worker = Lifecycle(tickets=tickets)
    await worker.agent.handle_batch(
        [created_record("T-a"), note("T-a", 1), created_record("T-b"), note("T-a", 2)]
    )
    assert tickets.writes == ["T-a", "T-b"]
    stored = json.loads(tickets["T-a"])
    assert stored["seen_event_ids"][-2:] == ["T-a-note-1", "T-a-note-2"]
    assert len(decided(worker.sink)) >= 4  # each event's decision went out


async def test_each_table_write_is_made_as_the_last_record_that_changed_its_ticket() -> None:
    bound: list[Consumed] = []
    written_as: dict[str, tuple[bytes | None, int]] = {}

    class Tickets(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            # Faust writes to the changelog partition of the event bound at this moment.
            written_as[key] = (bound[-1].key, bound[-1].message.offset)
            super().__setitem__(key, value)

    worker = Lifecycle(tickets=Tickets())
    await worker.agent.handle_batch(
        [created_record("T-a"), note("T-a", 3), created_record("T-b"), note("T-a", 4), note("T-b", 5)],
        before_each=bound.append,
    )
    assert written_as == {"T-a": (b"T-a", 4), "T-b": (b"T-b", 5)}


async def test_an_event_that_fails_mid_batch_leaves_its_tickets_other_events_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from heard.streams.worker import lifecycle

    real = lifecycle.decide

    def half_done_then_raises(
        state: Any, event: Any, now: datetime, rules: Any, *, in_place: bool = False
    ) -> Any:
        if event.id == "T-a-note-2":
            state.version += 100  # the object is changed before the policy gives up
            raise KeyError("customer")
        return real(state, event, now, rules, in_place=in_place)

    monkeypatch.setattr(lifecycle, "decide", half_done_then_raises)
    worker = Lifecycle()
    await worker.agent.handle_batch([created_record("T-a"), note("T-a", 1), note("T-a", 2), note("T-a", 3)])
    stored = json.loads(worker.tickets["T-a"])
    assert stored["version"] == 3  # created and notes 1 and 3; nothing of note 2
    assert "T-a-note-2" not in stored["seen_event_ids"]
    assert stored["seen_event_ids"][-2:] == ["T-a-note-1", "T-a-note-3"]
    assert reasons(worker.sink) == ["lifecycle could not handle the record: KeyError: 'customer'"]


async def test_a_batch_stopped_midway_leaves_no_unwritten_state_in_the_cache() -> None:
    worker = Lifecycle()
    await worker.event(stories.created("T-a"))

    def stop(record: Any) -> None:
        if record.message.offset == 2:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await worker.agent.handle_batch([note("T-a", 1), note("T-a", 2)], before_each=stop)
    # Note 1 changed the cached object but never reached the table: the cache lets it go, so
    # the next read is the table's own state, and the batch read again applies both notes.
    assert len(worker.agent.states) == 0
    await worker.agent.handle_batch([note("T-a", 1), note("T-a", 2)])
    stored = json.loads(worker.tickets["T-a"])
    assert stored["seen_event_ids"][-2:] == ["T-a-note-1", "T-a-note-2"]
    assert stored["version"] == 3


async def test_an_erasure_mid_batch_is_written_at_once_and_a_later_event_is_refused() -> None:
    tickets = CountingTickets()
    worker = Lifecycle(tickets=tickets)
    forget = consumed(
        TOPICS.timers, "T-e", stories.dumps(stories.event("heard.forget", "T-e", T0 + minutes(1))), offset=1
    )
    await worker.agent.handle_batch([created_record("T-e"), note("T-e", 1), forget])
    # One write: the erasure's marker, at once; the batch's earlier changes never reach the table.
    assert tickets.writes == ["T-e"] and worker.due_index == {}
    assert set(json.loads(worker.tickets["T-e"])) == {"heard_erased_at"}
    await worker.agent.handle_batch([created_record("T-e"), forget, note("T-e", 2)])
    assert set(json.loads(worker.tickets["T-e"])) == {"heard_erased_at"}
    assert [r.value for r in worker.sink.on(TOPICS.dead_letters)] == [b"", b""]  # refused, not kept


async def test_a_state_that_cannot_be_written_leaves_each_event_that_changed_it_a_dead_letter() -> None:
    class Refusing(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            raise RuntimeError("changelog gone")

    worker = Lifecycle(tickets=Refusing())
    await worker.agent.handle_batch([created_record("T-w"), note("T-w", 1), created_record("T-x")])
    dead = [
        (json.loads(r.value)["id"], (r.headers or {})["heard-reason"].decode())
        for r in worker.sink.on(TOPICS.dead_letters)
    ]
    reason = "lifecycle could not keep the ticket's state: RuntimeError: changelog gone"
    created_at = f"{T0.timestamp():.0f}"
    assert dead == [
        (f"T-w-ticket.created-{created_at}", reason),
        ("T-w-note-1", reason),
        (f"T-x-ticket.created-{created_at}", reason),
    ]
    # Nothing unwritten is left in the cache to pass for the table's state.
    assert len(worker.agent.states) == 0


# --- the due timers --------------------------------------------------------------------


def test_a_due_timer_fires_once_and_again_only_if_nothing_moved_it() -> None:
    due_index: dict[str, Any] = {}
    timers = DueTimers(due_index, recheck_seconds=5)
    timers.set("T-1", T0)
    timers.set("T-2", T0 + minutes(10))
    [fired] = timers.due(T0)
    assert (fired.ticket_id, fired.due_at) == ("T-1", T0)
    assert timers.due(T0 + timedelta(seconds=4)) == []  # the agent has a moment to act
    [again] = timers.due(T0 + timedelta(seconds=5))  # it did not: the timer fires again
    assert again.ticket_id == "T-1"
    timers.set("T-1", None)  # the agent acted: nothing left due
    assert timers.due(T0 + timedelta(seconds=10)) == []
    assert "T-1" not in due_index


def test_a_moved_due_time_fires_at_the_new_time_only() -> None:
    due_index: dict[str, Any] = {}
    timers = DueTimers(due_index)
    timers.set("T-1", T0)
    timers.set("T-1", T0 + minutes(5))
    assert timers.due(T0) == []
    assert [t.due_at for t in timers.due(T0 + minutes(5))] == [T0 + minutes(5)]


def test_timers_are_rebuilt_from_the_table_after_a_recovery() -> None:
    due_index: dict[str, Any] = {"T-1": T0.timestamp(), "T-2": (T0 + minutes(1)).timestamp()}
    timers = DueTimers(due_index)
    assert timers.due(T0 + minutes(2)) == []  # nothing known before the rebuild
    assert timers.rebuild() == 2
    assert sorted(t.ticket_id for t in timers.due(T0 + minutes(2))) == ["T-1", "T-2"]


# --- the delivery agent ----------------------------------------------------------------


def customer_message(ticket: str = "T-1", **customer: Any) -> Notification:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    fields = {"customer": stories.customer(**customer)} if customer else {}
    created = parse_event(stories.dumps(stories.created(ticket, urgent=True, **fields)))
    return decide(None, created, created.occurred_at, RULES).notifications[0]


@dataclass
class Deliveries:
    failures: list[DeliveryError] = field(default_factory=list)
    team: TeamInbox = TEAM
    clock: Clock = field(default_factory=Clock)
    sink: RecordingSink = field(default_factory=RecordingSink)
    receipts: dict[str, Any] = field(default_factory=dict)
    ledger: ConsentLedger = field(default_factory=ConsentLedger)
    ledger_patience: float = 10.0

    def __post_init__(self) -> None:
        self.email = RecordingChannel("email", failures=self.failures)
        self.sms = RecordingChannel("sms")
        self.ledger.ready.set()
        delivery = Delivery(
            Renderer(REPO / "templates"), {"email": self.email, "sms": self.sms}, RetrySettings(attempts=1)
        )
        self.agent = DeliveryAgent(
            delivery=delivery,
            topics=TOPICS,
            deferred=[(wait, retry_topic(ENGINE, wait)) for wait in WAITS],
            receipts=self.receipts,
            ledger=self.ledger,
            opt_outs=OptOuts(self.ledger, self.sink, TOPICS.consent, self.clock),
            team=self.team,
            reply_window_days=7,
            sink=self.sink,
            dead_letters=DeadLetters(self.sink, TOPICS.dead_letters, self.clock),
            clock=self.clock,
            ledger_patience=self.ledger_patience,
        )

    async def deliver(self, n: Notification) -> None:
        await self.agent(consumed(TOPICS.outbound, n.ticket_id, n.model_dump_json().encode()))

    def statuses(self) -> list[str]:
        return [v["status"] for v in values(self.sink, TOPICS.notification_events)]

    def outbound(self) -> list[Notification]:
        return [Notification.model_validate_json(r.value) for r in self.sink.on(TOPICS.outbound)]


async def test_a_message_is_sent_once_its_receipt_kept_and_a_repeat_is_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="heard.worker")
    worker = Deliveries()
    note = customer_message()
    await worker.deliver(note)
    await worker.deliver(note)  # a redelivery after a crash
    assert f"notification {note.notification_id} already delivered; not sending again" in caplog.text
    assert len(worker.email.sent) == 1
    receipt = json.loads(worker.receipts[note.notification_id])
    assert (receipt["channel"], receipt["provider_id"]) == ("email", "rec-1")
    assert worker.statuses() == ["sent"]


async def test_a_retryable_failure_waits_on_the_retry_topic_for_its_round() -> None:
    worker = Deliveries(failures=[RetryableDeliveryError("SMTP 451: try later")])
    note = customer_message()
    await worker.deliver(note)
    [later] = worker.sink.on(retry_topic(ENGINE, 30))
    deferred = Notification.model_validate_json(later.value)
    assert (deferred.delivery_round, deferred.not_before) == (1, T0 + timedelta(seconds=30))
    assert later.key == b"T-1"
    assert worker.statuses() == ["deferred"]
    [event] = values(worker.sink, TOPICS.notification_events)
    assert event["reason"] == "SMTP 451: try later; trying again in 30 s"
    assert reasons(worker.sink) == [] and worker.outbound() == []


async def test_after_the_last_round_the_message_is_a_dead_letter_and_the_team_is_told() -> None:
    worker = Deliveries(failures=[RetryableDeliveryError("SMTP 451: try later")])
    note = customer_message().model_copy(update={"delivery_round": len(WAITS)})
    await worker.deliver(note)
    assert reasons(worker.sink) == ["SMTP 451: try later"]
    assert worker.statuses() == ["failed"]
    told = worker.outbound()
    assert [(n.kind, n.audience, n.recipient) for n in told] == [
        ("customer_unreachable", "agent", "team@example.com"),
        ("customer_unreachable", "lead", "lead@example.com"),
    ]
    undelivered = told[0].context["undelivered"]
    assert {k: undelivered[k] for k in ("kind", "channel", "reason")} == {
        "kind": "acknowledgment",
        "channel": "email",
        "reason": "SMTP 451: try later",
    }
    assert undelivered["text"].startswith("Hi Amara,")


async def test_the_owner_hears_first_hand_what_an_unreachable_customer_missed() -> None:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    aisha = {"name": "Aisha Rahman", "email": "aisha@example.com"}
    events = [
        stories.created("T-1", urgent=True),
        stories.event(
            "ticket.agent_reply",
            "T-1",
            T0 + timedelta(minutes=2),
            agent=aisha,
            public=True,
            milestone={"text": "Refund of EUR 84.50 approved."},
        ),
    ]
    state = None
    for raw in events:
        event = parse_event(stories.dumps(raw))
        outcome = decide(state, event, event.occurred_at, RULES)
        state = outcome.state
    [update] = [n for n in outcome.notifications if n.kind == "milestone_update"]
    worker = Deliveries()
    worker.ledger.apply(ConsentUpdate("email", update.recipient, False, T0, "sms-stop:SM1"))
    await worker.deliver(update)
    told = {n.recipient: n for n in worker.outbound()}
    assert set(told) == {"team@example.com", "lead@example.com", "aisha@example.com"}
    to_owner = told["aisha@example.com"]
    assert len({n.notification_id for n in told.values()}) == 3
    text = Renderer(REPO / "templates").render(to_owner.kind, "email", "en", "UTC", to_owner.context).text
    assert "What it said, so you can pass it on:" in text
    assert "EUR 84.50" in text and "Aisha Rahman looks after this ticket." in text


async def test_a_refused_email_goes_by_the_customers_consented_sms_instead() -> None:
    worker = Deliveries(failures=[DeliveryError("550 mailbox unavailable")])
    await worker.deliver(customer_message(phone="+14155550123", consent={"email": True, "sms": True}))
    [instead] = worker.outbound()
    assert (instead.channel, instead.recipient, instead.kind) == ("sms", "+14155550123", "acknowledgment")
    assert reasons(worker.sink) == ["550 mailbox unavailable"]


async def test_a_withdrawn_consent_suppresses_the_message_and_the_team_is_told() -> None:
    worker = Deliveries()
    worker.ledger.apply(ConsentUpdate("email", "amara@example.net", False, T0, "sms-stop:SM1"))
    await worker.deliver(customer_message())
    assert worker.email.sent == []
    assert worker.statuses() == ["suppressed"]
    [event] = values(worker.sink, TOPICS.notification_events)
    assert event["reason"] == (
        "the recipient withdrew email consent on 20 Nov 2026, 10:00 UTC (by texting STOP)"
    )
    assert [n.audience for n in worker.outbound()] == ["agent", "lead"]


async def test_a_providers_opt_out_refusal_is_recorded_as_withdrawn_consent() -> None:
    worker = Deliveries(failures=[RecipientOptedOut("21610: recipient unsubscribed")])
    note = customer_message()
    await worker.deliver(note)
    assert worker.ledger.refusal("email", "amara@example.net") is not None
    [update] = values(worker.sink, TOPICS.consent)
    assert (update["allowed"], update["source"]) == (False, f"provider-refusal:{note.notification_id}")


async def test_a_channel_that_raises_still_gives_an_outcome_a_dead_letter_and_a_notice() -> None:
    class Broken(RecordingChannel):
        async def send(self, message: Any) -> Any:
            raise RuntimeError("socket closed")

    worker = Deliveries()
    worker.agent.delivery.channels["email"] = Broken("email")
    await worker.deliver(customer_message())
    assert worker.statuses() == ["failed"]
    assert reasons(worker.sink) == ["delivery could not handle the record: RuntimeError: socket closed"]
    assert [n.audience for n in worker.outbound()] == ["agent", "lead"]


async def test_without_a_channel_for_the_team_nobody_is_told_of_an_unreachable_customer() -> None:
    worker = Deliveries(failures=[DeliveryError("550 mailbox unavailable")], team=TeamInbox({}, "en", "UTC"))
    await worker.deliver(customer_message())
    assert worker.outbound() == [] and reasons(worker.sink) == ["550 mailbox unavailable"]


async def test_a_notification_without_a_kafka_key_is_keyed_by_its_ticket_downstream() -> None:
    worker = Deliveries(failures=[RetryableDeliveryError("SMTP 451")])
    note = customer_message("T-k")
    await worker.agent(consumed(TOPICS.outbound, None, note.model_dump_json().encode()))
    assert [r.key for r in worker.sink.records] == [b"T-k", b"T-k"]  # the retry, the outcome
    told = Deliveries()
    await told.agent.failed(consumed(TOPICS.outbound, None, note.model_dump_json().encode()), "template: x")
    assert {r.key for r in told.sink.records} == {b"T-k"}  # the failed outcome, keyed the same way


async def test_a_record_that_is_no_notification_is_a_dead_letter_and_nothing_else() -> None:
    worker = Deliveries()
    await worker.agent(consumed(TOPICS.outbound, "T-1", b'{"kind": "acknowledgment"}'))
    [reason] = reasons(worker.sink)
    assert reason.startswith("not a notification record:")
    assert worker.statuses() == [] and worker.outbound() == []


async def test_a_batch_keeps_each_tickets_messages_in_their_order() -> None:
    worker = Deliveries()
    first, second = customer_message("T-a"), customer_message("T-b")
    follow_up = first.model_copy(update={"notification_id": "n-later", "kind": "acknowledgment"})
    bound: list[bytes | None] = []
    await worker.agent.deliver_batch(
        [
            consumed(TOPICS.outbound, n.ticket_id, n.model_dump_json().encode())
            for n in (first, second, follow_up)
        ],
        before_each=lambda r: bound.append(r.key),
    )
    sent_a = [m.notification_id for m in worker.email.sent if m.ticket_id == "T-a"]
    assert sent_a == [first.notification_id, "n-later"]
    assert sorted(bound, key=str) == [b"T-a", b"T-a", b"T-b"]


# --- the redelivery agent --------------------------------------------------------------


async def test_a_deferred_message_is_held_until_its_time_then_handed_back_unchanged() -> None:
    sink, clock, slept = RecordingSink(), Clock(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    agent = RedeliveryAgent(
        outbound=TOPICS.outbound,
        sink=sink,
        clock=clock,
        sleep=sleep,
        dead_letters=DeadLetters(sink, TOPICS.dead_letters, clock),
    )
    later = customer_message().model_copy(
        update={"delivery_round": 1, "not_before": T0 + timedelta(seconds=30)}
    )
    raw = later.model_dump_json().encode()
    await agent(consumed(retry_topic(ENGINE, 30), "T-1", raw))
    assert slept == [30.0]
    assert [(r.key, r.value) for r in sink.on(TOPICS.outbound)] == [(b"T-1", raw)]
    await agent(consumed(retry_topic(ENGINE, 30), "T-1", b"[]"))
    assert reasons(sink)[0].startswith("not a notification record:") and slept == [30.0]


# --- the SMS agents --------------------------------------------------------------------


def status_agent() -> tuple[SmsStatusAgent, RecordingSink, dict[str, Any], ConsentLedger]:
    sink, table, ledger, clock = RecordingSink(), {}, ConsentLedger(), Clock()
    agent = SmsStatusAgent(
        provider_status=table,
        notification_events=TOPICS.notification_events,
        opt_outs=OptOuts(ledger, sink, TOPICS.consent, clock),
        sink=sink,
        dead_letters=DeadLetters(sink, TOPICS.dead_letters, clock),
    )
    return agent, sink, table, ledger


def report(status: str, **more: Any) -> bytes:
    return json.dumps(
        {
            "message_sid": "SM" + "a" * 32,
            "status": status,
            "ticket_id": "T-1",
            "notification_id": "n-1",
            "at": stories.iso(T0),
            **more,
        }
    ).encode()


async def test_a_status_never_moves_backwards() -> None:
    agent, sink, table, _ = status_agent()
    for status in ("sent", "delivered", "sent", "queued"):
        await agent(consumed(TOPICS.sms_status, "SM", report(status)))
    assert [v["status"] for v in values(sink, TOPICS.notification_events)] == ["sent", "delivered"]
    assert table == {"SM" + "a" * 32: "delivered"}


# Twilio's message lifecycle (https://www.twilio.com/docs/messaging/api/message-resource,
# "Message status values"), written out here rather than read from heard's table: a stage is
# passed by every later one; the final answers are one stage, so the first of them stands.
LIFECYCLE = [
    {"accepted", "scheduled", "queued"},
    {"sending"},
    {"sent"},
    {"delivered", "undelivered", "failed", "canceled"},
    {"read"},
]
STAGE_OF = {status: n for n, stage in enumerate(LIFECYCLE) for status in stage}


@pytest.mark.parametrize("later", sorted(STAGE_OF))
@pytest.mark.parametrize("first", sorted(STAGE_OF))
async def test_a_report_moves_a_message_forward_through_twilios_lifecycle_never_back(
    first: str, later: str
) -> None:
    agent, sink, table, _ = status_agent()
    for status in (first, later):
        await agent(consumed(TOPICS.sms_status, "SM", report(status)))
    moves = STAGE_OF[later] > STAGE_OF[first]
    published = [v["status"] for v in values(sink, TOPICS.notification_events)]
    assert published == ([first, later] if moves else [first])
    assert table == {"SM" + "a" * 32: later if moves else first}


async def test_a_status_report_is_published_for_its_ticket_with_what_the_team_needs() -> None:
    agent, sink, _, _ = status_agent()
    await agent(consumed(TOPICS.sms_status, "SM", report("undelivered", error_code=30005)))
    [record] = sink.on(TOPICS.notification_events)
    assert record.key == b"T-1"
    assert json.loads(record.value) == {
        "notification_id": "n-1",
        "ticket_id": "T-1",
        "channel": "sms",
        "status": "undelivered",
        "provider_id": "SM" + "a" * 32,
        "error_code": 30005,
        "reason": "provider status report",
        "at": stories.iso(T0),
    }


async def test_only_the_opt_out_error_withdraws_consent_and_only_for_the_number_reported() -> None:
    agent, sink, _, ledger = status_agent()
    await agent(consumed(TOPICS.sms_status, "SM", report("undelivered", error_code=30005, to="+14155550123")))
    await agent(consumed(TOPICS.sms_status, "SM", report("failed", error_code=21610)))  # no number given
    assert ledger.refusal("sms", "+14155550123") is None and sink.on(TOPICS.consent) == []


async def test_a_status_report_of_an_opted_out_number_withdraws_sms_consent() -> None:
    agent, sink, _, ledger = status_agent()
    await agent(consumed(TOPICS.sms_status, "SM", report("undelivered", error_code=21610, to="+14155550123")))
    refusal = ledger.refusal("sms", "+14155550123")
    assert refusal is not None and refusal.source == "twilio-status:SM" + "a" * 32
    assert len(sink.on(TOPICS.consent)) == 1


async def test_a_status_report_of_an_unknown_status_is_a_dead_letter() -> None:
    agent, sink, table, _ = status_agent()
    await agent(consumed(TOPICS.sms_status, "SM", report("teleported")))
    assert reasons(sink) == ["not a status report: 'teleported'"] and table == {}
    [letter] = sink.on(TOPICS.dead_letters)
    assert dict(letter.headers or {})["heard-stage"] == b"sms-status"


async def test_each_status_applied_is_counted_as_an_sms_delivery_and_an_ignored_one_is_not() -> None:
    from prometheus_client import REGISTRY

    def counted(status: str) -> float:
        sample = REGISTRY.get_sample_value("heard_deliveries_total", {"channel": "sms", "status": status})
        return sample or 0.0

    agent, _, _, _ = status_agent()
    before = {status: counted(status) for status in ("sent", "delivered")}
    for status in ("sent", "delivered", "sent"):
        await agent(consumed(TOPICS.sms_status, "SM", report(status)))
    assert counted("sent") == before["sent"] + 1 and counted("delivered") == before["delivered"] + 1


def question(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "phone": "+14155550123",
        "ticket_id": "T-1",
        "asks": "option",
        "offer_id": "O1",
        "choices": 2,
        "asked_at": T0,
        "expires_at": T0 + timedelta(days=2),
    }
    fields.update(overrides)
    return Question(**fields).model_dump_json().encode()


def text(body: str) -> bytes:
    """A customer's text, five minutes after the question."""
    return json.dumps(
        {
            "from": "+14155550123",
            "message_sid": "SM" + "b" * 32,
            "body": body,
            "at": (T0 + minutes(5)).isoformat(),
        }
    ).encode()


def replies_agent(preference_pages: bool = False) -> tuple[SmsRepliesAgent, RecordingSink, dict[str, Any]]:
    sink, table = RecordingSink(), {}
    agent = SmsRepliesAgent(
        questions=table,
        ticket_events=TOPICS.ticket_events,
        sink=sink,
        dead_letters=DeadLetters(sink, TOPICS.dead_letters, Clock()),
        preference_pages=preference_pages,
    )
    return agent, sink, table


def texted(ticket: str, at: datetime, contact: str | None = None) -> bytes:
    return Texted(phone="+14155550123", ticket_id=ticket, at=at, contact=contact).model_dump_json().encode()


@pytest.mark.parametrize(
    "keyword", ["PREFS", "prefs!", " Ajustes. ", "RÉGLAGES", "einstellungen", "Settings?"]
)
async def test_the_preference_keyword_asks_for_the_link_on_the_ticket_the_phone_heard_of_last(
    keyword: str,
) -> None:
    from heard.streams.contract.records import parse_event

    agent, sink, table = replies_agent(preference_pages=True)
    phone = "+14155550123"
    await agent(consumed(TOPICS.sms_inbound, phone, question(ticket_id="T-1")))  # asked at T0
    await agent(consumed(TOPICS.sms_inbound, phone, texted("T-2", T0 + minutes(1), contact="c-9")))
    assert "texted:" + phone in table and phone in table
    await agent(consumed(TOPICS.sms_inbound, phone, text(keyword)))
    [event] = values(sink, TOPICS.ticket_events)
    assert sink.on(TOPICS.ticket_events)[0].key == b"T-2"
    assert (event["type"], event["via"], event["contact"]) == ("customer.preferences_requested", "sms", "c-9")
    assert event["id"] == "prefs-sms:SM" + "b" * 32
    assert parse_event(json.dumps(event).encode()).ticket_id == "T-2"
    # A question asked later than the last text wins: the keyword is about that ticket.
    await agent(consumed(TOPICS.sms_inbound, phone, question(ticket_id="T-3", asked_at=T0 + minutes(2))))
    await agent(consumed(TOPICS.sms_inbound, phone, text(keyword)))
    assert values(sink, TOPICS.ticket_events)[-1]["ticket_id"] == "T-3"


async def test_the_keyword_goes_to_the_latest_ticket_by_time_never_by_name_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The ticket heard of last is the one with the later moment, whatever the tickets are
    called; the event is a whole public event (docs/events.md) and the log tells the team."""
    caplog.set_level(logging.INFO, logger="heard.worker")
    agent, sink, _ = replies_agent(preference_pages=True)
    phone, sid = "+14155550123", "SM" + "b" * 32
    await agent(consumed(TOPICS.sms_inbound, phone, question(ticket_id="T-9")))  # asked at T0
    await agent(consumed(TOPICS.sms_inbound, phone, texted("T-1", T0 + minutes(1))))
    await agent(consumed(TOPICS.sms_inbound, phone, text("PREFS")))
    assert values(sink, TOPICS.ticket_events) == [
        {
            "schema": "heard.event/v1",
            "id": f"prefs-sms:{sid}",
            "type": "customer.preferences_requested",
            "ticket_id": "T-1",
            "occurred_at": (T0 + minutes(5)).isoformat(),
            "source": "sms",
            "via": "sms",
        }
    ], "the later text's ticket, with no contact named: the customer"
    assert f"inbound text {sid} asks for the preference link of T-1" in caplog.text
    await agent(consumed(TOPICS.sms_inbound, phone, question(ticket_id="T-0", asked_at=T0 + minutes(2))))
    await agent(consumed(TOPICS.sms_inbound, phone, text("PREFS")))
    assert values(sink, TOPICS.ticket_events)[-1]["ticket_id"] == "T-0"
    lonely, _, _ = replies_agent(preference_pages=True)
    await lonely(consumed(TOPICS.sms_inbound, "+14155550199", text("PREFS")))
    assert f"inbound text {sid} asks for the preference link, but no ticket texted it" in caplog.text


async def test_a_question_is_answered_until_the_moment_it_expires_then_forgotten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="heard.worker")
    agent, _, table = replies_agent()
    phone, sid = "+14155550123", "SM" + "b" * 32
    await agent(consumed(TOPICS.sms_inbound, phone, text("2")))
    assert f"inbound text {sid} answers no question heard asked; left for the team" in caplog.text
    await agent(consumed(TOPICS.sms_inbound, phone, question(expires_at=T0 + minutes(5))))
    await agent(consumed(TOPICS.sms_inbound, phone, text("2")))  # five minutes after: the moment
    assert phone in table, "a text at the very moment it expires still answers it"
    assert f"inbound text {sid}: " in caplog.text
    await agent(consumed(TOPICS.sms_inbound, phone, question(expires_at=T0 + minutes(4))))
    await agent(consumed(TOPICS.sms_inbound, phone, text("2")))
    assert phone not in table, "a text after it expired forgets it"


async def test_the_keyword_is_only_a_keyword_alone_and_with_the_pages_served() -> None:
    agent, sink, _ = replies_agent(preference_pages=True)
    phone = "+14155550123"
    await agent(consumed(TOPICS.sms_inbound, phone, text("PREFS")))
    assert sink.records == [], "no ticket texted this phone: nothing to link"
    await agent(consumed(TOPICS.sms_inbound, phone, question()))
    await agent(consumed(TOPICS.sms_inbound, phone, text("prefs 2")))
    [event] = values(sink, TOPICS.ticket_events)
    assert event["type"] == "ticket.answer_unclear", "a sentence with the word is no keyword"
    off, sink, _ = replies_agent(preference_pages=False)
    await off(consumed(TOPICS.sms_inbound, phone, question()))
    await off(consumed(TOPICS.sms_inbound, phone, text("PREFS")))
    [event] = values(sink, TOPICS.ticket_events)
    assert event["type"] == "ticket.answer_unclear", "without the pages the word is just words"


async def test_forgetting_a_ticket_drops_the_phones_texted_record_of_it() -> None:
    agent, _, table = replies_agent(preference_pages=True)
    phone = "+14155550123"
    await agent(consumed(TOPICS.sms_inbound, phone, texted("T-2", T0)))
    forget = {"record": "forget", "phone": phone, "ticket_id": "T-1"}
    await agent(consumed(TOPICS.sms_inbound, phone, json.dumps(forget).encode()))
    assert "texted:" + phone in table
    forget["ticket_id"] = "T-2"
    await agent(consumed(TOPICS.sms_inbound, phone, json.dumps(forget).encode()))
    assert table == {}


async def test_a_text_answering_the_numbers_latest_question_becomes_the_tickets_event() -> None:
    agent, sink, table = replies_agent()
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", question()))
    assert "+14155550123" in table
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", text("2")))
    [event] = values(sink, TOPICS.ticket_events)
    assert (event["type"], event["ticket_id"], event["option"]) == ("ticket.option_chosen", "T-1", 2)
    assert sink.on(TOPICS.ticket_events)[0].key == b"T-1"


async def test_a_text_to_a_number_asked_nothing_is_left_for_the_team() -> None:
    agent, sink, _ = replies_agent()
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", text("2")))
    assert sink.records == []


async def test_forgetting_a_ticket_drops_only_its_own_question() -> None:
    agent, _, table = replies_agent()
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", question(ticket_id="T-2")))
    forget = {"record": "forget", "phone": "+14155550123", "ticket_id": "T-1"}
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", json.dumps(forget).encode()))
    assert "+14155550123" in table  # the number's question is another ticket's now
    forget["ticket_id"] = "T-2"
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", json.dumps(forget).encode()))
    assert table == {}


async def test_an_inbound_record_of_the_wrong_shape_is_a_dead_letter() -> None:
    agent, sink, _ = replies_agent()
    await agent(consumed(TOPICS.sms_inbound, "x", b'["a list"]'))
    await agent(consumed(TOPICS.sms_inbound, "x", b'{"from": "+1"}'))
    assert reasons(sink) == [
        "not an inbound text or question: not a JSON object",
        "not an inbound text or question: 'message_sid'",
    ]
    stages = {(record.headers or {})["heard-stage"] for record in sink.on(TOPICS.dead_letters)}
    assert stages == {b"sms-replies"}, "the stage an operator replays from (docs/operations.md)"


async def test_the_records_heard_keeps_beside_the_texts_are_kept_never_dead_lettered() -> None:
    """A question, a `texted` record and a `forget` are heard's own records on the inbound
    topic: each is kept (or acted on), and none is mistaken for a text of the wrong shape."""
    agent, sink, table = replies_agent(preference_pages=True)
    phone = "+14155550123"
    await agent(consumed(TOPICS.sms_inbound, phone, question(ticket_id="T-1")))
    await agent(consumed(TOPICS.sms_inbound, phone, texted("T-1", T0)))
    forget = {"record": "forget", "phone": phone, "ticket_id": "T-1"}
    await agent(consumed(TOPICS.sms_inbound, phone, json.dumps(forget).encode()))
    assert table == {} and sink.records == []


async def test_the_keyword_is_off_unless_the_worker_serves_the_pages() -> None:
    sink, table = RecordingSink(), {}
    agent = SmsRepliesAgent(
        questions=table,
        ticket_events=TOPICS.ticket_events,
        sink=sink,
        dead_letters=DeadLetters(sink, TOPICS.dead_letters, Clock()),
    )
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", question()))
    await agent(consumed(TOPICS.sms_inbound, "+14155550123", text("PREFS")))
    [event] = values(sink, TOPICS.ticket_events)
    assert event["type"] == "ticket.answer_unclear"


async def test_a_question_and_a_text_of_the_same_moment_give_the_keyword_one_ticket() -> None:
    """Two records stamped alike (one naming a contact, one not): the first kept wins, and
    the tie never compares the rest of the records."""
    agent, sink, _ = replies_agent(preference_pages=True)
    phone = "+14155550123"
    await agent(consumed(TOPICS.sms_inbound, phone, question(ticket_id="T-1")))
    await agent(consumed(TOPICS.sms_inbound, phone, texted("T-1", T0, contact="c-9")))
    await agent(consumed(TOPICS.sms_inbound, phone, text("PREFS")))
    [event] = values(sink, TOPICS.ticket_events)
    assert event["ticket_id"] == "T-1" and "contact" not in event and reasons(sink) == []


async def test_each_stage_of_an_event_is_timed_for_the_benchmark_and_prometheus() -> None:
    from heard.streams.base.stages import STAGES

    runs, spent = dict(STAGES.runs), dict(STAGES.total_ns)
    worker = Lifecycle()
    await worker.event(stories.created("T-st", urgent=True))
    stages = ("lifecycle.parse", "lifecycle.load", "lifecycle.decide", "lifecycle.store", "lifecycle.emit")
    assert all(STAGES.runs[stage] == runs.get(stage, 0) + 1 for stage in (*stages, "lifecycle.handled"))
    took = {stage: STAGES.total_ns[stage] - spent.get(stage, 0) for stage in (*stages, "lifecycle.handled")}
    # The stages are laps of one handler: together they fit inside the time it took.
    assert 0 < sum(took[stage] for stage in stages) <= took["lifecycle.handled"]
    assert STAGES.summary()["lifecycle.decide"]["runs"] == STAGES.runs["lifecycle.decide"]


async def test_a_batch_is_timed_per_record_and_counted_as_one_batch() -> None:
    from heard.streams.base.stages import STAGES

    runs, spent = dict(STAGES.runs), dict(STAGES.total_ns)
    worker = Lifecycle()
    await worker.agent.handle_batch([created_record("T-s1"), note("T-s1", 1), note("T-s1", 2)])
    new_runs = {stage: STAGES.runs[stage] - runs.get(stage, 0) for stage in STAGES.runs}
    assert new_runs["lifecycle.handled"] == 3 and new_runs["lifecycle.batches"] == 1
    assert new_runs["lifecycle.decide"] == 3 and new_runs["lifecycle.store"] == 1
    took = STAGES.total_ns["lifecycle.handled"] - spent.get("lifecycle.handled", 0)
    assert took == STAGES.total_ns["lifecycle.batches"] - spent.get("lifecycle.batches", 0) > 0


async def test_stage_times_reach_prometheus_once_the_worker_registers_them() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from heard.streams.base.stages import STAGES

    registry = CollectorRegistry()
    assert b"heard_stage" not in generate_latest(registry)  # nothing registers at import
    await Lifecycle().agent.handle_batch([created_record("T-s2")])
    STAGES.register(registry)
    STAGES.register(registry)  # a second app in one process registers nothing twice
    shown = generate_latest(registry).decode()
    assert 'heard_stage_runs_total{stage="lifecycle.decide"}' in shown
    assert 'heard_stage_seconds_total{stage="lifecycle.handled"}' in shown


# --- the send gate ---------------------------------------------------------------------


async def test_a_send_waits_for_the_previous_receipts_to_be_durable_and_then_goes() -> None:
    worker = Deliveries()
    worker.agent.gate.close_until(durable := asyncio.get_running_loop().create_future())
    sending = asyncio.create_task(worker.deliver(customer_message("T-g1")))
    for _ in range(20):  # every step but the send runs while the producer flushes
        await asyncio.sleep(0)  # a turn of the event loop, no waiting
    assert worker.email.sent == [] and not sending.done()
    durable.set_result(None)
    await sending
    assert len(worker.email.sent) == 1 and worker.statuses() == ["sent"]


async def test_a_flush_that_fails_is_logged_once_and_the_sends_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Deliveries()

    async def broken_flush() -> None:
        await asyncio.sleep(0)  # fails after a turn of the event loop, as a flush would
        raise RuntimeError("broker gone")

    worker.agent.gate.close_until(broken_flush())
    await asyncio.gather(worker.deliver(customer_message("T-g2")), worker.deliver(customer_message("T-g3")))
    # A failed flush replaced before anyone waited on it is reported too, once.
    worker.agent.gate.close_until(broken_flush())
    worker.agent.gate.close_until(asyncio.sleep(0))  # a flush that succeeds at once
    for _ in range(5):
        await asyncio.sleep(0)  # a few turns of the event loop: the replaced flush fails
    assert len(worker.email.sent) == 2 and worker.statuses() == ["sent", "sent"]
    assert [r.message for r in caplog.records if "could not flush" in r.message] == [
        "the producer could not flush before the next send (RuntimeError: broker gone); "
        "a worker killed now may send those messages again"
    ] * 2


async def test_a_stop_read_while_the_send_waits_on_the_gate_is_kept() -> None:
    worker = Deliveries()
    worker.agent.gate.close_until(durable := asyncio.get_running_loop().create_future())
    sending = asyncio.create_task(worker.deliver(customer_message("T-g5")))
    for _ in range(20):
        await asyncio.sleep(0)  # a turn of the event loop, no waiting
    # Checked and rendered already; the STOP arrives while the producer flushes.
    worker.ledger.apply(ConsentUpdate("email", "amara@example.net", False, T0, "sms-stop:SM2"))
    durable.set_result(None)
    await sending
    assert worker.email.sent == [] and worker.statuses() == ["suppressed"]
    assert [n.audience for n in worker.outbound()] == ["agent", "lead"]


async def test_a_send_cancelled_while_waiting_leaves_the_flush_running_for_the_others() -> None:
    worker = Deliveries()
    worker.agent.gate.close_until(durable := asyncio.get_running_loop().create_future())
    waiting = asyncio.create_task(worker.agent.gate.wait())
    await asyncio.sleep(0)  # a turn of the event loop: the send is waiting
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not durable.cancelled()
    durable.set_result(None)
    await worker.deliver(customer_message("T-g4"))
    assert len(worker.email.sent) == 1


async def test_a_ticket_that_cannot_be_rebuilt_is_not_written_half_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from heard.streams.worker import lifecycle

    real, calls = lifecycle.decide, {"T-r-note-1": 0}

    def fails_on_the_second_note_and_its_replay(
        state: Any, event: Any, now: datetime, rules: Any, *, in_place: bool = False
    ) -> Any:
        if event.id == "T-r-note-2" or (event.id == "T-r-note-1" and calls[event.id] > 0):
            state.version += 100
            raise KeyError("customer")
        calls[event.id] = calls.get(event.id, 0) + 1
        return real(state, event, now, rules, in_place=in_place)

    worker = Lifecycle()
    await worker.event(stories.created("T-r"))
    monkeypatch.setattr(lifecycle, "decide", fails_on_the_second_note_and_its_replay)
    await worker.agent.handle_batch([note("T-r", 1), note("T-r", 2)])
    stored = json.loads(worker.tickets["T-r"])
    assert stored["version"] == 1  # as the table had it: neither note, nothing half-done
    # Both notes are dead letters: the second for its failure, the first because its effect
    # on the ticket could not be kept.
    dead = [
        (r.value, (r.headers or {})["heard-reason"].decode()) for r in worker.sink.on(TOPICS.dead_letters)
    ]
    assert [json.loads(value)["id"] for value, _ in dead] == ["T-r-note-1", "T-r-note-2"]
    assert dead[0][1] == (
        "lifecycle could not apply the ticket's events again after a later one "
        "failed (KeyError: 'customer'): KeyError: 'customer'"
    )


async def test_a_send_waits_for_the_last_receipts_only_so_long(caplog: pytest.LogCaptureFixture) -> None:
    """A broker failing over holds the producer's acknowledgments; the gate holds the next
    send for its bound at most (here a short one: the bound is what is tested), says so
    once, and lets the send go on."""
    from heard.streams.worker.send_gate import SendGate

    gate = SendGate(max_wait=0.05)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    gate.close_until(never)
    with caplog.at_level("WARNING", logger="heard.worker"):
        await gate.wait()
        await gate.wait()  # the same stall: said once
    assert not never.done()
    said = [r.getMessage() for r in caplog.records if "not confirmed" in r.getMessage()]
    assert said == [
        "the producer has not confirmed the last receipts for 0 s (a broker "
        "failing over?); sending on: a worker killed now may send those "
        "messages again"
    ]
    never.cancel()


async def test_no_message_goes_before_the_consent_ledger_is_read_and_a_stop_in_it_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker starting up reads the consent topic first: a delivery waits for it (and says
    so once it has waited long), then honours the STOP it found there."""
    worker = Deliveries(ledger_patience=0.01)
    worker.ledger.ready.clear()
    delivery = asyncio.create_task(worker.deliver(customer_message()))
    for _ in range(3000):  # the warning, or the message gone without it: at most 30 s
        if "waiting for the consent ledger" in caplog.text or delivery.done():
            break
        await asyncio.sleep(0.01)  # polls for the warning or the send; bounded by the loop above
    assert worker.email.sent == [] and not delivery.done()
    assert "deliveries are waiting for the consent ledger" in caplog.text
    worker.ledger.apply(ConsentUpdate("email", "amara@example.net", False, T0, "sms-stop:SM1"))
    worker.ledger.ready.set()
    await asyncio.wait_for(delivery, 30)
    assert worker.email.sent == []
    assert worker.statuses() == ["suppressed"]


async def test_an_event_read_again_after_a_crash_restores_a_due_time_the_crash_lost() -> None:
    """The state and the due index are written to two changelogs: a SIGKILL can keep the
    first and lose the second. The resolution, read again (its offset was not committed), is
    a duplicate for the state, and must still put the closure's due time back."""
    worker = Lifecycle()
    await worker.event(stories.created("T-7", urgent=True))
    await worker.event(stories.resolved("T-7", T0 + minutes(1)))
    due = worker.due_index["T-7"]
    del worker.due_index["T-7"]  # the due index's changelog record did not survive the kill
    worker.timers.heap.clear()
    await worker.event(stories.resolved("T-7", T0 + minutes(1)))  # read again after the restart
    assert worker.due_index.get("T-7") == due
    worker.clock.at = datetime.fromtimestamp(due, UTC)
    assert await worker.sweep() == 1
    assert "closure_summary" in [n["kind"] for n in values(worker.sink, TOPICS.outbound)]


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_each_outcome_is_counted_with_its_channel_time_segments_and_template_errors() -> None:
    worker = Deliveries(failures=[DeliveryError("550 mailbox unavailable")])
    sent = ("heard_deliveries_total", {"channel": "sms", "status": "sent"})
    failed = ("heard_deliveries_total", {"channel": "email", "status": "failed"})
    timed = ("heard_delivery_seconds_count", {"channel": "sms"})
    waited = ("heard_delivery_seconds_sum", {"channel": "sms"})
    broken = ("heard_template_errors_total", {"kind": "acknowledgment"})
    before = {name[0] + str(name[1]): sample(*name) for name in (sent, failed, timed, waited, broken)}

    def grew(name: tuple[str, dict[str, str]], by: float) -> bool:
        return sample(*name) == before[name[0] + str(name[1])] + by

    segments = sample("heard_sms_segments_total")
    worker.clock.at = T0 + minutes(3)
    text = customer_message(
        phone="+14155550123", preferred_channel="sms", consent={"email": False, "sms": True}
    )
    await worker.deliver(text)
    await worker.deliver(customer_message("T-2"))  # refused by the mail server
    template = customer_message("T-3")
    await worker.agent.failed(
        consumed(TOPICS.outbound, "T-3", template.model_dump_json().encode()), "template: x.txt line 1: nmae"
    )
    assert grew(sent, 1) and grew(failed, 2) and grew(timed, 1) and grew(broken, 1)
    assert not grew(waited, 0)  # the time from the decision to the provider's acceptance
    assert sample("heard_sms_segments_total") == segments + 1


async def test_a_record_that_is_not_a_notification_fails_quietly_where_the_dead_letter_speaks() -> None:
    worker = Deliveries()
    await worker.agent.failed(consumed(TOPICS.outbound, "T-1", b"not json"), "could not handle it")
    assert worker.sink.records == []


async def test_a_question_asked_by_text_is_remembered_by_the_number_that_answers_it() -> None:
    from heard.streams.contract.records import parse_event
    from heard.streams.policy.decide import decide

    lucia = stories.customer(
        phone="+34612345678", preferred_channel="sms", consent={"email": False, "sms": True}
    )
    state = None
    for raw in (stories.created("T-4", customer=lucia), stories.offered("T-4", T0 + minutes(2))):
        event = parse_event(stories.dumps(raw))
        outcome = decide(state, event, event.occurred_at, RULES)
        state = outcome.state
    [options] = [n for n in outcome.notifications if n.kind == "options"]
    worker = Deliveries()
    await worker.deliver(options)
    asked, texted = worker.sink.on(TOPICS.sms_inbound)
    assert asked.key == texted.key == b"+34612345678"
    question = Question.model_validate_json(asked.value)
    assert (question.ticket_id, question.asks, question.offer_id) == ("T-4", "option", "O1")
    told = Texted.model_validate_json(texted.value)
    assert (told.ticket_id, told.phone, told.locale) == ("T-4", "+34612345678", options.locale)


async def test_the_ticket_a_phone_was_texted_about_is_recorded_once_per_phone_and_ticket() -> None:
    texting = {"phone": "+34612345678", "preferred_channel": "sms", "consent": {"email": False, "sms": True}}
    worker = Deliveries()
    first, again, other = (customer_message(ticket, **texting) for ticket in ("T-4", "T-4", "T-5"))
    for number, n in enumerate((first, again, other, first)):
        await worker.deliver(n.model_copy(update={"notification_id": f"{n.notification_id}-{number}"}))
    told = [Texted.model_validate_json(r.value).ticket_id for r in worker.sink.on(TOPICS.sms_inbound)]
    assert told == ["T-4", "T-5", "T-4"], "a record when the ticket changes, none for a repeat"
    emailed = customer_message("T-6")
    await worker.deliver(emailed)
    assert len(worker.sink.on(TOPICS.sms_inbound)) == 3, "an email is no text"


@pytest.mark.parametrize(
    ("source", "how"),
    [
        ("twilio-inbound:SM1", "by texting STOP"),
        ("sms-stop:SM1", "by texting STOP"),
        ("twilio-status:SM2", "the carrier refused our texts, Twilio 21610"),
        ("provider-refusal:n-1", "the provider refused to deliver to them"),
        ("help-desk:agent", "help-desk"),
    ],
)
def test_a_withdrawal_is_told_in_words_with_its_time(source: str, how: str) -> None:
    from heard.streams.worker.delivery_agent import withdrawn_reason

    assert (
        withdrawn_reason("sms", T0, source)
        == f"the recipient withdrew sms consent on 20 Nov 2026, 10:00 UTC ({how})"
    )


async def test_a_delivery_is_timed_by_stage_and_its_wait_measured_to_the_millisecond() -> None:
    """bench.throughput reads these stage names; the latency histogram keeps sub-second
    deliveries as what they were, not rounded up to a second."""
    from heard.streams.base.stages import STAGES

    stages = ("delivery.check", "delivery.render", "delivery.send", "delivery.receipt", "delivery.publish")
    runs = {stage: STAGES.summary().get(stage, {}).get("runs", 0) for stage in stages}
    waited = sample("heard_delivery_seconds_sum", {"channel": "email"})
    worker = Deliveries()
    now = customer_message("T-8").model_copy(update={"decided_at": datetime.now(UTC)})
    await worker.deliver(now)
    assert all(STAGES.summary()[stage]["runs"] == runs[stage] + 1 for stage in stages)
    assert 0 <= sample("heard_delivery_seconds_sum", {"channel": "email"}) - waited < 1
