"""The worker's Prometheus series. Labels are bounded and carry no personal data.

`DEAD_LETTERS` is shared with ingest (`heard.streams.base.metrics`)."""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram, Info

from heard.streams.contract.state import PromiseRecord

EVENTS = Counter("heard_events_total", "Ticket events applied", ["type"])
AGENT_FAILURES = Counter(
    "heard_record_failures_total", "Records an agent could not handle (each became a dead letter)", ["stage"]
)
DELIVERIES = Counter("heard_deliveries_total", "Delivery outcomes", ["channel", "status"])
PROMISES = Counter(
    "heard_promises_total", "Promise status changes (made = pending)", ["team", "agent", "status"]
)
REPLIES = Counter("heard_customer_replies_total", "Customers' answers recorded", ["record", "via"])
BUILD_INFO = Info("heard_build", "The heard version this worker runs")
DELIVERY_SECONDS = Histogram(
    "heard_delivery_seconds",
    "From the decision to the provider accepting the message",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200),
)
SMS_SEGMENTS = Counter("heard_sms_segments_total", "SMS parts sent (what the provider bills)")
TEMPLATE_ERRORS = Counter(
    "heard_template_errors_total", "Messages not sent because their template failed", ["kind"]
)
TIMERS_PENDING = Gauge(
    "heard_timers_pending", "Timer entries this worker holds (superseded ones go when reached)"
)
TIMER_LATENESS = Histogram(
    "heard_timer_lateness_seconds",
    "From a timer's due time to the agent acting on it",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
LATENESS = Histogram(
    "heard_promise_lateness_seconds",
    "How late a promise was kept (0 when on time)",
    ["team"],
    buckets=(0, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400),
)
FIRST_ACK = Histogram(
    "heard_first_acknowledgment_seconds",
    "From ticket created to heard's first message to the customer",
    ["team"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400),
)


# At most this many distinct agent ids become label values; later ones count as "other".
MAX_AGENT_LABELS = 500
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
PHONE_LIKE = re.compile(r"\d[\d\s().-]{5,}\d")


class Labels:
    """Label values from bounded sets, never a name, an address or a number: a team only
    when config names it (team calendars, the team's routes), an agent only by an id of a
    safe shape, and no more than MAX_AGENT_LABELS of those. Events come from help desks and
    could otherwise put anything into a series' labels, one new series per ticket."""

    def __init__(self) -> None:
        self.teams: frozenset[str] = frozenset()
        self._agents: set[str] = set()

    def know_teams(self, teams: set[str]) -> None:
        self.teams = frozenset(teams)

    def team(self, team: str | None) -> str:
        if not team:
            return "none"
        return team if team in self.teams else "other"

    def agent(self, agent_id: str | None) -> str:
        if not agent_id:
            return "unknown"
        if "@" in agent_id or PHONE_LIKE.search(agent_id) or not SAFE_ID.match(agent_id):
            return "other"
        if agent_id not in self._agents:
            if len(self._agents) >= MAX_AGENT_LABELS:
                return "other"
            self._agents.add(agent_id)
        return agent_id


LABELS = Labels()


def observe_promise(record: PromiseRecord) -> None:
    # The agent's id, never their name (an agent without an id counts as "unknown");
    # a promise without a team as "none"; both from bounded sets (Labels).
    team = LABELS.team(record.team)
    PROMISES.labels(team, LABELS.agent(record.agent_id), record.status).inc()
    if record.status in ("kept", "kept_late") and record.settled_at is not None:
        LATENESS.labels(team).observe(max(0.0, (record.settled_at - record.due_at).total_seconds()))
