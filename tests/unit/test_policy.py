"""The policy as pure functions: (state, event, now) -> state, notifications, decisions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from heard.streams.base.settings import PolicySettings
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.contract.state import TicketState
from heard.streams.contract.stories import T0, minutes
from heard.streams.policy.decide import decide
from heard.streams.policy.step import Outcome, Rules
from tests.peers import REPO

RULES = Rules(
    policy=PolicySettings(
        acknowledgment_hold_seconds=60,
        closure_grace_seconds=900,
        coalesce_window_seconds=600,
        team_timezone="UTC",
    ),
    internal_recipients={"default": "team@example.com", "lead": "lead@example.com"},
)


def run(
    events: list[dict[str, Any]], now: datetime | None = None, rules: Rules = RULES
) -> tuple[TicketState | None, list[Outcome]]:
    """Apply events in order, each at its occurred_at (or `now`), then tick to `now`."""
    state: TicketState | None = None
    outcomes = []
    for raw in events:
        event = parse_event(stories.dumps(raw))
        at = now or event.occurred_at
        outcome = decide(state, event, at, rules)
        state = outcome.state
        outcomes.append(outcome)
    return state, outcomes


def tick(state: TicketState, at: datetime, rules: Rules = RULES) -> Outcome:
    timer = parse_event(
        stories.dumps(
            stories.event(
                "heard.timer_due", state.ticket_id, at, eid=f"tick-{at.timestamp()}", due_at=stories.iso(at)
            )
        ),
        internal=True,
    )
    return decide(state, timer, at, rules)


def kinds(outcome: Outcome) -> list[tuple[str, str]]:
    return [(n.kind, n.channel) for n in outcome.notifications]


def test_acknowledgment_is_held_then_sent_with_milestone_in_the_future() -> None:
    state, [created] = run([stories.created("T1")])
    assert created.notifications == []
    assert [(d.outcome, d.kind) for d in created.decisions] == [
        ("schedule", "acknowledgment"),
        ("schedule", "checkpoint"),
    ]
    assert state is not None
    sent = tick(state, T0 + timedelta(seconds=60))
    [note] = sent.notifications
    assert (note.kind, note.channel, note.recipient) == ("acknowledgment", "email", "amara@example.net")
    assert note.context["customer"]["greeting_name"] == "Amara"
    # The policy carries no customer-facing words: each locale's template words it.
    assert note.context["next_milestone"]["text"] is None
    assert note.context["next_milestone"]["first_reply"] is True
    assert note.context["next_milestone"]["due_at"] == (T0 + timedelta(hours=4)).isoformat()
    assert note.timezone == "Europe/London"


def test_agent_reply_before_the_hold_ends_skips_the_acknowledgment() -> None:
    state, outcomes = run([stories.created("T1"), stories.reply("T1", T0 + timedelta(seconds=30))])
    assert state is not None
    assert ("cancel", "a real agent reply landed first") in [
        (d.outcome, d.reason) for d in outcomes[1].decisions
    ]
    assert tick(state, T0 + minutes(5)).notifications == []


def test_out_of_order_reply_before_created_skips_the_acknowledgment() -> None:
    state, outcomes = run([stories.reply("T1", T0 + minutes(1)), stories.created("T1")])
    assert [d.reason for d in outcomes[1].decisions] == [
        "a real agent reply landed first; no acknowledgment needed"
    ]
    assert state is not None and state.scheduled == []


def test_duplicate_event_changes_nothing() -> None:
    first = stories.created("T1")
    state, outcomes = run([first, first])
    assert outcomes[1].changed is False
    assert outcomes[1].decisions[0].reason == "duplicate event id: already applied"
    assert state is not None and state.version == 1


def test_closure_is_held_and_cancelled_by_a_reopen() -> None:
    state, outcomes = run(
        [
            stories.created("T1"),
            stories.resolved("T1", T0 + minutes(30)),
            stories.event("ticket.reopened", "T1", T0 + minutes(35)),
        ],
    )
    assert state is not None
    assert [(d.outcome, d.kind, d.reason) for d in outcomes[2].decisions] == [
        ("cancel", "closure_summary", "ticket reopened during the closure grace period")
    ]
    assert tick(state, T0 + minutes(60)).notifications == []


def test_closure_summary_carries_the_three_parts() -> None:
    state, _ = run([stories.created("T1", urgent=True), stories.resolved("T1", T0 + minutes(30))])
    assert state is not None
    out = tick(state, T0 + minutes(46))
    [closure] = [n for n in out.notifications if n.kind == "closure_summary"]
    assert set(closure.context["summary"]) == {"what_happened", "what_changed", "prevention"}


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (
            stories.customer(
                preferred_channel="sms", phone="+48 512 345 678", consent={"email": True, "sms": True}
            ),
            [("acknowledgment", "sms")],
        ),
        (
            stories.customer(
                preferred_channel="sms", phone="+48 512 345 678", consent={"email": True, "sms": False}
            ),
            [("acknowledgment", "email")],
        ),
        (stories.customer(email=None, phone="+48 512 345 678"), []),
    ],
)
def test_channel_follows_preference_and_consent(
    customer: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    _, [outcome] = run([stories.created("T9", customer=customer, urgent=True)])
    assert kinds(outcome) == expected
    if not expected:
        assert outcome.decisions[-1].outcome == "suppress"
        assert outcome.decisions[-1].reason == ("no usable channel: no email address, no consent for SMS")


def test_quiet_hours_defer_to_the_window_opening_in_the_customers_zone() -> None:
    night = stories.customer(timezone="America/New_York", quiet_hours={"start": "21:00", "end": "08:00"})
    # 03:00 UTC is 22:00 in New York: quiet until 08:00 local = 13:00 UTC.
    late = datetime.fromisoformat("2026-11-20T03:00:00+00:00")
    state, _ = run([stories.created("T1", late, customer=night)])
    assert state is not None
    deferred = tick(state, late + timedelta(seconds=61))
    assert deferred.notifications == []
    assert deferred.decisions[-1].outcome == "defer"
    assert deferred.decisions[-1].reason.endswith("2026-11-20T13:00:00+00:00")
    opening = tick(deferred.state, datetime.fromisoformat("2026-11-20T13:00:00+00:00"))
    assert kinds(opening) == [("acknowledgment", "email")]
    # 13:00 was also the first-reply target (09:00 + 4 team hours): an acknowledgment sent
    # at that moment promises the full target from now instead of a time already gone.
    [ack] = opening.notifications
    assert ack.context["next_milestone"]["due_at"] == "2026-11-20T17:00:00+00:00"
    assert opening.state is not None
    assert opening.state.first_reply_due == datetime.fromisoformat("2026-11-20T17:00:00+00:00")
    # The team's nudge moved with it (half an hour before), and the ladder at the new time.
    assert [
        (n.kind, n.audience)
        for n in tick(opening.state, datetime.fromisoformat("2026-11-20T16:59:00+00:00")).notifications
    ] == [("checkpoint_nudge", "agent")]
    assert [
        (n.kind, n.audience)
        for n in tick(opening.state, datetime.fromisoformat("2026-11-20T17:00:00+00:00")).notifications
    ] == [("checkpoint_escalation", "lead"), ("checkpoint_holding", "customer")]


def test_urgent_ignores_quiet_hours() -> None:
    night = stories.customer(quiet_hours={"start": "00:00", "end": "23:59"})
    _, [outcome] = run([stories.created("T1", customer=night, urgent=True)])
    assert kinds(outcome) == [("acknowledgment", "email")]


def test_coalescing_skips_a_second_acknowledgment_within_the_window() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None
    state = tick(state, T0 + minutes(1)).state
    _, [message] = run([stories.event("ticket.customer_message", "T1", T0 + minutes(3))])
    out = decide(
        state,
        parse_event(stories.dumps(stories.event("ticket.customer_message", "T1", T0 + minutes(3)))),
        T0 + minutes(3),
        RULES,
    )
    released = tick(out.state, T0 + minutes(4))
    assert released.notifications == []
    assert released.decisions[-1].reason.startswith("coalesced")
    assert message.decisions[0].reason == "customer message for a ticket not yet created; kept for ordering"


def test_plain_text_and_language_flow_into_the_notification() -> None:
    person = stories.customer(language="es", accessibility={"plain_text_only": True})
    _, [outcome] = run([stories.created("T1", customer=person, urgent=True)])
    [note] = outcome.notifications
    assert (note.locale, note.plain_text_only) == ("es", True)


def test_status_change_older_than_current_is_ignored() -> None:
    _, outcomes = run(
        [
            stories.created("T1"),
            stories.event("ticket.status_changed", "T1", T0 + minutes(10), to_status="on_hold"),
            stories.event("ticket.status_changed", "T1", T0 + minutes(5), to_status="in_progress"),
        ]
    )
    assert outcomes[2].decisions[0].reason.startswith("status 'in_progress' is older")
    assert outcomes[2].state.status == "on_hold"


def test_notification_ids_are_deterministic() -> None:
    _, [a] = run([stories.created("T1", urgent=True)])
    _, [b] = run([stories.created("T1", urgent=True)])
    _, [c] = run([stories.created("T2", urgent=True)])
    assert a.notifications[0].notification_id == b.notifications[0].notification_id
    assert a.notifications[0].notification_id != c.notifications[0].notification_id


def test_deciding_in_place_gives_exactly_what_deciding_on_a_copy_gives() -> None:
    """The worker decides on its cached object in place; nothing it emits may differ."""
    lines = (REPO / "examples" / "events.jsonl").read_text().splitlines()
    events = [parse_event(line.encode()) for line in lines if line.startswith("{")]
    copied: dict[str, TicketState] = {}
    in_place: dict[str, TicketState] = {}
    for event in [*events, *events]:  # the second pass is all duplicates
        at = event.occurred_at + timedelta(hours=1)  # holds and grace periods have passed
        before = copied.get(event.ticket_id)
        before_json = before.to_json() if before else None
        a = decide(before, event, at, RULES)
        b = decide(in_place.get(event.ticket_id), event, at, RULES, in_place=True)
        assert (before.to_json() if before else None) == before_json, "the copy path mutated"
        assert a.state.to_json() == b.state.to_json()
        assert [n.model_dump() for n in a.notifications] == [n.model_dump() for n in b.notifications]
        assert [d.model_dump() for d in a.decisions] == [d.model_dump() for d in b.decisions]
        assert a.promise_records == b.promise_records
        assert a.changed == b.changed
        copied[event.ticket_id], in_place[event.ticket_id] = a.state, b.state
    assert len(copied) == 4  # the four stories of examples/events.jsonl


def test_a_language_without_templates_falls_back_by_the_chain_and_says_so() -> None:
    rules = Rules(
        policy=RULES.policy,
        internal_recipients=RULES.internal_recipients,
        template_locales={"acknowledgment": ("de", "en", "es", "fr")},
    )
    created = stories.created("T-ja", urgent=True, customer=stories.customer(language="ja"))
    _, [outcome] = run([created], rules=rules)
    [note] = outcome.notifications
    assert note.locale == "en"  # text, dates and the HTML lang all follow the written language
    [fallback] = [d.reason for d in outcome.decisions if "no acknowledgment templates" in d.reason]
    assert fallback == "no acknowledgment templates in 'ja'; written in 'en' (tried ja -> en)"
    regional = stories.created("T-fr", urgent=True, customer=stories.customer(language="fr-CA"))
    _, [outcome] = run([regional], rules=rules)
    # Their language's templates, their region's dates: written in fr, formatted fr-CA.
    assert outcome.notifications[0].locale == "fr-CA"
    assert not any("no acknowledgment templates" in d.reason for d in outcome.decisions)


def test_a_british_reader_gets_british_dates_from_the_english_templates() -> None:
    from heard.streams.content.rendering import Renderer

    rules = Rules(
        policy=RULES.policy,
        internal_recipients=RULES.internal_recipients,
        template_locales={"acknowledgment": ("de", "en", "es", "fr")},
    )
    renderer = Renderer(REPO / "templates")
    for language, shown, never in (
        ("en-GB", "Friday 20 November", "November 20"),
        ("en-IE", "Friday 20 November", "November 20"),
        ("en-US", "November 20", "20 November"),
    ):
        created = stories.created(
            f"T-{language}",
            urgent=True,
            customer=stories.customer(language=language, timezone="Europe/London"),
        )
        _, [outcome] = run([created], rules=rules)
        [note] = outcome.notifications
        text = renderer.render(note.kind, "email", note.locale, note.timezone, note.context).text
        assert shown in text and never not in text, (language, text)
        assert "Hi Amara" in text  # the English templates


def test_a_backlog_replayed_at_once_still_lets_the_reply_cancel_the_held_acknowledgment() -> None:
    """The whole story arrives a day late, in one burst: the agent replied 30 s after the
    ticket was opened, so the customer must not get an acknowledgment the same second."""
    later = T0 + timedelta(days=1)
    state, outcomes = run(
        [stories.created("T-b", T0), stories.reply("T-b", T0 + timedelta(seconds=30))], now=later
    )
    assert [n for outcome in outcomes for n in outcome.notifications] == []
    assert state is not None
    timer = tick(state, later)
    assert [n.kind for n in timer.notifications] == []
    decisions = [d for outcome in [*outcomes, timer] for d in outcome.decisions]
    assert any(d.outcome == "cancel" and d.kind == "acknowledgment" for d in decisions)


def test_explain_merges_decisions_with_what_happened_to_each_message() -> None:
    from heard.streams.cli import explain_lines

    decisions = [
        {
            "at": "2026-11-20T10:00:01+00:00",
            "event_type": "ticket.created",
            "outcome": "send",
            "kind": "acknowledgment",
            "channel": "sms",
            "reason": "acknowledgment to the customer by sms",
        }
    ]
    outcomes = [
        {
            "at": "2026-11-20T10:00:02+00:00",
            "kind": "acknowledgment",
            "channel": "sms",
            "status": "suppressed",
            "reason": "the recipient withdrew sms consent",
        }
    ]
    resolved = {
        "at": "2026-11-20T10:05:00+00:00",
        "event_type": "ticket.resolved",
        "outcome": "schedule",
        "kind": "closure_summary",
        "reason": "closure summary held 900 s in case the ticket reopens",
    }
    # Read from two topics, each in its own order: the timeline is in time order.
    lines = explain_lines([resolved, *decisions], outcomes)
    assert [line.split()[1:3] for line in lines] == [
        ["ticket.created", "send"],
        ["delivery", "suppressed"],
        ["ticket.resolved", "schedule"],
    ]
    assert lines[1].endswith("the recipient withdrew sms consent")
    # A message rendered with a published template version names it; one from the folder not.
    sent = {
        **outcomes[0],
        "status": "sent",
        "reason": "accepted by the provider",
        "templates_version": "3f2a9c1b7d4e",
    }
    assert explain_lines([], [sent])[0].endswith("accepted by the provider (templates 3f2a9c1b7d4e)")
    assert explain_lines([], [{**sent, "templates_version": None}])[0].endswith("accepted by the provider")


# ------------------------------------------------------------------ the first reply, kept
def test_an_unanswered_ticket_past_its_first_reply_tells_the_lead_and_the_customer() -> None:
    from heard.streams.content.rendering import Renderer

    renderer = Renderer(REPO / "templates")
    state, _ = run([stories.created("T1")])
    assert state is not None
    state = tick(state, T0 + minutes(1)).state  # the acknowledgment promises 14:00
    assert state is not None
    # Half an hour before (nudge_lead_seconds), the team is nudged: no one has an agent's
    # address yet, so the team's inbox.
    assert tick(state, T0 + timedelta(hours=3, minutes=29)).notifications == []
    nudged = tick(state, T0 + timedelta(hours=3, minutes=30))
    [nudge] = nudged.notifications
    assert (nudge.kind, nudge.audience, nudge.recipient) == ("checkpoint_nudge", "agent", "team@example.com")
    team = renderer.render(nudge.kind, "email", "en", "UTC", nudge.context)
    assert team.subject == "[T1] First reply due 2:00 PM"
    assert team.text.startswith("Hi team,\n\nOur acknowledgment promised Amara (she/her) a first reply on T1")
    assert "and no one has replied publicly yet." in team.text
    assert "None" not in team.text
    state = nudged.state
    assert state is not None
    assert tick(state, T0 + timedelta(hours=3, minutes=59)).notifications == []
    due = tick(state, T0 + timedelta(hours=4))
    assert [(n.kind, n.audience, n.recipient) for n in due.notifications] == [
        ("checkpoint_escalation", "lead", "lead@example.com"),
        ("checkpoint_holding", "customer", "amara@example.net"),
    ]
    escalation, holding = due.notifications
    assert escalation.context["holding"]["status"] == "sent"
    lead = renderer.render(escalation.kind, "email", "en", "UTC", escalation.context)
    assert lead.subject == "[T1] No first reply yet: it was due 2:00 PM"
    assert "The first reply the acknowledgment promised Amara (she/her)" in lead.text
    assert "no one has replied publicly yet" in lead.text
    customer = renderer.render(holding.kind, "email", "en", "UTC", holding.context)
    assert "We promised you a first reply by" in customer.text
    # The holding update names when they will hear next (two team hours on), and keeps it.
    assert "You will hear from us again by Fri, November 20, 4:00\u202fPM" in customer.text
    assert "None" not in customer.text
    assert due.state is not None
    assert tick(due.state, T0 + timedelta(hours=5, minutes=59)).notifications == []
    again = tick(due.state, T0 + timedelta(hours=6))
    assert [(n.kind, n.audience) for n in again.notifications] == [
        ("checkpoint_escalation", "lead"),
        ("checkpoint_holding", "customer"),
    ]
    lead = renderer.render("checkpoint_escalation", "email", "en", "UTC", again.notifications[0].context)
    assert lead.subject == "[T1] Still no news for the customer: it was due 4:00 PM"
    assert "The news our last holding update promised Amara" in lead.text
    customer = renderer.render("checkpoint_holding", "email", "en", "UTC", again.notifications[1].context)
    assert customer.text.startswith(
        "Hi Amara,\n\nWe said you would hear from us again by Fri, November 20, 4:00\u202fPM "
        "(Coordinated Universal Time), and we have no real news"
    )
    assert "You will hear from us again by Fri, November 20, 6:00\u202fPM" in customer.text
    # The third in a row names no time: the lead has it, and nothing more is scheduled.
    assert again.state is not None
    third = tick(again.state, T0 + timedelta(hours=8))
    assert [n.kind for n in third.notifications] == ["checkpoint_escalation", "checkpoint_holding"]
    last = renderer.render("checkpoint_holding", "email", "en", "UTC", third.notifications[1].context)
    assert "the next message you get from us will say where things stand" in last.text
    assert "You will hear from us again" not in last.text
    assert third.state is not None
    assert tick(third.state, T0 + timedelta(days=9)).notifications == []


def test_a_public_reply_keeps_the_time_a_holding_update_named() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None
    for hours in (0.02, 4):
        state = tick(state, T0 + timedelta(hours=hours)).state
        assert state is not None
    assert state.next_update_due == T0 + timedelta(hours=6)
    state, _ = run_from(state, [stories.reply("T1", T0 + timedelta(hours=5))])
    assert state.next_update_due is None and state.holding_updates_in_a_row == 0
    assert tick(state, T0 + timedelta(hours=6)).notifications == []


@pytest.mark.parametrize(
    "settles",
    [
        stories.reply("T1", T0 + timedelta(hours=2)),
        stories.promised("T1", T0 + timedelta(hours=2), T0 + timedelta(hours=6)),
        stories.resolved("T1", T0 + timedelta(hours=2)),
    ],
    ids=["public reply", "agent's own promise", "resolved"],
)
def test_a_reply_a_promise_or_a_resolution_ends_the_first_reply_watch(settles: dict[str, Any]) -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None
    state = tick(state, T0 + minutes(1)).state
    state, _ = run_from(state, [settles])
    at_target = tick(state, T0 + timedelta(hours=4))
    assert [
        n.kind for n in at_target.notifications if n.kind in ("checkpoint_escalation", "checkpoint_holding")
    ] == []


def test_a_private_note_does_not_count_as_the_first_reply() -> None:
    state, _ = run([stories.created("T1")])
    assert state is not None
    state = tick(state, T0 + minutes(1)).state
    state, _ = run_from(state, [stories.reply("T1", T0 + timedelta(hours=1), public=False)])
    assert [n.kind for n in tick(state, T0 + timedelta(hours=4)).notifications] == [
        "checkpoint_escalation",
        "checkpoint_holding",
    ]


def test_a_backlogged_ticket_is_promised_a_first_reply_from_now_not_one_already_gone() -> None:
    # Seen nine days after it was created, with no reply: the acknowledgment goes, and no
    # "we are late" update beside it for a promise the customer was never given.
    state, _ = run([stories.created("T1")])
    assert state is not None
    later = T0 + timedelta(days=9)
    now = tick(state, later)
    assert kinds(now) == [("acknowledgment", "email")]
    [ack] = now.notifications
    assert datetime.fromisoformat(ack.context["next_milestone"]["due_at"]) > later
    assert now.state is not None and now.state.first_reply_due is not None
    assert [n.kind for n in tick(now.state, now.state.first_reply_due).notifications] == [
        "checkpoint_escalation",
        "checkpoint_holding",
    ]


def test_a_ticket_created_with_a_milestone_has_no_first_reply_watch() -> None:
    state, _ = run(
        [
            stories.created(
                "T1", next_milestone={"text": "A courier update", "due_at": stories.iso(T0 + minutes(90))}
            )
        ]
    )
    assert state is not None and state.first_reply_due is None


def run_from(state: TicketState | None, events: list[dict[str, Any]]) -> tuple[TicketState, None]:
    for raw in events:
        event = parse_event(stories.dumps(raw))
        state = decide(state, event, event.occurred_at, RULES).state
    assert state is not None
    return state, None


# ------------------------------------------------------------------ the next update, kept
def _holding_at_14(**customer: Any) -> TicketState:
    """Created 10:00 with no reply: the first-reply holding goes at 14:00, naming 16:00."""
    state, _ = run([stories.created("T1", customer=stories.customer(**customer))])
    assert state is not None
    for at in (T0 + minutes(1), T0 + timedelta(hours=4)):
        state = tick(state, at).state
        assert state is not None
    return state


def test_a_message_from_the_customer_just_before_the_named_time_moves_it_on() -> None:
    state = _holding_at_14()
    assert state.next_update_due == T0 + timedelta(hours=6)
    state, _ = run_from(
        state, [stories.event("ticket.customer_message", "T1", T0 + timedelta(hours=5, minutes=55), eid="m2")]
    )
    acked = tick(state, T0 + timedelta(hours=5, minutes=56))
    [ack] = acked.notifications
    # The acknowledgment names the time the holding update gave, not a new first reply.
    assert ack.context["next_milestone"]["due_at"] == (T0 + timedelta(hours=6)).isoformat()
    assert acked.state is not None
    at_time = tick(acked.state, T0 + timedelta(hours=6))
    # The lead is told; a holding update four minutes after the acknowledgment would confuse,
    # so the next update is kept from then on instead of being dropped.
    assert [n.kind for n in at_time.notifications] == ["checkpoint_escalation"]
    assert at_time.state is not None and at_time.state.next_update_due is not None
    later = at_time.state.next_update_due
    assert later > T0 + timedelta(hours=6)
    assert [n.kind for n in tick(at_time.state, later).notifications] == [
        "checkpoint_escalation",
        "checkpoint_holding",
    ]


def test_a_resolution_reopened_within_its_grace_keeps_the_named_time() -> None:
    state = _holding_at_14()
    state, _ = run_from(
        state,
        [
            stories.resolved("T1", T0 + timedelta(hours=5)),
            stories.event("ticket.reopened", "T1", T0 + timedelta(hours=5, minutes=5), eid="re"),
        ],
    )
    assert [n.kind for n in tick(state, T0 + timedelta(hours=6)).notifications] == [
        "checkpoint_escalation",
        "checkpoint_holding",
    ]


def test_the_named_time_is_never_inside_the_customers_quiet_hours() -> None:
    # Quiet from 15:30 (UTC reader): 16:00 could not be kept, so the holding names 08:00.
    state = _holding_at_14(quiet_hours={"start": "15:30", "end": "08:00"}, timezone="UTC")
    assert state.next_update_due == datetime.fromisoformat("2026-11-21T08:00:00+00:00")


def test_the_lead_is_told_when_heard_sends_its_last_holding_update() -> None:
    from heard.streams.content.rendering import Renderer

    rules = Rules(
        policy=RULES.policy.model_copy(update={"holding_updates_in_a_row": 2}),
        internal_recipients=RULES.internal_recipients,
    )
    state, _ = run([stories.created("T1")], rules=rules)
    assert state is not None
    state = tick(state, T0 + minutes(1), rules).state
    assert state is not None
    first = tick(state, T0 + timedelta(hours=4), rules)
    assert first.notifications[0].context["holding"]["last"] is False
    assert first.state is not None
    second = tick(first.state, T0 + timedelta(hours=6), rules)
    escalation, holding = second.notifications
    assert escalation.context["holding"]["last"] is True
    lead = Renderer(REPO / "templates").render(escalation.kind, "email", "en", "UTC", escalation.context)
    assert "It is the last one heard sends in a row" in lead.text
    assert holding.context["next_update"] is None


def test_an_urgent_ticket_still_gets_its_first_reply_nudge() -> None:
    # A 30-minute target and a 30-minute nudge lead: the team is nudged halfway instead.
    state, _ = run([stories.created("T1", urgent=True)])
    assert state is not None
    [nudge] = [i for i in state.scheduled if i.kind == "checkpoint_nudge"]
    assert nudge.due_at == T0 + minutes(15)
