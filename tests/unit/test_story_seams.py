"""Where two features meet in one customer's story: a resolution answered at once, and the
details a reader of another language or formality expects."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest

from heard.streams.content.rendering import Renderer
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import TicketState
from heard.streams.contract.stories import T0, minutes
from heard.streams.policy.decide import Outcome, decide
from tests.peers import REPO
from tests.unit.test_policy import RULES, run, tick

GRACE = timedelta(seconds=RULES.policy.closure_grace_seconds)
RENDERER = Renderer(REPO / "templates")
IN_A_TEXT = {"en": "reopened it", "es": "la hemos reabierto", "fr": "rouvrons", "de": "wieder offen"}
REOPENED = {
    "en": "We have reopened your request",
    "es": "Hemos reabierto tu solicitud",
    "fr": "Nous avons rouvert votre demande",
    "de": "Wir haben Ihre Anfrage wieder geöffnet",
}


def apply(state: TicketState, *events: dict[str, object]) -> tuple[TicketState, list[Outcome]]:
    outcomes = []
    for raw in events:
        event = parse_event(stories.dumps(raw))
        outcome = decide(state, event, event.occurred_at, RULES)
        assert outcome.state is not None
        state = outcome.state
        outcomes.append(outcome)
    return state, outcomes


def closed_loop(locale: str) -> TicketState:
    """A resolved ticket whose closure summary has just reached the customer."""
    customer = stories.customer(language=locale)
    state, _ = run(
        [
            stories.created("T1", customer=customer),
            stories.reply("T1", T0 + minutes(3)),
            stories.resolved("T1", T0 + minutes(10)),
        ]
    )
    assert state is not None
    closure = tick(state, T0 + minutes(10) + GRACE)
    assert [n.kind for n in closure.notifications] == ["closure_summary"]
    assert closure.state is not None
    return closure.state


@pytest.mark.parametrize("locale", sorted(REOPENED))
@pytest.mark.parametrize("reopen_after", [150, 20])
def test_a_customer_who_answers_the_closure_at_once_is_told_the_request_is_open_again(
    locale: str, reopen_after: int
) -> None:
    """'Resolved', then 'I still see both charges!' 97 s later: the help desk reopens the
    ticket before or after heard's hold ends; either way the customer hears it is open again,
    however recently the closure reached them."""
    closed_at = T0 + minutes(10) + GRACE
    wrote = closed_at + timedelta(seconds=97)
    state, outcomes = apply(
        closed_loop(locale),
        stories.event("ticket.customer_message", "T1", wrote, eid="still-charged"),
        stories.event("ticket.reopened", "T1", wrote + timedelta(seconds=reopen_after), eid="reopened"),
    )
    later = tick(state, wrote + timedelta(seconds=max(reopen_after, 60)))
    sent = [n for outcome in [*outcomes, later] for n in outcome.notifications]
    [ack] = [n for n in sent if n.kind == "acknowledgment"]
    assert ack.context["reopened"] is True
    text = RENDERER.render("acknowledgment", "sms", locale, "UTC", ack.context).text
    assert IN_A_TEXT[locale] in text
    email = RENDERER.render("acknowledgment", "email", locale, "UTC", ack.context).text
    assert REOPENED[locale] in email


def test_a_second_message_minutes_after_an_acknowledgment_is_still_coalesced() -> None:
    """The reopening is the exception: two messages from the customer in a row get one
    acknowledgment."""
    state, _ = run([stories.created("T1")])
    assert state is not None
    first = tick(state, T0 + minutes(1.5))
    assert [n.kind for n in first.notifications] == ["acknowledgment"]
    assert first.state is not None
    state, _ = apply(
        first.state, stories.event("ticket.customer_message", "T1", T0 + minutes(3), eid="again")
    )
    later = tick(state, T0 + minutes(5))
    assert [n.kind for n in later.notifications] == []
    assert any("coalesced" in d.reason for d in later.decisions)


@pytest.mark.parametrize(
    ("name", "preferred", "greeting"),
    [
        ("Dr. Katrin Vogel", None, "Hallo Dr. Vogel,"),
        ("Prof. Dr. Hans-Peter Müller-Lüdenscheidt", None, "Hallo Prof. Dr. Müller-Lüdenscheidt,"),
        ("Katrin Vogel", None, "Hallo Katrin Vogel,"),
        ("Dr. Katrin Vogel", "Katrin", "Hallo Katrin,"),
    ],
)
def test_a_german_letter_addresses_a_titled_reader_by_title_and_surname(
    name: str, preferred: str | None, greeting: str
) -> None:
    customer = stories.customer(language="de", name=name, preferred_name=preferred)
    _, [created] = run([stories.created("T1", urgent=True, customer=customer)])
    [ack] = created.notifications
    for channel in ("email", "sms"):
        text = RENDERER.render("acknowledgment", channel, "de", "Europe/Berlin", ack.context).text
        assert text.startswith(greeting), text


def test_the_teams_emails_keep_a_blank_line_between_their_paragraphs() -> None:
    """Every team email, for every persona and wording: a sentence's end is never followed
    on the next line by another paragraph (blocks run together read as one)."""
    from datetime import UTC, datetime

    import yaml

    from heard.streams.content.samples import Personas, sample_contexts
    from heard.streams.contract.state import TEAM_KINDS

    personas = Personas.model_validate(
        yaml.safe_load((REPO / "config" / "personas.yaml").read_text(encoding="utf-8"))
    ).personas
    now = datetime(2026, 12, 7, 10, tzinfo=UTC)
    run_together = set()
    for kind in TEAM_KINDS:
        for persona in personas:
            for label, context in sample_contexts(kind, persona, now):
                lines = RENDERER.render(kind, "email", "en", "Europe/London", context).text.split("\n")
                for line, following in pairwise(lines):
                    prose = line.strip() and following.strip() and not line.startswith(" ")
                    if prose and not following.startswith(" ") and line.rstrip()[-1] in ".:!?":
                        run_together.add((kind, label, following[:50]))
    assert run_together == set()


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "least of all that you are worried that the flowers arrive late"),
        ("es", "y sabemos que te preocupa que las flores lleguen tarde"),
        ("fr", "et surtout pas que vous craignez que les fleurs arrivent en retard"),
        ("de", "am wenigsten Ihre Sorge, dass die Blumen zu spät kommen"),
    ],
)
def test_the_holding_update_remembers_the_concern_the_agent_recorded(locale: str, words: str) -> None:
    concern = words.split("worried ")[-1].split("preocupa ")[-1].split("craignez ")[-1].split("Sorge, ")[-1]
    customer = stories.customer(language=locale)
    state, _ = run(
        [
            stories.created("T1", urgent=True, concern=concern, customer=customer),
            stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=3)),
        ]
    )
    assert state is not None
    [holding] = [
        n
        for n in tick(state, T0 + timedelta(hours=3, minutes=1)).notifications
        if n.kind == "checkpoint_holding"
    ]
    for channel in ("email",):
        text = RENDERER.render("checkpoint_holding", channel, locale, "UTC", holding.context).text
        assert words in text


@pytest.mark.parametrize(
    ("locale", "milestone", "flagged"),
    [
        ("de", "The courier will collect the machine tomorrow between 9 and 2.", "English"),
        ("de", "Der Kurier holt die Maschine morgen zwischen 9 und 14 Uhr ab.", None),
        ("es", "Nous avons trouvé votre colis au dépôt de Lyon.", "French"),
        ("en", "Wir haben Ihr Paket im Lager in Lyon gefunden.", "German"),
        ("de", "RF-88412 approved", None),  # too few words to say
    ],
)
def test_an_agents_words_in_another_language_than_the_readers_are_noted_for_the_agent(
    locale: str, milestone: str, flagged: str | None
) -> None:
    customer = stories.customer(language=locale)
    state, _ = run([stories.created("T1", urgent=True, customer=customer)])
    assert state is not None
    _, [replied] = apply(state, stories.reply("T1", T0 + minutes(5), milestone={"text": milestone}))
    notes = [d.reason for d in replied.decisions if "reads as" in d.reason]
    sent = [n.kind for n in replied.notifications]
    assert "milestone_update" in sent  # the words go as written, either way
    if flagged is None:
        assert notes == []
    else:
        [note] = notes
        assert note.startswith(f"the agent's milestone reads as {flagged}, and the customer reads ")


def test_a_promise_and_a_closure_summary_in_another_language_are_noted_for_the_agent() -> None:
    """Every text an agent writes for the customer is checked, not only a milestone's: the
    promise's words and each part of the closure summary."""
    customer = stories.customer(language="de")
    state, _ = run([stories.created("T1", urgent=True, customer=customer)])
    assert state is not None
    english = "We will call you back tomorrow morning with the new delivery date."
    promised = stories.promised("T1", T0 + minutes(5), T0 + timedelta(hours=5), customer_text=english)
    state, [outcome] = apply(state, promised)
    assert [d.reason for d in outcome.decisions if "reads as" in d.reason] == [
        "the agent's promise reads as English, and the customer reads German: it goes as written; "
        "next time, write it in their language"
    ]
    summary = {
        "what_happened": "Ihr Paket wurde im Lager in Lyon falsch sortiert.",
        "what_changed": "It was sent again with priority and arrives on Friday morning.",
        "prevention": "Falsch sortierte Pakete werden jetzt innerhalb von Stunden neu gescannt.",
    }
    _, [closed] = apply(state, stories.resolved("T1", T0 + minutes(10), summary=summary))
    assert [d.reason for d in closed.decisions if "reads as" in d.reason] == [
        "the agent's closure summary reads as English, and the customer reads German: it goes as "
        "written; next time, write it in their language"
    ]
