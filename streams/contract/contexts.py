"""What each kind of message is given to render: one typed model per kind, in one home.

The policy decides a notification with its context; the renderer validates that context
against its kind's model before any template sees it, so a field the contract leaves
optional is always present (None when absent) and never an "undefined" mid-message; lint
and the studio's sample data are checked against the same models, and lint renders every
kind once with each optional field absent, so a template that assumes one is caught before
a customer is. docs/templates.md lists the fields for writers.

A model allows keys it does not name: a notification decided by a newer release (still on
the topic during a rolling upgrade) renders on an older one. The policy's contexts carry
none (`unknown_keys`, checked across the stories in the tests).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Part(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


def only_when(condition: str) -> Any:
    """A field that is None except when `condition` holds, and the templates read it only
    then (inside their own branch for it): lint does not take it away on its own."""
    return Field(None, json_schema_extra={"only_when": condition})


# -------------------------------------------------------------- who and what
class CustomerView(Part):
    """The reader, as a customer's message addresses them (a contact too)."""

    greeting_name: str
    name: str
    # A formal address: the title and surname when the name carries a title ("Dr. Vogel").
    formal_name: str
    pronouns: str | None = None
    # "customer" for the one who opened the ticket; a contact's role ("requester",
    # "stakeholder") lets a template word it for someone who did not write.
    role: str = "customer"


class QuietHoursView(Part):
    start: str
    end: str


class CustomerForTheTeam(Part):
    """The customer as the agent and the lead need them to write well."""

    greeting_name: str = ""
    pronouns: str | None = None
    them: str = "them"
    their: str = "their"
    timezone: str | None = None
    language: str | None = None
    plain_text_only: bool = False
    quiet_hours: QuietHoursView | None = None


class TicketView(Part):
    id: str
    subject: str = ""
    status: str = "open"
    references: list[str] = []


class Named(Part):
    name: str


class Owner(Part):
    name: str
    # The owner changed and this message is the one that tells the customer.
    new: bool = False


class Transfers(Part):
    count: int = 0
    acknowledge: bool = False


class NextMilestone(Part):
    # No text: the template words the (first) reply itself.
    text: str | None = None
    due_at: str | None = None
    first_reply: bool = False
    follow_up: bool = False


class QuickUpdate(Part):
    channel: str


class Moved(Part):
    # `from` is a Python keyword: the field is `from_`, the templates read `moved.from`.
    from_: str = Field(alias="from")
    to: str
    reason: str | None = None
    # The promise whose time moved, and its version: an announcement held (quiet hours, a
    # message just before) goes only while that promise still stands.
    promise_id: str | None = None
    version: int | None = None


class Promised(Part):
    by: str
    due_at: str
    text: str | None = None
    promise_id: str | None = None
    version: int | None = None


class NextUpdate(Part):
    due_at: str


class MilestoneView(Part):
    text: str
    at: str
    status: str | None = None


class Summary(Part):
    what_happened: str
    what_changed: str
    prevention: str


class Feedback(Part):
    scale: int = 5
    # One signed link per score (email with a public address); None: reply with a number.
    links: dict[str, str] | None = None


class OptionView(Part):
    number: int
    label: str
    tradeoff: str | None = None
    timeline: str | None = None
    link: str | None = None


class Offer(Part):
    id: str
    options: list[OptionView]
    count: int
    intro: str | None = None
    choose_by: str | None = None


class PromiseView(Part):
    id: str
    due_at: str
    # The agent's task line, for the team; the customer reads `customer_text`.
    what: str | None = only_when(
        "an agent's promise (not promise.first_reply, promise.next_update or promise.follow_up)"
    )
    customer_text: str | None = None
    agent_name: str | None = None
    outside_team_hours: bool = False
    first_reply: bool = False
    next_update: bool = False
    follow_up: bool = False


class Answer(Part):
    """The customer's answer to the closure's question, as they gave it."""

    score: int | None = None
    # Their own words, if any.
    text: str | None = None
    # The loyalty signals found in them ("not_felt_heard", "kept_updated"...).
    signals: list[str] = []
    via: str = "sms"
    # What made it low: "score" (at most feedback.low_score_at_most) or "words" (a negative
    # signal with a higher score or none).
    low_because: str = "score"


class Holding(Part):
    """What became of the customer's holding update, for the lead's escalation."""

    # sent | deferred | skipped | not_sent
    status: str
    reason: str | None = only_when("holding.status is deferred, skipped or not_sent")
    until: str | None = only_when("holding.status is deferred")
    channel: str | None = only_when("holding.status is sent")
    last: bool = False


class Undelivered(Part):
    kind: str
    channel: str
    reason: str
    # What it said, as the customer would have read it; None when it could not be rendered.
    text: str | None = None
    # The channel it went by after all (its email bounced after the send), else None.
    instead: str | None = None


# -------------------------------------------------------------- per kind
class CustomerMessage(Part):
    """What every message to a customer (or a contact) about their ticket is given."""

    customer: CustomerView
    ticket: TicketView
    sent_at: str
    quick_update: QuickUpdate
    agent: Named | None = None
    owner: Owner | None = None
    concern: str | None = None
    transfers: Transfers = Field(default_factory=Transfers)
    next_milestone: NextMilestone | None = None
    moved: Moved | None = None
    promised: Promised | None = None
    next_update: NextUpdate | None = None


class Acknowledgment(CustomerMessage):
    # Always something to wait for: the next milestone, or the first reply heard promises.
    next_milestone: NextMilestone
    # They wrote after the resolution and the ticket is open again.
    reopened: bool = False


class MilestoneUpdate(CustomerMessage):
    milestone: MilestoneView


class ClosureSummary(CustomerMessage):
    summary: Summary
    # None: the closure asks no question (feedback.ask is off).
    feedback: Feedback | None = None


class Options(CustomerMessage):
    offer: Offer


class OptionConfirmed(CustomerMessage):
    offer: Offer
    chosen: OptionView
    via: str
    changed_from: int | None = None
    text: str | None = None
    confirmation: str = "sent"


class CheckpointHolding(CustomerMessage):
    promise: PromiseView


class OptionsUnclear(CustomerMessage):
    offer: Offer
    # The customer's own words, which named none of the options or several.
    text: str
    via: str = "sms"


class FeedbackReply(CustomerMessage):
    answer: Answer


class PreferencesView(Part):
    # The signed link to the reader's own page (added as the message goes, links being on).
    url: str


class PreferencesLink(CustomerMessage):
    preferences: PreferencesView | None = only_when("the preference pages are on")
    # How they asked: "sms" (the keyword by text: the link goes back by text) or "help_desk".
    asked_by: str = "help_desk"


class TeamMessage(Part):
    """What every message to the team (the agent, the lead) about a ticket is given."""

    customer: CustomerForTheTeam
    ticket: TicketView
    agent: Named
    sent_at: str
    # What became of the customer's holding update: said only in an escalation.
    holding: Holding | None = None


class CheckpointNudge(TeamMessage):
    promise: PromiseView
    holding: Holding | None = None


class CheckpointEscalation(TeamMessage):
    promise: PromiseView
    # What became of the customer's holding update: an escalation always says.
    holding: Holding


class OptionsAnswered(TeamMessage):
    offer: Offer
    chosen: OptionView | None = only_when("confirmation is not unclear")
    via: str
    changed_from: int | None = None
    text: str | None = None
    # "sent": heard confirmed the choice to the customer; "replaced" or "closed": it did not;
    # "unclear": the answer named none of the options, or several (`text` has their words).
    confirmation: str = "sent"
    # With "unclear": whether heard asked the customer again to answer with the number.
    asked_again: bool = False
    holding: Holding | None = None


class OfferWithDeadline(Offer):
    choose_by: str


class OptionsUnanswered(TeamMessage):
    # Sent only when the time to choose has passed: the offer had one.
    offer: OfferWithDeadline
    holding: Holding | None = None


class FeedbackLow(TeamMessage):
    answer: Answer
    # Who the answer is about: the owner when it was given (or the agent on the ticket).
    owner: Named | None = None


class CustomerUnreachable(Part):
    customer: CustomerForTheTeam
    ticket: TicketView
    undelivered: Undelivered
    sent_at: str
    owner: Named | None = None


CONTEXTS: dict[str, type[Part]] = {
    "acknowledgment": Acknowledgment,
    "milestone_update": MilestoneUpdate,
    "closure_summary": ClosureSummary,
    "options": Options,
    "option_confirmed": OptionConfirmed,
    "checkpoint_holding": CheckpointHolding,
    "checkpoint_nudge": CheckpointNudge,
    "checkpoint_escalation": CheckpointEscalation,
    "options_answered": OptionsAnswered,
    "options_unanswered": OptionsUnanswered,
    "customer_unreachable": CustomerUnreachable,
    "feedback_reply": FeedbackReply,
    "feedback_low": FeedbackLow,
    "options_unclear": OptionsUnclear,
    "preferences_link": PreferencesLink,
}


def context_keys(kind: str) -> set[str]:
    """The names a kind's templates may read at the top level."""
    return set(CONTEXTS[kind].model_fields)


def complete(kind: str, context: dict[str, Any]) -> dict[str, Any]:
    """The context checked against its kind's model, every optional field present (None or
    its default when absent); raises pydantic's ValidationError naming the field."""
    return CONTEXTS[kind].model_validate(context).model_dump(by_alias=True)


def optional_paths(kind: str) -> list[tuple[str, ...]]:
    """Every field of the kind's context that may be None, as a path (`("offer", "options",
    "[]", "timeline")`; "[]" is each item of a list)."""
    return list(_optional_in(CONTEXTS[kind], ()))


def _optional_in(model: type[BaseModel], at: tuple[str, ...]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        here = (*at, name)
        args = getattr(field.annotation, "__args__", ())
        if isinstance(field.json_schema_extra, dict) and "only_when" in field.json_schema_extra:
            continue
        if type(None) in args:
            paths.append(here)
        for inner in (field.annotation, *args):
            if getattr(inner, "__origin__", None) is list:
                item = inner.__args__[0]
                if isinstance(item, type) and issubclass(item, BaseModel):
                    paths.extend(_optional_in(item, (*here, "[]")))
                break
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                paths.extend(_optional_in(inner, here))
                break
    return paths


def unknown_keys(kind: str, context: dict[str, Any]) -> list[str]:
    """Keys of the context its kind's model does not name (dotted paths)."""
    return _extra_of(CONTEXTS[kind].model_validate(context), "")


def _extra_of(model: BaseModel, at: str) -> list[str]:
    found = [f"{at}{key}" for key in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, BaseModel):
                found.extend(_extra_of(item, f"{at}{name}."))
    return found
