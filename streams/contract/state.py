"""Per-ticket state and the records the policy emits.

All of it is plain pydantic data, serialised as JSON into the changelog-backed
`tickets` table, so the core stays pure and the worker stays a thin shell.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal, assert_never, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from heard.streams.contract.records import Agent, ClosureSummary, Contact, Customer, Milestone

NOTIFICATION_NAMESPACE = uuid.UUID("5b0c4d2e-8f7a-4f5e-9a51-6b3f0d6c9e11")
SEEN_EVENTS_KEPT = 512

Kind = Literal[
    "acknowledgment",
    "milestone_update",
    "closure_summary",
    "options",
    "option_confirmed",
    "checkpoint_holding",
    "checkpoint_nudge",
    "checkpoint_escalation",
    "customer_unreachable",
    "options_answered",
    "options_unanswered",
    # A low score (or a negative signal) to the closure's question: the customer's reply, and
    # the owner's and the lead's notice with the words.
    "feedback_reply",
    "feedback_low",
    # An answer to the options that names none (or several): asked again with the numbers.
    "options_unclear",
    # The link to the reader's preference page, which they asked for (a keyword by text).
    "preferences_link",
]
Audience = Literal["customer", "agent", "lead"]


def reader_of(kind: Kind) -> Literal["customer", "team"]:
    """Who reads a kind of message. A kind added to `Kind` without a case here is a mypy
    error (assert_never): rendering, lint and the studio sort kinds by this."""
    match kind:
        case (
            "acknowledgment"
            | "milestone_update"
            | "closure_summary"
            | "checkpoint_holding"
            | "options"
            | "option_confirmed"
            | "feedback_reply"
            | "options_unclear"
            | "preferences_link"
        ):
            return "customer"
        case (
            "checkpoint_nudge"
            | "checkpoint_escalation"
            | "customer_unreachable"
            | "options_answered"
            | "options_unanswered"
            | "feedback_low"
        ):
            return "team"
        case _:
            assert_never(kind)


KINDS: tuple[Kind, ...] = get_args(Kind)
CUSTOMER_KINDS: tuple[Kind, ...] = tuple(k for k in KINDS if reader_of(k) == "customer")
TEAM_KINDS: tuple[Kind, ...] = tuple(k for k in KINDS if reader_of(k) == "team")
# The channels that reach customers. The team's messages may go by any channel of the
# registry that carries them (channels/registry.py), so a notification's channel is a name.
ChannelName = Literal["email", "sms"]
PromiseStatus = Literal["pending", "kept", "kept_late", "renegotiated", "broken", "cancelled"]


class Model(BaseModel):
    # Stored state and records between agents keep fields this version does not know:
    # during a rolling upgrade an older worker reads a newer worker's records, acts on what
    # it understands, and writes the rest back unchanged (docs/operations.md).
    model_config = ConfigDict(extra="allow")


def notification_id(
    ticket_id: str, kind: str, trigger_event_id: str, channel: str, audience: str = "customer"
) -> str:
    """Deterministic id: the same decision always yields the same id, on any worker."""
    name = f"{ticket_id}|{kind}|{trigger_event_id}|{audience}|{channel}"
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, name))


class Notification(Model):
    """One message to send: the outbox record on `notifications-outbound`."""

    notification_id: str
    ticket_id: str
    kind: Kind
    audience: Audience
    channel: str
    recipient: str
    fallback: list[ChannelName] = Field(default_factory=list)
    fallback_recipients: dict[str, str] = Field(default_factory=dict)
    locale: str
    timezone: str
    plain_text_only: bool = False
    urgent: bool = False
    trigger_event_id: str
    decided_at: datetime
    context: dict[str, Any]
    # The contact this goes to (their key), when it is not the ticket's customer.
    contact: str | None = None
    # A customer's message: the ticket owner's email, told if it reaches no one.
    owner_email: str | None = None
    # Set when a temporary failure outlasted the quick retries: the next try waits.
    delivery_round: int = 0
    not_before: datetime | None = None


class Decision(Model):
    """One line of the decision log: what heard did about a ticket, and why."""

    ticket_id: str
    event_id: str
    event_type: str
    at: datetime
    outcome: Literal["send", "schedule", "defer", "skip", "suppress", "cancel", "record", "erase"]
    kind: str | None = None
    channel: str | None = None
    notification_id: str | None = None
    reason: str


def decision_lines(value: bytes) -> list[dict[str, Any]]:
    """The decision lines a heard-decisions record holds: one (`engine.decision_records:
    line`) or an event's all (`per_event`: `{"record": "decisions", "lines": [...]}`)."""
    data = json.loads(value)
    if isinstance(data, dict) and data.get("record") == "decisions":
        return [line for line in data.get("lines", []) if isinstance(line, dict)]
    return [data] if isinstance(data, dict) else []


class Scheduled(Model):
    """A message decided but held until `due_at` (hold, grace, quiet hours, ladder step)."""

    kind: Kind
    audience: Audience = "customer"
    due_at: datetime
    trigger_event_id: str
    trigger_at: datetime
    urgent: bool = False
    promise_id: str | None = None
    promise_version: int | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    # For one contact only (their quiet hours held it); None: the customer, then each contact.
    contact: str | None = None


class Promise(Model):
    promise_id: str
    version: int = 1
    agent: Agent
    what: str
    # What the customer is told they will hear about (the agent's `what` is their own note).
    customer_text: str | None = None
    due_at: datetime
    made_at: datetime
    # When heard recorded it (a backlog can bring a promise after messages that could not
    # speak of it); None in states written before it was kept.
    learned_at: datetime | None = None
    status: PromiseStatus = "pending"
    settled_at: datetime | None = None
    outside_team_hours: bool = False
    nudged: bool = False
    escalated: bool = False


class PromiseRecord(Model):
    """A promise's status as of one change: the `heard-promises` topic, for reports."""

    record: Literal["promise"] = "promise"
    promise_id: str
    ticket_id: str
    version: int
    agent: str
    agent_id: str | None = None
    team: str | None = None
    status: PromiseStatus
    made_at: datetime
    due_at: datetime
    settled_at: datetime | None = None
    at: datetime


class FirstAcknowledgment(Model):
    """How long the customer waited for the first word from us on a ticket."""

    record: Literal["first_acknowledgment"] = "first_acknowledgment"
    ticket_id: str
    team: str | None = None
    seconds: float
    at: datetime


class Offer(Model):
    """Paths forward offered to the customer, and which one they chose."""

    offer_id: str
    options: list[dict[str, Any]]
    offered_at: datetime
    choose_by: datetime | None = None
    chosen: int | None = None
    chosen_at: datetime | None = None
    # A newer offer replaced this one before the customer chose.
    withdrawn: bool = False
    # The customer was asked once to answer with a number: a second unclear answer goes to
    # the owner only (no loop of questions).
    asked_again: bool = False


class Question(Model):
    """A question an SMS asked: the customer's next text to that number may answer it.

    Keyed by the phone number on the inbound topic, so the worker that reads the reply
    knows which ticket it is about."""

    record: Literal["question"] = "question"
    phone: str
    ticket_id: str
    asks: Literal["option", "feedback"]
    offer_id: str | None = None
    choices: int
    asked_at: datetime
    expires_at: datetime
    locale: str = "en"
    # The contact it was asked of, when not the ticket's customer.
    contact: str | None = None


class Texted(Model):
    """heard texted this phone about this ticket: a keyword the customer texts back (PREFS…)
    is about the ticket they heard of last. Keyed by the phone on the inbound topic, as a
    question is; written once per phone and ticket, not per text."""

    record: Literal["texted"] = "texted"
    phone: str
    ticket_id: str
    at: datetime
    locale: str = "en"
    contact: str | None = None


class ChoiceRecord(Model):
    """The customer's choice, on `heard-replies` for help desks to act on."""

    record: Literal["option_chosen"] = "option_chosen"
    ticket_id: str
    offer_id: str
    option: int
    label: str
    via: str
    owner: str | None = None
    # Who chose: None for the ticket's customer, else a contact's key, hashed.
    respondent: str | None = None
    at: datetime


class FeedbackRecord(Model):
    """One answer to the closure's question, on `heard-replies`, for `heard report feedback`."""

    record: Literal["feedback"] = "feedback"
    ticket_id: str
    event_id: str
    score: int | None = None
    text: str | None = None
    signals: list[str] = Field(default_factory=list)
    via: str
    # Who answered: None for the ticket's customer, else a contact's key, hashed (the report
    # counts people, and never needs their address).
    respondent: str | None = None
    agent: str | None = None
    agent_id: str | None = None
    team: str | None = None
    at: datetime


class TransferRecord(Model):
    """A change of team on a ticket: the `heard-promises` topic, for `heard report transfers`."""

    record: Literal["transfer"] = "transfer"
    ticket_id: str
    from_team: str
    to_team: str
    count: int
    at: datetime


class SentRecord(Model):
    kind: str
    notification_id: str
    channel: str
    audience: str
    at: datetime
    contact: str | None = None


class TicketState(Model):
    ticket_id: str
    version: int = 0
    known: bool = False
    status: str = "unknown"
    status_at: datetime | None = None
    created_at: datetime | None = None
    subject: str | None = None
    urgent: bool = False
    customer: Customer | None = None
    agent: Agent | None = None
    next_milestone: Milestone | None = None
    summary: ClosureSummary | None = None
    resolved_at: datetime | None = None
    reopened_at: datetime | None = None
    last_customer_message_at: datetime | None = None
    last_public_agent_update_at: datetime | None = None
    last_customer_notified_at: datetime | None = None
    # The customer's own emails this ticket came with (Message-IDs, when the help desk gave
    # them): the first, and the latest if another came. heard's emails reference them.
    customer_message_ids: list[str] = Field(default_factory=list)
    seen_event_ids: list[str] = Field(default_factory=list)
    sent: list[SentRecord] = Field(default_factory=list)
    scheduled: list[Scheduled] = Field(default_factory=list)
    promises: dict[str, Promise] = Field(default_factory=dict)
    # When this closed ticket's data is erased (retention), unless it is reopened first.
    forget_at: datetime | None = None
    concern: str | None = None
    # The first reply the acknowledgment promised, until a public agent reply gives it.
    first_reply_due: datetime | None = None
    # The lead was told the first reply is late (the watch fired); a later acknowledgment
    # that promises a new time starts the watch again.
    first_reply_escalated: bool = False
    # The time the last holding update told the customer they would hear from us by, until
    # something real (a public reply, a milestone, a new promise, the closure) reaches them.
    next_update_due: datetime | None = None
    holding_updates_in_a_row: int = 0
    # Who looks after the ticket: the agent an assignment named as owner; otherwise the one
    # who last made a promise or a public reply; before anyone has, the latest assignee.
    owner: Agent | None = None
    # An assignment said `owner: true`: only another such assignment changes the owner.
    owner_explicit: bool = False
    # The owner changed and the customer has not been told yet (one line, once).
    owner_news: bool = False
    transfers: int = 0
    transfers_acknowledged: bool = False
    offers: dict[str, Offer] = Field(default_factory=dict)
    contacts: list[Contact] = Field(default_factory=list)
    # Who asked on their preference page for no more progress updates about this ticket:
    # "customer", or "contact:KEY" (the notification ids' names for them).
    updates_paused_for: list[str] = Field(default_factory=list)

    # `seen_event_ids` as a set, for the one question asked of it on every event: (owner id,
    # the list it was made from, the set). Only its owner uses it (a copy rebuilds it), and
    # only while the list is that very list. Read and written in `__pydantic_private__`
    # directly: pydantic's attribute hooks for private names cost more than the scan saved.
    _seen: tuple[int, list[str], set[str]] | None = PrivateAttr(default=None)

    def _seen_set(self) -> set[str]:
        ids = self.seen_event_ids
        private = self.__pydantic_private__
        assert private is not None  # pydantic fills it for every model with private attributes
        cached = private.get("_seen")
        if cached is None or cached[0] != id(self) or cached[1] is not ids or len(cached[2]) != len(ids):
            cached = private["_seen"] = (id(self), ids, set(ids))
        return cached[2]

    def has_seen(self, event_id: str) -> bool:
        return event_id in self._seen_set()

    def remember_event(self, event_id: str) -> None:
        """Keep `event_id` as applied; the oldest go once SEEN_EVENTS_KEPT are kept."""
        seen = self._seen_set()
        old = self.seen_event_ids
        # A new list, never the old one changed: a shallow copy may share it.
        kept = [*old, event_id][-SEEN_EVENTS_KEPT:]
        self.seen_event_ids = kept
        seen.add(event_id)
        seen.difference_update(old[: len(old) + 1 - len(kept)])
        assert self.__pydantic_private__ is not None
        self.__pydantic_private__["_seen"] = (id(self), kept, seen)

    def __eq__(self, other: object) -> bool:
        # The fields only: the seen-set above is a cache of one of them.
        if not isinstance(other, TicketState):
            return NotImplemented  # Python's "not comparable here": the other side is asked
        return self.__dict__ == other.__dict__ and self.__pydantic_extra__ == other.__pydantic_extra__

    __hash__ = None  # type: ignore[assignment]  # mutable, as every pydantic model

    def phones(self) -> list[str]:
        """Every phone number on the ticket: the customer's and its contacts'."""
        people = [self.customer, *self.contacts]
        return list(dict.fromkeys(p.phone for p in people if p is not None and p.phone))

    def next_due(self) -> datetime | None:
        due = [item.due_at for item in self.scheduled]
        if self.forget_at is not None:
            due.append(self.forget_at)
        return min(due, default=None)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> TicketState:
        return cls.model_validate_json(raw)
