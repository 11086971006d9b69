"""The canonical event contract (schema `heard.event/v1`).

Every event is one JSON object on the `ticket-events` topic, keyed by ticket id.
Validation is strict: unknown fields, unknown types, naive datetimes, unknown
timezones and malformed phone numbers are rejected with a reason, and the
worker sends the original bytes to the dead-letter topic.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from heard.streams.base.zones import known_timezone

SCHEMA = "heard.event/v1"
MAX_TEXT = 2000
MAX_NAME = 200
# Deeper than any event the contract describes (an event nests four levels); anything
# deeper is not an event, and Python's parser would run out of stack on thousands.
MAX_DEPTH = 16
# Every moment an event carries, in UTC. Inside it, every time heard derives (holds, grace
# periods, promise ladders, quiet-hour deferrals of days) stays representable in every zone.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# Invisible characters that reorder or hide text: bidi embeddings, overrides and isolates,
# directional marks, zero-width space, word joiner, BOM. They are removed from every text
# (a name or subject cannot then pose as `Invoice <RLO>fdp.exe`). ZWJ and ZWNJ stay: Persian
# and Indic names and emoji sequences are spelled with them.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
        "\u200e\u200f\u061c\u200b\u2060\ufeff\u180e"
        "\u115f\u1160\u3164\uffa0",
    )
)
# Control characters (C0 but tab and newline, DEL, C1) are removed too: none is text.
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0)])
_STRIP = {**_INVISIBLE, **_CONTROLS}


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _utc(value: datetime) -> datetime:
    # The year is checked before any conversion: converting year 1 or 9999 can overflow.
    if not EARLIEST.year - 1 <= value.year <= LATEST.year or not (
        EARLIEST <= (utc := value.astimezone(UTC)) < LATEST
    ):
        raise ValueError(f"outside the accepted window {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)")
    return utc


def clean_name(value: str) -> str:
    """A name or a one-line text: cleaned, and on one line (no line breaks or tabs)."""
    return " ".join(clean_text(value).split())


def clean_text(value: str) -> str:
    """Text as a reader will see it: no control or invisible reordering characters."""
    cleaned = value.translate(_STRIP).strip()
    if value and not cleaned:
        raise ValueError("nothing readable is left once control and invisible characters are removed")
    return cleaned


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
ShortText = Annotated[str, AfterValidator(clean_name), Field(min_length=1, max_length=MAX_NAME)]
LongText = Annotated[str, AfterValidator(clean_text), Field(min_length=1, max_length=MAX_TEXT)]
# Deliberately narrow: no spaces, control characters, quotes, angle brackets or separators,
# so an address can never smuggle a second recipient or a header into an email.
_ADDRESS = re.compile(r"[^@\s<>\"',;\x00-\x1f\x7f-\x9f]+@[^@\s<>\"',;\x00-\x1f\x7f-\x9f]+")


def email_address(value: str) -> str:
    """An address every SMTP server takes: ASCII local part (heard does not use SMTPUTF8),
    a domain in its ASCII (punycode) form, nothing that could read as a second header."""
    if not _ADDRESS.fullmatch(value) or any(char in value for char in ":()[]\\"):
        raise ValueError(
            "not an email address heard can send to (one @; no spaces, quotes, "
            "angle brackets, colons, brackets, commas, semicolons or control "
            "characters)"
        )
    local, _, domain = value.rpartition("@")
    if not local.isascii():
        raise ValueError(
            "the part before @ is not ASCII: heard sends without SMTPUTF8, so "
            "such an address cannot be written to"
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"the domain is not a valid internationalised name ({exc})") from exc
    return f"{local}@{ascii_domain}"


EmailAddress = Annotated[
    str,
    Field(max_length=254, json_schema_extra={"pattern": f"^{_ADDRESS.pattern}$"}),
    AfterValidator(email_address),
]


def normalise_phone(value: str, region: str | None = None) -> str:
    """Return the E.164 form of a phone number, or raise ValueError. Without a `region` (a
    canonical event's number) the number must carry its country code: heard does not guess
    a customer's country. A connector passes the configured `connectors.default_region`."""
    if region is None and not value.strip().startswith("+"):
        raise ValueError(
            "not in international form: start it with + and the country code "
            "(E.164); heard does not guess the country"
        )
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class QuietHoursWindow(Strict):
    """Local wall-clock window in the customer's timezone; may wrap midnight."""

    start: time
    end: time


class Consent(Strict):
    email: bool = True
    sms: bool = False


class Accessibility(Strict):
    plain_text_only: bool = False


# Academic titles that lead a name and stay in a formal address ("Prof. Dr. Vogel").
TITLES = frozenset({"dr.", "dr", "prof.", "prof", "dr.-ing.", "dipl.-ing.", "mag.", "ing."})


def formal_name(name: str) -> str:
    """The title(s) and the last word of a name that starts with a title; else the name."""
    words = name.split()
    titles = []
    while words and words[0].lower() in TITLES:
        titles.append(words.pop(0))
    if not titles or not words:
        return name
    return " ".join([*titles, words[-1]])


class Customer(Strict):
    id: ShortText | None = None
    name: ShortText
    preferred_name: ShortText | None = None
    pronouns: Annotated[str, AfterValidator(clean_text), Field(max_length=40)] | None = None
    email: EmailAddress | None = None
    # E.164 with its country code; spaces and dashes are read and dropped.
    phone: Annotated[str, Field(json_schema_extra={"pattern": r"^\s*\+"})] | None = None
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")] = "en"
    timezone: str | None = None
    preferred_channel: Literal["email", "sms"] | None = None
    accessibility: Accessibility = Accessibility()
    quiet_hours: QuietHoursWindow | None = None
    consent: Consent = Consent()

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(value)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str | None) -> str | None:
        return None if value is None else known_timezone(value)

    @property
    def greeting_name(self) -> str:
        return self.preferred_name or self.name

    @property
    def formal_name(self) -> str:
        """How a formal letter addresses them: "Dr. Vogel" for "Dr. Katrin Vogel" (the title
        and surname, as German usage expects); their own preferred name always wins."""
        return self.preferred_name or formal_name(self.name)


class Contact(Customer):
    """Someone else on the ticket (a VP during an outage, a partner): their own channel,
    language, timezone, quiet hours and consent. A stakeholder hears every update (milestones,
    holding updates, the closure); a requester hears everything the customer does."""

    role: Literal["requester", "stakeholder"] = "stakeholder"

    @property
    def key(self) -> str:
        """Who this is, stably: their id, else their address (never shown: ids are hashed)."""
        return self.id or self.email or self.phone or self.name


Contacts = Annotated[list[Contact], Field(max_length=10)]


class Agent(Strict):
    id: ShortText | None = None
    name: ShortText
    team: ShortText | None = None
    email: EmailAddress | None = None


class Milestone(Strict):
    text: LongText
    due_at: UtcDatetime | None = None


class ClosureSummary(Strict):
    what_happened: LongText
    what_changed: LongText
    prevention: LongText


class EventBase(Strict):
    schema_: Literal["heard.event/v1"] = Field("heard.event/v1", alias="schema")
    id: ShortText
    occurred_at: UtcDatetime
    ticket_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:#-]+$")]
    source: Annotated[str, AfterValidator(clean_text), Field(max_length=64)] | None = None
    # What a connector could not read and left out (an unreadable phone, an unknown zone):
    # the rest of the event still counts, and the decision log says what was dropped.
    warnings: Annotated[list[LongText], Field(max_length=10)] | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# An email's Message-ID as RFC 5322 writes it: `<left@right>`, no spaces.
MessageId = Annotated[str, Field(min_length=5, max_length=998, pattern=r"^<[^<>\s@]+@[^<>\s@]+>$")]


class TicketCreated(EventBase):
    type: Literal["ticket.created"]
    customer: Customer
    subject: LongText
    # The Message-ID of the customer's email the ticket began with, when the help desk gives
    # it: heard's emails to the customer then thread under it in their inbox.
    message_id: MessageId | None = None
    urgent: bool = False
    agent: Agent | None = None
    next_milestone: Milestone | None = None
    # What the customer is worried about, in the agent's words ("that the gift will miss
    # the party"): messages name it; it is never required and never guessed.
    concern: LongText | None = None
    # Everyone else who should hear how it goes, each by their own preferences.
    contacts: Contacts | None = None


class CustomerMessage(EventBase):
    type: Literal["ticket.customer_message"]
    urgent: bool = False
    excerpt: LongText | None = None
    # The Message-ID of the customer's email, when the help desk gives it (see TicketCreated).
    message_id: MessageId | None = None


class AgentReply(EventBase):
    type: Literal["ticket.agent_reply"]
    agent: Agent
    public: bool
    # The progress this reply reports (customers get a milestone update) ...
    milestone: Milestone | None = None
    # ... and what comes next, with its time if the agent gave one.
    next_milestone: Milestone | None = None
    urgent: bool = False
    concern: LongText | None = None


class StatusChanged(EventBase):
    type: Literal["ticket.status_changed"]
    from_status: ShortText | None = None
    to_status: ShortText
    note: LongText | None = None
    next_milestone: Milestone | None = None


class Assigned(EventBase):
    type: Literal["ticket.assigned"]
    agent: Agent
    # This agent owns the ticket from now on ("I will personally shepherd this"); without
    # it, the first assignee is the owner.
    owner: bool = False


class CheckpointPromised(EventBase):
    type: Literal["ticket.checkpoint_promised"]
    promise_id: ShortText
    agent: Agent
    due_at: UtcDatetime
    what: LongText
    team_calendar: ShortText | None = None
    # For the customer, when a promise moves: why (shown as "because ...") and, optionally,
    # what they will hear about (the task line `what` is the agent's own note).
    reason: LongText | None = None
    customer_text: LongText | None = None


class Resolved(EventBase):
    type: Literal["ticket.resolved"]
    agent: Agent | None = None
    summary: ClosureSummary


class Reopened(EventBase):
    type: Literal["ticket.reopened"]
    reason: LongText | None = None


class Closed(EventBase):
    type: Literal["ticket.closed"]


class Option(Strict):
    """One path forward the customer can choose: what it is, what it costs them, when."""

    label: ShortText
    tradeoff: LongText | None = None
    timeline: LongText | None = None


class OptionsOffered(EventBase):
    """Two or three credible paths forward; the customer chooses one by replying."""

    type: Literal["ticket.options_offered"]
    offer_id: ShortText
    agent: Agent | None = None
    options: Annotated[list[Option], Field(min_length=2, max_length=3)]
    # When the team needs the answer by: unanswered then, the owner is told.
    choose_by: UtcDatetime | None = None
    # The agent's one line of context before the options ("The part is out of stock.").
    intro: LongText | None = None


class OptionChosen(EventBase):
    """The customer's choice: heard writes it from an SMS reply or a signed link, and a help
    desk may send it too (a choice made on the phone)."""

    type: Literal["ticket.option_chosen"]
    offer_id: ShortText
    option: Annotated[int, Field(ge=1, le=3)]
    via: Literal["sms", "email", "help_desk"] = "help_desk"
    text: LongText | None = None
    # Who answered, when it was one of the ticket's other contacts (their key).
    contact: ShortText | None = None


class AnswerUnclear(EventBase):
    """The customer answered the options, but not with one of them ("la segunda o la
    tercera, no sé"): heard writes it from an SMS reply it cannot read as one choice, and a
    help desk may send it for an answer its agents could not read either."""

    type: Literal["ticket.answer_unclear"]
    offer_id: ShortText
    text: LongText
    via: Literal["sms", "email", "help_desk"] = "help_desk"
    contact: ShortText | None = None


class FeedbackGiven(EventBase):
    """How it went, in the customer's own answer: a score from 1 to 5, words, or both."""

    type: Literal["ticket.feedback"]
    score: Annotated[int, Field(ge=1, le=5)] | None = None
    text: LongText | None = None
    via: Literal["sms", "email", "help_desk"] = "help_desk"
    contact: ShortText | None = None

    @model_validator(mode="after")
    def _something_said(self) -> FeedbackGiven:
        if self.score is None and self.text is None:
            raise ValueError("feedback needs a score (1 to 5), a text, or both")
        return self


class ContactsUpdated(EventBase):
    """The ticket's other contacts from now on (the whole list: an empty one removes all)."""

    type: Literal["ticket.contacts_updated"]
    contacts: Contacts


class PreferenceChanges(Strict):
    """What a reader changed on their preference page; each field left out stays as it was."""

    # Whose: None for the ticket's customer, else a contact's key.
    contact: ShortText | None = None
    preferred_channel: Literal["email", "sms"] | None = None
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")] | None = None
    quiet_hours: QuietHoursWindow | None = None
    # True: they asked for no quiet hours at all (a None above leaves them as they were).
    no_quiet_hours: bool = False
    # True: no more progress updates about this ticket (milestones, holding updates) until
    # they resume them; False: resume. None leaves it as it was.
    updates_paused: bool | None = None


class PreferencesUpdated(EventBase):
    """The warm data from now on: the whole customer as the help desk has it, or what the
    reader changed on their preference page (`changes`). One of the two."""

    type: Literal["customer.preferences_updated"]
    customer: Customer | None = None
    changes: PreferenceChanges | None = None

    @model_validator(mode="after")
    def _one_of_the_two(self) -> PreferencesUpdated:
        if (self.customer is None) == (self.changes is None):
            raise ValueError("give either the whole customer or the changes, not both or neither")
        return self


class PreferencesRequested(EventBase):
    """A reader asked for the link to their preference page: heard writes it when they text
    the keyword (PREFS, AJUSTES, RÉGLAGES, EINSTELLUNGEN…); a help desk may send it for a
    reader who asked another way. They get it at once, by text when they asked by text."""

    type: Literal["customer.preferences_requested"]
    via: Literal["sms", "help_desk"] = "help_desk"
    contact: ShortText | None = None


class ForgetRequested(EventBase):
    """Internal: `heard forget` asks the worker that owns a ticket to erase it."""

    type: Literal["heard.forget"]
    # Erase one contact from the ticket (their key) instead of the whole ticket.
    contact: ShortText | None = None


class TimerDue(EventBase):
    """Internal: emitted by the sweeper onto the timers topic, never by producers."""

    type: Literal["heard.timer_due"]
    due_at: UtcDatetime


# The one list of event types: a model added here reaches the contract, the JSON Schemas
# and the policy's `dispatch` (a mypy error there until it is handled).
PublicEvent = (
    TicketCreated
    | CustomerMessage
    | AgentReply
    | StatusChanged
    | Assigned
    | CheckpointPromised
    | Resolved
    | Reopened
    | Closed
    | OptionsOffered
    | OptionChosen
    | AnswerUnclear
    | FeedbackGiven
    | ContactsUpdated
    | PreferencesUpdated
    | PreferencesRequested
)
# Only heard writes these, on its own timers topic; producers of ticket-events cannot.
InternalEvent = TimerDue | ForgetRequested
Event = PublicEvent | InternalEvent
TicketEvent = Annotated[PublicEvent, Field(discriminator="type")]
AnyEvent = Annotated[Event, Field(discriminator="type")]


def _type_of(model: type[EventBase]) -> str:
    (name,) = get_args(model.model_fields["type"].annotation)
    return str(name)


PUBLIC_MODELS: dict[str, type[EventBase]] = {_type_of(m): m for m in get_args(PublicEvent)}
EVENT_TYPES: tuple[str, ...] = tuple(PUBLIC_MODELS)
INTERNAL_TYPES: tuple[str, ...] = tuple(_type_of(m) for m in get_args(InternalEvent))

_public_adapter: TypeAdapter[Any] = TypeAdapter(TicketEvent)
_internal_adapter: TypeAdapter[Any] = TypeAdapter(AnyEvent)


class InvalidEvent(ValueError):
    """Why bytes are not a valid canonical event; carries a readable reason."""


def parse_event(raw: bytes | str, *, internal: bool = False, max_bytes: int = 65536) -> Event:
    """Parse and validate one event. Raises InvalidEvent with a one-line reason."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise InvalidEvent(f"event is {len(data)} bytes; the limit is {max_bytes}")
    try:
        obj = json.loads(data)
    except RecursionError as exc:
        raise InvalidEvent(f"not an event: JSON nested deeper than {MAX_DEPTH} levels") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    except ValueError as exc:  # Python refuses to read integers of thousands of digits
        raise InvalidEvent(
            f"not an event: a number of more than {sys.get_int_max_str_digits()} digits"
        ) from exc
    if not isinstance(obj, dict):
        raise InvalidEvent("an event must be a JSON object")
    if _depth_exceeds(obj, MAX_DEPTH):
        raise InvalidEvent(f"not an event: JSON nested deeper than {MAX_DEPTH} levels")
    kind = obj.get("type")
    allowed = (*EVENT_TYPES, *INTERNAL_TYPES) if internal else EVENT_TYPES
    if kind not in allowed:
        raise InvalidEvent(f"unknown event type {kind!r}")
    adapter = _internal_adapter if internal else _public_adapter
    try:
        event: Event = adapter.validate_python(obj)
        return event
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from exc


def _depth_exceeds(root: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative: no recursion to exhaust)."""
    pending: list[tuple[Any, int]] = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        # Drop the discriminator tag pydantic puts first in the location.
        if loc and loc[0] in (*EVENT_TYPES, *INTERNAL_TYPES):
            loc = loc[1:]
        parts.append(f"{'.'.join(loc) or '(event)'}: {err['msg']}")
    return "; ".join(parts)


def event_to_json(event: BaseModel) -> bytes:
    return event.model_dump_json(by_alias=True, exclude_none=True).encode()


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per public event type, for docs/schemas/."""
    return {name: model.model_json_schema(by_alias=True) for name, model in PUBLIC_MODELS.items()}


def write_schemas(folder: Path) -> list[Path]:
    """Write docs/schemas/ from the models (`python -m heard.streams.contract.records docs/schemas`)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = folder / f"{name}.v1.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(written_path)
