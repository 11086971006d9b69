"""Configuration: YAML files in `config/` validated into frozen typed models.

Values may reference environment variables as `${NAME}` or `${NAME:-default}`,
so the same files serve the local stack, docker-compose and production. Secrets
are never values: config names the environment variable that holds them.
Any problem stops start-up with the file and the key path.
"""

from __future__ import annotations

import os
import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from heard.streams.base.zones import known_timezone

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Bad configuration: the message names the file and the key path."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- engine.yaml
class TopicNames(Frozen):
    ticket_events: str = "ticket-events"
    timers: str = "heard-timers"
    outbound: str = "notifications-outbound"
    notification_events: str = "notification-events"
    decisions: str = "heard-decisions"
    dead_letters: str = "heard-dead-letters"
    consent: str = "heard-consent"
    sms_status: str = "heard-sms-status"
    sms_inbound: str = "heard-sms-inbound"
    # Mail providers' bounces, complaints and unsubscribes about heard's emails, by ticket.
    mail_events: str = "heard-mail-events"
    promises: str = "heard-promises"
    # Customers' answers (choices, feedback): for help desks and `heard report feedback`.
    replies: str = "heard-replies"
    # The published template versions and which one workers render with (compacted).
    templates: str = "heard-templates"
    retry: str = "notifications-retry"


class WebSettings(Frozen):
    """Two listeners: the public one serves only what the internet must reach (Twilio's
    callbacks); the ops one serves /metrics, /livez and /readyz and stays internal."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(6066, ge=1, le=65535)
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(6067, ge=1, le=65535)
    # The public listener's bounds (docs/operations.md, "Listeners under attack"): a request's
    # headers must arrive within header_seconds, the whole request within request_seconds,
    # and at most max_connections are open at once. The ops listener has its own, smaller set,
    # so /readyz answers while the public one is full.
    header_seconds: float = Field(10.0, gt=0, le=300)
    request_seconds: float = Field(20.0, gt=0, le=600)
    max_connections: int = Field(256, ge=1, le=100_000)


class KafkaSecurity(Frozen):
    """How heard authenticates to Kafka: TLS (CA, optional client certificate) and SASL
    (PLAIN or SCRAM). Secrets are named environment variables, never values."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    username_env: str | None = None
    password_env: str | None = None
    ca_file: str | None = Field(None, description="PEM CA bundle; the system's when unset")
    cert_file: str | None = Field(None, description="PEM client certificate (mutual TLS)")
    key_file: str | None = None
    check_hostname: bool = True

    @field_validator("sasl_mechanism", "ca_file", "cert_file", "key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `${VAR:-}` in the YAML gives "" for an unset variable: the same as not set.
        return None if value == "" else value

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecurity:
        if self.protocol.startswith("SASL"):
            missing = [
                name
                for name, value in (
                    ("sasl_mechanism", self.sasl_mechanism),
                    ("username_env", self.username_env),
                    ("password_env", self.password_env),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"{self.protocol} needs {', '.join(missing)}")
        elif self.sasl_mechanism:
            raise ValueError(
                f"sasl_mechanism is set but protocol is {self.protocol}; use SASL_SSL or SASL_PLAINTEXT"
            )
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS)")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


class EngineSettings(Frozen):
    app_id: str = "heard"
    bootstrap_servers: str = "127.0.0.1:9092"
    security: KafkaSecurity = KafkaSecurity()
    topic_prefix: str = ""
    partitions: int = Field(4, ge=1, le=1024)
    # Copies of each topic heard creates (its changelogs too): `cluster` takes the brokers'
    # own default.replication.factor; never 1 on a cluster of more than one broker.
    replication_factor: Annotated[int, Field(ge=1)] | Literal["cluster"] = "cluster"
    # How long start-up and the command line ask Kafka again through a broker failover
    # (no leader yet, a node not ready) before they stop with "Kafka unreachable".
    kafka_wait_seconds: float = Field(60.0, gt=0, le=3600)
    # How long heard's own topics keep records (decisions, outcomes, dead letters, outbox),
    # set when heard creates them; compacted topics (consent) keep the latest per key.
    topic_retention_days: float = Field(30, gt=0)
    topics: TopicNames = TopicNames()
    store: str = "memory://"
    data_dir: str = ".heard/data"
    web: WebSettings = WebSettings()
    # Teams named in metrics' labels, besides those config already names (team calendars and
    # the team's routes); any other team an event carries counts as "other".
    metric_teams: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=200
    )
    sweep_interval_seconds: float = Field(0.5, gt=0, le=60)
    # How often the worker reads its group's consumer lag from the broker (heard_consumer_lag).
    lag_interval_seconds: float = Field(15, gt=0, le=3600)
    session_timeout_seconds: float = Field(10.0, gt=0)
    heartbeat_interval_seconds: float = Field(3.0, gt=0)
    templates_dir: str = "templates"
    default_locale: str = "en"
    max_event_bytes: int = Field(65536, ge=1024)
    # An event dated further ahead than this is a producer's clock gone wrong; it would hold
    # back every message of its ticket, so it is a dead letter.
    max_event_future_seconds: float = Field(300, gt=0)
    delivery_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="messages one worker sends at once; a SIGKILL can "
        "duplicate at most this many (those accepted by the provider, receipt not committed)",
    )

    batch_max_records: int = Field(
        500,
        ge=1,
        le=100_000,
        description="ticket events the lifecycle agent decides at once; "
        "each ticket a batch changed has its state written once",
    )
    decision_records: Literal["line", "per_event"] = Field(
        "per_event",
        description="heard-decisions: one record per event with its lines (two records fewer "
        "per acknowledgment), or one per decision line (what releases before 2026-12-07 read; "
        "every release since reads both: keep `line` while an older `heard explain` or report "
        "reads the topic)",
    )
    table_values: Literal["json", "text"] = Field(
        "json",
        description="how the text tables (tickets, receipts, SMS statuses and questions) are "
        "written to their changelogs: `json` (each value as a JSON string, as releases before "
        "this one wrote them) or `text` (the value itself: one encoding less per write). This "
        "release reads both: switch once every worker runs it (docs/operations.md)",
    )
    batch_wait_ms: float = Field(
        5,
        ge=0,
        le=1000,
        description="the longest a ticket event waits for its batch to fill "
        "(added to a message's latency when traffic is light)",
    )

    state_cache_size: int = Field(
        2000,
        ge=0,
        le=1_000_000,
        description="decoded ticket states kept in memory between "
        "events (0 decodes every event's state from the table)",
    )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{getattr(self.topics, name)}"

    @property
    def group_id(self) -> str:
        """The workers' consumer group, and the start of every table's changelog topic
        (`<group_id>-tickets-changelog`): prefixed like every other topic, so two
        deployments on one cluster (two prefixes) share nothing."""
        return f"{self.topic_prefix}{self.app_id}"

    def changelog(self, table: str) -> str:
        return f"{self.group_id}-{table}-changelog"

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value not in ("memory://", "rocksdb://"):
            raise ValueError("store must be memory:// or rocksdb://")
        return value


# -------------------------------------------------------------- channels.yaml
# Each channel's own section is typed by its plug-in (heard.streams.delivery.config).
class RetrySettings(Frozen):
    attempts: int = Field(3, ge=1, le=10)
    initial_seconds: float = Field(0.2, gt=0)
    max_seconds: float = Field(2.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0)
    deferred_seconds: list[float] = Field(
        [30, 300, 1800],
        description="after the quick retries fail, try again after each of these waits "
        "(one retry topic per wait, so a short wait never queues behind a long one)",
    )

    @field_validator("deferred_seconds")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value):
            raise ValueError("every wait must be more than 0 seconds")
        return value


CUSTOMER_CHANNELS = ("email", "sms")


# ---------------------------------------------------------------- policy.yaml
class QuietHours(Frozen):
    start: time
    end: time


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORK_WEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class TeamCalendar(Frozen):
    """A team's own working week, hours and holidays, for promises that name it."""

    working_days: list[Weekday] = Field(default_factory=lambda: list(WORK_WEEK), min_length=1)
    holidays: list[date] = Field(default_factory=list)
    hours_start: time = time(9, 0)
    hours_end: time = time(18, 0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)


class PolicySettings(Frozen):
    acknowledgment_hold_seconds: float = Field(
        60, ge=0, description="wait this long for a real agent reply before acknowledging"
    )
    first_response_target_hours: float = Field(4, gt=0)
    # A closed ticket's state (the customer's name, addresses, summaries) is erased this long
    # after it was closed; a reopen before then keeps it.
    closed_ticket_retention_days: float = Field(30, gt=0)
    # After this many changes of team, the next customer update acknowledges the handovers
    # and names who now owns the request (once).
    transfers_before_acknowledging: int = Field(2, ge=1)
    # Urgent tickets are promised a first reply sooner; both count team working time only.
    urgent_first_response_target_minutes: float = Field(30, gt=0)
    coalesce_window_seconds: float = Field(600, ge=0)
    closure_grace_seconds: float = Field(900, ge=0)
    milestone_statuses: list[str] = ["pending_customer", "on_hold", "in_progress", "escalated"]
    default_quiet_hours: QuietHours | None = None
    default_timezone: str = "UTC"
    fallback_to_other_channel: bool = True
    # The team's calendar: the days it works and the dates it does not (in team_timezone).
    team_working_days: list[Weekday] = Field(default_factory=lambda: list(WORK_WEEK), min_length=1)
    team_holidays: list[date] = Field(default_factory=list)
    team_hours_start: time = time(9, 0)
    team_hours_end: time = time(18, 0)
    team_timezone: str = "UTC"
    nudge_lead_seconds: float = Field(1800, ge=0)
    # Other teams' calendars, by name: a promise with `team_calendar: NAME` is checked against
    # that team's hours (the agent is nudged at once if it falls outside them).
    team_calendars: dict[str, TeamCalendar] = Field(default_factory=dict)
    # A holding update tells the customer when they will hear from us next: this much team
    # working time later. heard keeps that time like any promise (the lead is told and the
    # customer hears again if nothing real has gone out), at most this many times in a row.
    # An agent's first promise on a ticket is told to the customer ("Aisha will update you
    # by 3 pm"); off when the help desk's own reply already says it.
    announce_first_promise: bool = True
    holding_interval_minutes: float = Field(120, gt=0)
    # An urgent ticket's holding update names a nearer next time (team time too).
    urgent_holding_interval_minutes: float = Field(30, gt=0)
    holding_updates_in_a_row: int = Field(3, ge=1)

    @field_validator("default_timezone", "team_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)


# ------------------------------------------------------------- connectors.yaml
CUSTOMER_FIELD_KEYS = (
    "preferred_name",
    "pronouns",
    "language",
    "timezone",
    "preferred_channel",
    "phone",
    "email",
    "sms_consent",
)
SUMMARY_PARTS = ("what_happened", "what_changed", "prevention")


class SourceSettings(Frozen):
    enabled: bool = True
    secret_env: str | None = Field(None, description="variable holding the signing secret")
    username_env: str | None = None
    password_env: str | None = None
    ticket_prefix: str = Field("", pattern=r"^[A-Za-z0-9._:#-]*$")
    milestone_prefix: str | None = "Milestone:"
    milestone_tag: str | None = "milestone"
    statuses: dict[str, str] = Field(
        default_factory=dict,
        description="vendor status -> resolved | closed | reopened "
        "| a status name customers may be told about",
    )
    summary_fields: dict[str, str] = Field(default_factory=dict)
    customer_fields: dict[str, str] = Field(default_factory=dict)
    max_clock_skew_seconds: float = Field(300, gt=0)

    @field_validator("summary_fields")
    @classmethod
    def _summary_parts(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(SUMMARY_PARTS)
        if unknown:
            raise ValueError(f"unknown summary part(s) {sorted(unknown)}; use {SUMMARY_PARTS}")
        return value

    @field_validator("customer_fields")
    @classmethod
    def _customer_keys(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(CUSTOMER_FIELD_KEYS)
        if unknown:
            raise ValueError(f"unknown customer field(s) {sorted(unknown)}; use {CUSTOMER_FIELD_KEYS}")
        return value


class WritebackSettings(Frozen):
    """Internal notes on the help desk's tickets: what heard sent each customer, what they
    chose and how they rated the help (docs/connectors.md, "Write-back")."""

    helpdesk: Literal["zendesk", "jira", "freshdesk", "intercom", "front"]
    # The help desk's API origin, e.g. https://acme.zendesk.com or https://acme.atlassian.net.
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    # Variables holding the API user (Zendesk: the agent's email; Jira: the account's email;
    # Intercom: the admin id notes are written as; Freshdesk and Front need none) and its token.
    user_env: str | None = None
    token_env: str
    # Lines for one ticket within this long become one note (a burst is one note).
    batch_seconds: float = Field(5.0, gt=0, le=300)
    attempts: int = Field(4, ge=1, le=10)
    # The team's language for the notes; times are on the team's clock (policy.team_timezone).
    language: Literal["en", "es", "fr", "de"] = "en"


class ConnectorSettings(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)
    # Ingest's own ops listener (/metrics, /livez, /readyz): internal, never behind the proxy.
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(8091, ge=1, le=65535)
    max_body_bytes: int = Field(262144, ge=1024)
    # Phone numbers help desks export without a country code are read in this region.
    default_region: str = Field("US", pattern=r"^[A-Z]{2}$")
    # A webhook gets 503 when Kafka has not acknowledged within this time (the vendor retries).
    kafka_timeout_seconds: float = Field(2.0, gt=0, le=30)
    # A client sending its body slower than this gets 408 and its connection back.
    body_timeout_seconds: float = Field(10.0, gt=0, le=120)
    # The webhook listener's bounds, as the worker's public listener (web.* in engine.yaml).
    header_seconds: float = Field(10.0, gt=0, le=300)
    max_connections: int = Field(256, ge=1, le=100_000)
    events_token_env: str | None = Field(
        "HEARD_EVENTS_TOKEN", description="variable holding the bearer token for POST /events"
    )
    sources: dict[Literal["zendesk", "freshdesk", "jira", "intercom", "front", "github"], SourceSettings] = (
        Field(default_factory=dict)
    )
    # Unset: heard writes nothing back.
    writeback: WritebackSettings | None = None


# ------------------------------------------------------------- feedback.yaml
class SignalPhrases(Frozen):
    """How one loyalty signal is said in one language. A phrase matches whole words; a word
    ending in `*` matches any ending (`listen*`: listened, listening)."""

    positive: list[Annotated[str, Field(min_length=2)]] = Field(default_factory=list)
    negative: list[Annotated[str, Field(min_length=2)]] = Field(default_factory=list)


class FeedbackSettings(Frozen):
    # The closure summary asks one question, answered by a number from 1 to 5.
    ask: bool = True
    # How long a question heard asked by SMS (options, the closure's rating) can be answered
    # by a text: after it, a digit is only a message.
    reply_window_days: float = Field(14, gt=0)
    # A score at most this (or words with a negative signal) is a low answer: the owner is
    # told with the words (and the lead, unless `low_tells_lead` is false), and the customer
    # gets a short reply in their language (unless `reply_to_low` is false). 0: none is low.
    low_score_at_most: int = Field(2, ge=0, le=5)
    low_tells_lead: bool = True
    reply_to_low: bool = True
    # Words that turn the positive phrase after them into its negative ("not listened to"),
    # per language, within `negation_window` words.
    negators: dict[str, list[str]] = Field(default_factory=dict)
    negation_window: int = Field(3, ge=0, le=6)
    # signal name -> language -> phrases. The report counts `name` and `not_name`.
    signals: dict[Annotated[str, Field(pattern=r"^[a-z][a-z_]*$")], dict[str, SignalPhrases]] = Field(
        default_factory=dict
    )


M = TypeVar("M", bound=Frozen)


def interpolate_env(value: Any, environ: dict[str, str]) -> Any:
    """Replace `${NAME}` / `${NAME:-default}` in every string of a parsed YAML tree."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise KeyError(name)

        return ENV_REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {key: interpolate_env(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate_env(item, environ) for item in value]
    return value


def load_file(path: Path, model: type[M], environ: dict[str, str] | None = None) -> M:
    env = dict(os.environ if environ is None else environ)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        data = interpolate_env(raw, env)
    except KeyError as exc:
        raise ConfigError(
            f"{path}: environment variable {exc.args[0]} is referenced but not set "
            "(give a default with ${NAME:-value})"
        ) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err["loc"], err["msg"]) for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc


def _problem(loc: tuple[Any, ...], msg: str) -> str:
    # A plug-in's section, or a check across keys, already names its own key path
    # (slack.webhooks: ..., team: ...).
    if (loc[-1:] == ("sections",) or not loc) and msg.startswith("Value error, "):
        return ".".join(str(part) for part in (*loc[:-1], msg.removeprefix("Value error, ")))
    return f"{'.'.join(str(part) for part in loc) or '(top)'}: {msg}"
