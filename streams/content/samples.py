"""The sample messages lint, preview and the studio render: personas (who reads), what
agents write in each language, and worst-case but realistic contexts for every kind, with a
variant for each wording a template has (a first reply, two options, no question, ...)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from babel import Locale, UnknownLocaleError
from pydantic import Field, field_validator

from heard.streams.base.settings import Frozen
from heard.streams.base.zones import known_timezone
from heard.streams.contract.contexts import context_keys
from heard.streams.contract.pronouns import object_pronouns
from heard.streams.contract.records import formal_name


class Persona(Frozen):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    customer: dict[str, str | None]
    locale: str
    timezone: str
    channel: Literal["email", "sms"]
    plain_text_only: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        try:
            Locale.parse(value.replace("-", "_"))
        except (UnknownLocaleError, ValueError) as exc:
            raise ValueError(f"unknown locale {value!r} (use a code like en, es, fr-CA)") from exc
        return value


class SampleTexts(Frozen):
    """What agents write, in one language: a persona reading that language sees these."""

    subject: str
    milestone: str
    next_step: str
    what_happened: str
    what_changed: str
    prevention: str
    promise: str
    concern: str


class Personas(Frozen):
    personas: list[Persona]
    samples: dict[str, SampleTexts] = Field(default_factory=dict)


# Lint and preview render at the same fixed moment, so their counts always agree.
SAMPLE_NOW = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)


# heard's own promises word the team's and the customer's checkpoint messages differently:
# lint renders each wording, not only the agent's promise.
PROMISE_VARIANTS: dict[str, dict[str, Any]] = {
    "first-reply": {"promise": {"first_reply": True, "what": None, "id": "first-reply"}},
    # The customer wrote again after a public reply: "a reply", not "a first reply".
    "follow-up": {"promise": {"first_reply": True, "follow_up": True, "what": None, "id": "first-reply"}},
    "next-update": {"promise": {"next_update": True, "what": None, "id": "next-update"}},
    "last-holding": {
        "promise": {"next_update": True, "what": None, "id": "next-update"},
        "next_update": None,
    },
}


def sample_contexts(
    kind: str, persona: Persona, now: datetime, samples: SampleTexts | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The sample context, and a variant for each other wording its kind's templates have."""
    base = sample_context(kind, persona, now, samples)
    variants = [("", base)]
    for wordings in VARIANTS.get(kind, ()):
        variants.extend(wordings(kind, base))
    if "promise" in base:
        variants.extend(_promise_wordings(base))
    return variants


Variants = list[tuple[str, dict[str, Any]]]


def _first_reply_wordings(kind: str, base: dict[str, Any]) -> Variants:
    """With no milestone on the ticket, the template words the first reply itself."""
    due = base["next_milestone"]["due_at"]
    return [
        (
            label,
            {
                **base,
                "next_milestone": {"text": None, "first_reply": True, "follow_up": follow_up, "due_at": due},
            },
        )
        for label, follow_up in (("no-milestone", False), ("follow-up", True))
    ]


def _reopened(kind: str, base: dict[str, Any]) -> Variants:
    """They wrote after the resolution, and the request is open again."""
    return [("reopened", {**base, "reopened": True})]


def _two_options(kind: str, base: dict[str, Any]) -> Variants:
    """Two options, no deadline, no intro, no links (no public address configured), and the
    choice as the contract allows it: no trade-off, no timeline (both optional)."""
    offer = base["offer"]
    plain = {
        **offer,
        "count": 2,
        "intro": None,
        "choose_by": offer["choose_by"] if kind == "options_unanswered" else None,
        "options": [
            {**offer["options"][0], "link": None},
            {**offer["options"][1], "link": None, "tradeoff": None, "timeline": None},
        ],
    }
    bare = {**base["chosen"], "tradeoff": None, "timeline": None} if "chosen" in base else None
    variants = [("two-options", {**base, "offer": plain, **({"chosen": bare} if bare else {})})]
    if "changed_from" in base:
        variants.append(("changed-choice", {**base, "changed_from": 1, "text": None}))
    return variants


def _unclear(kind: str, base: dict[str, Any]) -> Variants:
    """An answer that named none of the options, or several: the owner reads the words."""
    words = {"chosen": None, "confirmation": "unclear", "text": "la segunda o la tercera, no sé"}
    return [
        ("unclear", {**base, **words, "asked_again": True}),
        ("unclear-again", {**base, **words, "asked_again": False}),
    ]


def _first_promise(kind: str, base: dict[str, Any]) -> Variants:
    promised = {
        "by": "Sam Reyes-Villanueva",
        "due_at": base["next_milestone"]["due_at"],
        "text": base["next_milestone"]["text"],
    }
    return [("first-promise", {**base, "milestone": {**base["milestone"], "text": ""}, "promised": promised})]


def _new_owner(kind: str, base: dict[str, Any]) -> Variants:
    return [
        (
            "new-owner",
            {
                **base,
                "owner": {**base["owner"], "new": True},
                "transfers": {"count": 1, "acknowledge": False},
            },
        )
    ]


def _no_question(kind: str, base: dict[str, Any]) -> Variants:
    return [
        ("no-links", {**base, "feedback": {"scale": 5, "links": None}}),
        ("no-question", {**base, "feedback": None}),
    ]


def _promise_wordings(base: dict[str, Any]) -> Variants:
    variants = []
    for label, change in PROMISE_VARIANTS.items():
        context = {**base, "promise": {**base["promise"], **change["promise"]}}
        if "next_update" in change and "next_update" in base:
            context["next_update"] = change["next_update"]
        variants.append((label, context))
    return variants


VARIANTS: dict[str, tuple[Callable[[str, dict[str, Any]], Variants], ...]] = {
    "acknowledgment": (_first_reply_wordings, _reopened),
    "options": (_two_options,),
    "option_confirmed": (_two_options,),
    "options_answered": (_two_options, _unclear),
    "options_unanswered": (_two_options,),
    "milestone_update": (_first_promise, _new_owner),
    "checkpoint_holding": (_new_owner,),
    "closure_summary": (_no_question,),
}


def sample_offer(due: str) -> dict[str, Any]:
    """Three options with long links, and the one chosen: the longest an offer gets."""
    return {
        "offer": {
            "id": "O-1",
            "count": 3,
            "choose_by": due,
            "intro": "The blender you ordered is out of stock until the 12th.",
            "options": [
                {
                    "number": 1,
                    "label": "Wait for the same model",
                    "tradeoff": "no extra cost",
                    "timeline": "ships on the 12th",
                    "link": f"https://heard.example.com/r/{'x' * 119}1",
                },
                {
                    "number": 2,
                    "label": "Take the newer model now",
                    "tradeoff": "same price, a different colour",
                    "timeline": "arrives in two days",
                    "link": f"https://heard.example.com/r/{'x' * 119}2",
                },
                {
                    "number": 3,
                    "label": "A full refund",
                    "tradeoff": "you keep nothing",
                    "timeline": "back on your card in 3 to 5 working days",
                    "link": f"https://heard.example.com/r/{'x' * 119}3",
                },
            ],
        },
        "chosen": {
            "number": 2,
            "label": "Take the newer model now",
            "tradeoff": "same price, a different colour",
            "timeline": "arrives in two days",
        },
    }


def sample_context(
    kind: str, persona: Persona, now: datetime, samples: SampleTexts | None = None
) -> dict[str, Any]:
    """Worst-case but realistic values: long subject, long milestone, a far due time."""
    due = (now + timedelta(hours=27, minutes=45)).isoformat()
    context: dict[str, Any] = {
        **_people(persona, due),
        **_the_ticket(now, due),
        **sample_offer(due),
        "sent_at": now.isoformat(),
        "quick_update": {"channel": persona.channel},
        "changed_from": None,
        "confirmation": "sent",
        "via": "sms",
        "text": "the red one if you have it",
    }
    if samples is not None:  # the agent's words in the persona's own language
        context["ticket"]["subject"] = samples.subject
        context["milestone"]["text"] = samples.milestone
        context["next_milestone"]["text"] = samples.next_step
        context["summary"] = {
            "what_happened": samples.what_happened,
            "what_changed": samples.what_changed,
            "prevention": samples.prevention,
        }
        context["promise"]["what"] = samples.promise
        context["concern"] = samples.concern
    return {key: value for key, value in context.items() if key in context_keys(kind)}


def _formal_name(customer: dict[str, Any]) -> str:
    """A persona's greeting name is their preferred name when it differs from their name."""
    name, greeting = customer.get("name", ""), customer.get("greeting_name", "")
    return greeting if greeting and greeting != name else formal_name(name)


def _people(persona: Persona, due: str) -> dict[str, Any]:
    """The reader (as the team's messages see them too: their zone, needs, language), the
    agent and owner, and what became of the reader's messages."""
    return {
        "customer": {
            "timezone": persona.timezone,
            "language": persona.locale,
            "role": "customer",
            "plain_text_only": persona.plain_text_only,
            "quiet_hours": {"start": "21:00", "end": "08:00"},
            "formal_name": _formal_name(persona.customer),
            **persona.customer,
            **object_pronouns(persona.customer.get("pronouns")),
        },  # "her time"
        "agent": {"name": "Sam Reyes-Villanueva"},
        "owner": {"name": "Sam Reyes-Villanueva", "new": False},
        "transfers": {"count": 3, "acknowledge": True},
        "holding": {
            "status": "deferred",
            "until": due,
            "reason": "the customer's quiet hours",
            "channel": persona.channel,
        },
        "undelivered": {
            "kind": "acknowledgment",
            "channel": persona.channel,
            "reason": f"the recipient withdrew {persona.channel} consent",
            "text": "Hi Amara, we have your message about T-1042. Next: a first reply from our "
            "team by Thursday 14:30. Reply here anytime.",
        },
    }


def _the_ticket(now: datetime, due: str) -> dict[str, Any]:
    """The ticket's story: its subject, the concern, a milestone, the next one, a promise,
    the summary and the closure's question."""
    return {
        "ticket": {
            "id": "ZD-2026-0004815162",
            "status": "open",
            "subject": "Order 88412-B arrived damaged and the replacement was "
            "charged twice to my card ending 4242",
        },
        "concern": "that the replacement will not arrive before your daughter's birthday",
        "milestone": {
            "text": "We found your parcel at the regional depot and asked the courier "
            "for a priority redelivery tomorrow morning.",
            "at": now.isoformat(),
            "status": "in_progress",
        },
        "next_milestone": {
            "text": "a confirmed delivery slot from the courier",
            "due_at": due,
            "follow_up": False,
        },
        "moved": None,
        "promised": None,
        "promise": {
            "id": "P-1",
            "what": "Confirm the delivery slot with the courier",
            "customer_text": "a confirmed delivery slot from the courier",
            "due_at": due,
            "agent_name": "Sam Reyes-Villanueva",
            "outside_team_hours": False,
            "first_reply": False,
            "next_update": False,
            "follow_up": False,
        },
        "next_update": {"due_at": (now + timedelta(days=3, hours=2, minutes=45)).isoformat()},
        "summary": {
            "what_happened": "Your parcel was mis-sorted at the depot and sat there two days.",
            "what_changed": "It was re-routed with priority and arrived the next morning.",
            "prevention": "Parcels that miss their first sort are now rescanned within hours.",
        },
        # A low answer to the closure's question, in the customer's own words.
        "answer": {
            "score": 2,
            "text": "Nobody called me back when they said they would, and "
            "I had to chase the refund three times.",
            "signals": ["not_kept_updated"],
            "via": "sms",
            "low_because": "score",
        },
        # The link to the reader's page a text sends back (as long as a real one).
        "preferences": {"url": f"https://heard.example.com/p/{'x' * 150}"},
        "asked_by": "sms",
        # One signed link a score, as real ones are (each its own token), as long as them.
        "feedback": {
            "scale": 5,
            "links": {str(n): f"https://heard.example.com/r/{'x' * 119}{n}" for n in range(1, 6)},
        },
    }
