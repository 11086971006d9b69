"""One call of `decide`: the rules it reads, the step it works in, and what it emits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from heard.streams.base.settings import FeedbackSettings, PolicySettings
from heard.streams.contract.records import Agent, Event
from heard.streams.contract.state import (
    ChoiceRecord,
    Decision,
    FeedbackRecord,
    FirstAcknowledgment,
    Notification,
    PromiseRecord,
    Scheduled,
    SentRecord,
    TicketState,
    TransferRecord,
)
from heard.streams.policy.replies import SignalMatcher


@dataclass(frozen=True)
class Rules:
    """Everything the policy reads besides state and event: config, flattened."""

    policy: PolicySettings
    enabled_channels: tuple[str, ...] = ("email", "sms")
    internal_recipients: dict[str, str] = field(default_factory=dict)
    # The channels the team's messages go by, and for each besides email its routes
    # (route -> recipient): `default`, `lead`, `<team>`, `lead:<team>`.
    team_channels: tuple[str, ...] = ("email",)
    team_routes: dict[str, dict[str, str]] = field(default_factory=dict)
    default_locale: str = "en"
    # Locales each message kind has templates in (empty: not known, the customer's is used).
    template_locales: dict[str, tuple[str, ...]] = field(default_factory=dict)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)

    @cached_property
    def signals(self) -> SignalMatcher:
        return SignalMatcher(self.feedback)


def writing_locale(language: str, kind: str, rules: Rules) -> tuple[str, list[str]]:
    """The locale a message is written in, and the chain tried: the customer's own
    (pt-BR), its language (pt), then the default locale (en)."""
    chain = list(dict.fromkeys([language, language.replace("_", "-").split("-")[0], rules.default_locale]))
    available = rules.template_locales.get(kind)
    if not available:
        return language, chain
    known = {locale.lower().replace("_", "-"): locale for locale in available}
    base = language.replace("_", "-").split("-")[0]
    for candidate in chain:
        if candidate.lower().replace("_", "-") in known:
            if candidate == base != language:
                # The reader's language has templates, their region none: written in the
                # language's templates (the renderer finds them), dates and numbers in the
                # reader's own region (en-GB: "Monday 7 December", never "December 7").
                return language, chain
            return known[candidate.lower().replace("_", "-")], chain
    return rules.default_locale, chain


@dataclass
class Outcome:
    state: TicketState
    notifications: list[Notification] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    promise_records: list[PromiseRecord] = field(default_factory=list)
    first_acknowledgment: FirstAcknowledgment | None = None
    # Customers' answers, for `heard-replies`.
    replies: list[ChoiceRecord | FeedbackRecord] = field(default_factory=list)
    # Changes of team, for `heard report transfers`.
    transfers: list[TransferRecord] = field(default_factory=list)
    changed: bool = True
    # The ticket's data is to be erased now (retention passed, or `heard forget`).
    forget: bool = False
    # ... at the customer's request: nothing may bring the ticket back (no later event, no
    # replayed webhook, no link answer), so the table keeps a marker in its place.
    erased_on_request: bool = False
    # Phones whose SMS questions about this ticket are to be dropped (an erasure).
    forgotten_phones: list[str] = field(default_factory=list)


class Step:
    """Working set for one `decide` call: the copied state plus what it emits."""

    def __init__(self, state: TicketState, event: Event, now: datetime, rules: Rules) -> None:
        self.state = state
        # What this step may release: an event only what was due when it happened, a timer
        # everything due by now. When a backlog is replayed at once, a reply that came 30 s
        # after the ticket still cancels the held acknowledgment: that waits for its timer,
        # and by then the reply has been applied.
        self.release_at = now if event.type == "heard.timer_due" else min(now, event.occurred_at)
        self.event = event
        self.now = now
        self.rules = rules
        self.out = Outcome(state)

    def log(
        self,
        outcome: str,
        reason: str,
        *,
        kind: str | None = None,
        channel: str | None = None,
        nid: str | None = None,
    ) -> None:
        self.out.decisions.append(
            Decision(
                ticket_id=self.state.ticket_id,
                event_id=self.event.id,
                event_type=self.event.type,
                at=self.now,
                outcome=outcome,
                kind=kind,
                channel=channel,
                notification_id=nid,
                reason=reason,
            )
        )

    def schedule(self, item: Scheduled, reason: str) -> None:
        self.state.scheduled.append(item)
        self.log("schedule", reason, kind=item.kind)

    def cancel(
        self, kinds: tuple[str, ...], reason: str, keep: Callable[[Scheduled], bool] | None = None
    ) -> None:
        kept = []
        for item in self.state.scheduled:
            if item.kind in kinds and (keep is None or not keep(item)):
                self.log("cancel", reason, kind=item.kind)
            else:
                kept.append(item)
        self.state.scheduled = kept


def queue_now(step: Step, kind: str, *, urgent: bool = False, extra: dict[str, Any]) -> None:
    """Queue a customer message released in this same step (subject to quiet hours)."""
    step.state.scheduled.append(
        Scheduled(
            kind=kind,
            due_at=step.release_at,
            trigger_event_id=step.event.id,
            trigger_at=step.event.occurred_at,
            urgent=urgent,
            context=extra,
        )
    )


def take_ownership(step: Step, agent: Agent, why: str, *, tell: bool) -> None:
    """`agent` looks after the ticket from now on. `tell`: the customer hears it in one line
    of the next update (an assignment); an agent's own reply or announced promise already
    told them who is on it."""
    state = step.state
    before = state.owner
    if before is not None and (before.id, before.name) == (agent.id, agent.name):
        return
    state.owner = agent
    if before is None:
        return
    state.owner_news = tell
    step.log("record", f"{agent.name} owns the ticket now ({why}; {before.name} did)")


def record_sent(step: Step, notification: Notification) -> None:
    state = step.state
    state.sent.append(
        SentRecord(
            kind=notification.kind,
            notification_id=notification.notification_id,
            channel=notification.channel,
            audience=notification.audience,
            at=step.now,
            contact=notification.contact,
        )
    )
    if notification.audience == "customer" and notification.contact is None:
        if state.last_customer_notified_at is None and state.created_at is not None:
            step.out.first_acknowledgment = FirstAcknowledgment(
                ticket_id=state.ticket_id,
                team=state.agent.team if state.agent else None,
                seconds=max(0.0, (step.now - state.created_at).total_seconds()),
                at=step.now,
            )
        state.last_customer_notified_at = step.now
    step.out.notifications.append(notification)
    step.log(
        "send",
        f"{notification.kind} to the {notification.audience} by {notification.channel}",
        kind=notification.kind,
        channel=notification.channel,
        nid=notification.notification_id,
    )
