"""Whole tickets, generated: stories with events in any order an agent and a customer would
make them (replies, promises, owners, options and answers in four languages, resolutions,
reopens, feedback, quiet hours across daylight-saving changes), run through the policy,
every message rendered by its channel, and invariants checked on the rendered text and the
decisions. A fixed seed and budget here; `python -m bench.story_search` runs it long.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from heard.streams.content.lint import sms_budget
from heard.streams.content.rendering import Renderer
from heard.streams.content.sms_segments import segments
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import Notification, Question, TicketState
from heard.streams.delivery.config import load_settings
from heard.streams.policy.decide import decide
from heard.streams.policy.replies import event_for_text
from heard.streams.policy.step import Outcome, Rules
from tests.peers import REPO

SETTINGS = load_settings(REPO / "config", environ={})
RULES = Rules(
    policy=SETTINGS.policy,
    internal_recipients={"default": "team@example.com", "lead": "lead@example.com"},
    feedback=SETTINGS.feedback,
)
BUDGET = sms_budget(REPO / "config")
RENDERER = Renderer(REPO / "templates", sms_budget=BUDGET)
# The night the clocks go back in London (and forward in Santiago): quiet hours and promised
# times across the change.
START = datetime.fromisoformat("2026-10-24T21:00:00+00:00")
AGENTS = [
    {"name": "Jack Murphy", "team": "billing", "email": "jack@example.com"},
    {"name": "Aisha Rahman", "team": "payments", "email": "aisha@example.com"},
    {"name": "Sam Reyes", "team": "parcels", "email": "sam@example.com"},
]
ANSWERS = [
    "2",
    "la 2",
    "la segunda",
    "option two",
    "die zweite",
    "la deuxième",
    "1, the red one",
    "la segunda o la tercera, no sé",
    "the cheaper one",
    "9",
]
RATINGS = [
    "5 kept me updated",
    "2, nadie me llamó",
    "4, but nobody called me back",
    "1",
    "3",
    "ehrlich gesagt habe ich mich nicht gehört gefühlt",
]
WORDS = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz €,.:-0123456789"), min_size=0, max_size=240
).map(lambda s: " ".join(s.split()))
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
EMPTY = re.compile(r"\bNone\b|\{\{|\{%")


class TicketStory(RuleBasedStateMachine):
    """One ticket's story, event by event; every outcome's messages are read as their
    readers would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.state: TicketState | None = None
        self.now = START
        self.count = 0
        self.last: Outcome | None = None
        self.event: dict[str, Any] | None = None
        self.owner_before: str | None = None
        self.acknowledged_before = False
        self.sms_refused_before = False

    # ------------------------------------------------------------ the story
    def apply(self, raw: dict[str, Any], internal: bool = False) -> Outcome:
        self.count += 1
        raw = {**raw, "id": raw.get("id") or f"e{self.count}"}
        event = parse_event(json.dumps(raw).encode(), internal=internal)
        # Messages released before this event's handler ran speak of the owner as it was.
        self.owner_before = self.state.owner.name if self.state and self.state.owner else None
        self.acknowledged_before = bool(self.state and self.state.transfers_acknowledged)
        customer = self.state.customer if self.state else None
        self.sms_refused_before = customer is not None and not customer.consent.sms
        outcome = decide(self.state, event, self.now, RULES)
        self.state, self.last, self.event = outcome.state, outcome, raw
        self.check(outcome)
        return outcome

    def later(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    @initialize(
        language=st.sampled_from(["en", "en-GB", "es", "fr", "de"]),
        zone=st.sampled_from(["Europe/London", "America/Santiago", "Australia/Sydney", "Europe/Madrid"]),
        channel=st.sampled_from(["email", "sms"]),
        quiet=st.booleans(),
        urgent=st.booleans(),
        agent=st.sampled_from([None, *AGENTS]),
    )
    def created(
        self, language: str, zone: str, channel: str, quiet: bool, urgent: bool, agent: dict[str, str] | None
    ) -> None:
        customer = stories.customer(
            language=language,
            timezone=zone,
            preferred_channel=channel,
            phone="+34612345678",
            consent={"email": True, "sms": True},
            **({"quiet_hours": {"start": "21:00", "end": "08:00"}} if quiet else {}),
        )
        fields: dict[str, Any] = {"customer": customer, "urgent": urgent}
        if agent:
            fields["agent"] = agent
        self.apply(stories.created("S1", self.now, **fields))

    @rule(
        minutes=st.floats(0, 600),
        public=st.booleans(),
        agent=st.sampled_from(AGENTS),
        words=WORDS,
        next_in=st.one_of(st.none(), st.floats(-60, 3000)),
    )
    def agent_replies(
        self, minutes: float, public: bool, agent: dict[str, str], words: str, next_in: float | None
    ) -> None:
        self.later(minutes)
        fields: dict[str, Any] = {"agent": agent, "public": public}
        if words:
            fields["milestone"] = {"text": words}
        if next_in is not None:
            fields["next_milestone"] = {
                "text": "the courier's slot",
                "due_at": stories.iso(self.now + timedelta(minutes=next_in)),
            }
        self.apply(stories.event("ticket.agent_reply", "S1", self.now, **fields))

    @rule(minutes=st.floats(0, 300), due_in=st.floats(5, 4000), agent=st.sampled_from(AGENTS))
    def promises(self, minutes: float, due_in: float, agent: dict[str, str]) -> None:
        self.later(minutes)
        self.apply(
            stories.promised(
                "S1", self.now, self.now + timedelta(minutes=due_in), pid=f"P{self.count}", agent=agent
            )
        )

    @rule(minutes=st.floats(0, 300), agent=st.sampled_from(AGENTS), owner=st.booleans())
    def assigned(self, minutes: float, agent: dict[str, str], owner: bool) -> None:
        self.later(minutes)
        self.apply(stories.event("ticket.assigned", "S1", self.now, agent=agent, owner=owner))

    @rule(minutes=st.floats(0, 300), two=st.booleans(), deadline=st.booleans())
    def offers(self, minutes: float, two: bool, deadline: bool) -> None:
        self.later(minutes)
        by = self.now + timedelta(hours=20) if deadline else None
        self.apply(
            stories.offered(
                "S1",
                self.now,
                offer=f"O{self.count}",
                choose_by=by,
                options=stories.OPTIONS[: 2 if two else 3],
            )
        )

    @rule(minutes=st.floats(0, 120), text=st.sampled_from(ANSWERS))
    def customer_texts_an_answer(self, minutes: float, text: str) -> None:
        assert self.state is not None
        open_offers = [o for o in self.state.offers.values() if not o.withdrawn]
        if not open_offers:
            return
        self.later(minutes)
        offer = open_offers[-1]
        question = Question(
            phone="+34612345678",
            ticket_id="S1",
            asks="option",
            offer_id=offer.offer_id,
            choices=len(offer.options),
            asked_at=offer.offered_at,
            expires_at=offer.offered_at + timedelta(days=14),
            locale=(self.state.customer.language if self.state.customer else None) or "en",
        )
        event, _ = event_for_text(question, f"SM{self.count:032d}", text, self.now)
        if event is not None:
            self.apply(event)

    @rule(minutes=st.floats(0, 600))
    def time_passes(self, minutes: float) -> None:
        self.later(minutes)
        self.apply(
            stories.event("heard.timer_due", "S1", self.now, due_at=stories.iso(self.now)), internal=True
        )

    @rule(minutes=st.floats(0, 300), sms=st.booleans())
    def consent_changes(self, minutes: float, sms: bool) -> None:
        """The customer withdraws (or gives) consent to texts: nothing goes by SMS after."""
        assert self.state is not None and self.state.customer is not None
        self.later(minutes)
        customer = self.state.customer.model_dump(mode="json", exclude_none=True)
        customer["consent"] = {**customer.get("consent", {}), "sms": sms}
        self.apply(stories.event("customer.preferences_updated", "S1", self.now, customer=customer))

    @rule(minutes=st.floats(0, 300))
    def customer_writes(self, minutes: float) -> None:
        self.later(minutes)
        self.apply(stories.event("ticket.customer_message", "S1", self.now))

    @rule(minutes=st.floats(0, 600))
    def resolved(self, minutes: float) -> None:
        self.later(minutes)
        self.apply(stories.resolved("S1", self.now))

    @rule(minutes=st.floats(0, 300))
    def reopened(self, minutes: float) -> None:
        self.later(minutes)
        self.apply(stories.event("ticket.reopened", "S1", self.now))

    @rule(minutes=st.floats(0, 300), text=st.sampled_from(RATINGS))
    def rates_the_help(self, minutes: float, text: str) -> None:
        assert self.state is not None
        if self.state.status not in ("resolved", "closed"):
            return
        self.later(minutes)
        question = Question(
            phone="+34612345678",
            ticket_id="S1",
            asks="feedback",
            choices=5,
            asked_at=self.now - timedelta(minutes=1),
            expires_at=self.now + timedelta(days=1),
            locale=(self.state.customer.language if self.state.customer else None) or "en",
        )
        event, _ = event_for_text(question, f"SM{self.count:032d}", text, self.now)
        if event is not None:
            self.apply(event)

    # ------------------------------------------------------------ invariants
    def check(self, outcome: Outcome) -> None:
        for n in outcome.notifications:
            self.read_as_its_reader(n, outcome)
        self.the_lead_is_told_what_happened(outcome)
        self.every_answer_is_answered(outcome)
        self.one_update_at_a_time(outcome)
        self.news_marked_told_was_told(outcome)
        self.no_text_without_consent(outcome)

    def read_as_its_reader(self, n: Notification, outcome: Outcome) -> None:
        rendered = RENDERER.render(n.kind, n.channel, n.locale, n.timezone, n.context, n.plain_text_only)
        for text in (rendered.text, rendered.subject or ""):
            assert not EMPTY.search(text), (n.kind, n.channel, text)
            assert not ISO_TIME.search(text), (n.kind, n.channel, text)
        if n.channel == "sms":
            fits = segments(rendered.text)[0] <= BUDGET(n.kind)
            assert fits or rendered.gave_way[-1].endswith("sent whole"), (n.kind, rendered.text)
        if n.audience != "customer":
            return
        for name in ("next_milestone", "next_update", "promised"):
            due = (n.context.get(name) or {}).get("due_at")
            # A time already gone is never promised to a customer.
            assert due is None or datetime.fromisoformat(due) >= n.decided_at, (n.kind, name, due)
        owner = n.context.get("owner")
        if owner and outcome.state.owner is not None:
            named = {self.owner_before, outcome.state.owner.name}
            assert owner["name"] in named, (n.kind, owner, named)

    def the_lead_is_told_what_happened(self, outcome: Outcome) -> None:
        """An escalation that says the customer was just sent a holding update is true."""
        for n in outcome.notifications:
            holding = n.context.get("holding") if n.kind == "checkpoint_escalation" else None
            if holding and holding.get("status") == "sent":
                sent = [
                    m
                    for m in outcome.notifications
                    if m.kind == "checkpoint_holding" and m.audience == "customer" and m.contact is None
                ]
                assert sent, f"the lead was told a holding update went, and none did: {outcome.decisions}"

    def every_answer_is_answered(self, outcome: Outcome) -> None:
        """A customer's answer to the options reaches the owner, or the log says why not."""
        event = self.event or {}
        if event.get("type") not in ("ticket.option_chosen", "ticket.answer_unclear"):
            return
        told = any(n.kind == "options_answered" for n in outcome.notifications)
        reasons = [
            d for d in outcome.decisions if d.event_id == event["id"] and d.outcome in ("skip", "suppress")
        ]
        assert told or reasons, (event, outcome.decisions)

    def one_update_at_a_time(self, outcome: Outcome) -> None:
        """Nothing beside the closure (it says where things ended), and no two holding
        updates at once."""
        kinds = [n.kind for n in outcome.notifications if n.audience == "customer" and n.contact is None]
        assert kinds.count("checkpoint_holding") <= 1, (kinds, outcome.decisions)
        if "closure_summary" in kinds:
            beside = [k for k in kinds if k in ("milestone_update", "checkpoint_holding")]
            assert beside == [], (kinds, outcome.decisions)

    def news_marked_told_was_told(self, outcome: Outcome) -> None:
        """The handovers are marked acknowledged only with a message that says so: sent now,
        or held (quiet hours) and carrying the news with it."""
        if outcome.state.transfers_acknowledged and not self.acknowledged_before:
            said = [n for n in outcome.notifications if (n.context.get("transfers") or {}).get("acknowledge")]
            held = [i for i in outcome.state.scheduled if (i.context.get("news") or {}).get("transfers")]
            assert said or held, outcome.decisions

    def no_text_without_consent(self, outcome: Outcome) -> None:
        """Once texts are refused, none is decided (messages released before the change, on
        the state as it was then, may still go)."""
        if self.sms_refused_before:
            texts = [n.kind for n in outcome.notifications if n.channel == "sms" and n.contact is None]
            assert texts == [], texts

    @invariant()
    def one_owner(self) -> None:
        if self.state is not None and self.state.owner_explicit:
            assert self.state.owner is not None


TicketStory.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_whole_stories_read_right_together = TicketStory.TestCase


# The stories the generated test found, each kept as a named test.
def test_the_lead_is_not_told_a_holding_update_went_when_a_message_just_reached_the_customer() -> None:
    story = TicketStory()
    story.created(language="en", zone="Europe/London", channel="email", quiet=False, urgent=False, agent=None)
    story.promises(agent=AGENTS[0], due_in=5.0, minutes=0.0)
    story.customer_writes(minutes=10.0)  # the acknowledgment goes now, then the escalation
    assert story.last is not None
    [escalation] = [n for n in story.last.notifications if n.kind == "checkpoint_escalation"]
    assert escalation.context["holding"]["status"] == "skipped"
    text = RENDERER.render("checkpoint_escalation", "email", "en", "UTC", escalation.context).text
    assert "No holding update was sent to Amara: they were sent a message 0 s ago" in text


def test_an_acknowledgment_never_names_a_promised_time_already_gone() -> None:
    story = TicketStory()
    story.created(language="en", zone="Europe/London", channel="email", quiet=False, urgent=False, agent=None)
    story.promises(agent=AGENTS[0], due_in=5.0, minutes=0.0)
    story.customer_writes(minutes=10.0)
    assert story.last is not None
    [ack] = [n for n in story.last.notifications if n.kind == "acknowledgment"]
    due = datetime.fromisoformat(ack.context["next_milestone"]["due_at"])
    assert due >= ack.decided_at and ack.context["next_milestone"]["first_reply"] is True


def test_updates_held_by_quiet_hours_do_not_arrive_beside_the_closure() -> None:
    story = TicketStory()
    story.created(language="en", zone="Europe/London", channel="email", quiet=True, urgent=False, agent=None)
    story.promises(agent=AGENTS[0], due_in=60.0, minutes=30.0)
    story.time_passes(minutes=90.0)  # broken at night: the holding update waits for 08:00
    story.resolved(minutes=10.0)
    story.time_passes(minutes=20.0)  # the closure waits for 08:00 too, behind the holding update
    story.time_passes(minutes=680.0)
    assert story.state is not None
    sent = [d for d in story.state.sent if d.kind in ("checkpoint_holding", "closure_summary")]
    assert [d.kind for d in sent] == ["closure_summary"]
