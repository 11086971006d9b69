"""What every help-desk connector shares: the activity model, signature helpers, and
the step from activity to canonical `heard.event/v1` events.

A connector reads one vendor's webhook (headers + raw body) and returns
`Activity` items in vendor-neutral terms; `to_events` turns them into canonical
events using the operator's mapping (config/connectors.yaml). Event ids derive
from what the vendor signed: its own event id inside the body, or a digest of the
signed body — never from an unsigned delivery header, which anyone replaying a
captured request could change. A vendor's retry therefore yields the same ids, and
the lifecycle agent's dedupe absorbs it even across ingest restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from heard.streams.base.settings import SourceSettings
from heard.streams.connectors.normalise import e164_phone, iana_zone, language_tag
from heard.streams.contract.records import MAX_NAME, MAX_TEXT, email_address

ActivityKind = Literal[
    "created",
    "customer_message",
    "agent_reply",
    "internal_note",
    "status",
    "assigned",
    "reopened",
    "closed",
    "ignored",
]


class Unmappable(ValueError):
    """A verified payload heard cannot turn into canonical events; it is dead-lettered."""


@dataclass
class Person:
    name: str
    email: str | None = None
    phone: str | None = None
    id: str | None = None


@dataclass
class Activity:
    kind: ActivityKind
    ticket: str
    at: datetime
    subject: str | None = None
    customer: Person | None = None
    agent: Person | None = None
    team: str | None = None
    body: str | None = None
    status: str | None = None
    tags: list[str] = field(default_factory=list)
    # The raw payload, for operator field mappings (dotted paths).
    payload: Mapping[str, Any] = field(default_factory=dict)
    why_ignored: str = ""


@dataclass(frozen=True)
class Request:
    headers: Mapping[str, str]
    body: bytes
    secret: str | None
    username: str | None = None
    password: str | None = None


class Connector(Protocol):
    name: str

    def authentic(self, request: Request) -> bool: ...

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str: ...

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]: ...


# ------------------------------------------------------------------ helpers
def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, digest).hexdigest()


def hmac_b64(secret: str, message: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, digest).digest()).decode()


def same(expected: str, given: str | None) -> bool:
    if given is None:
        return False
    try:
        return hmac.compare_digest(expected.encode(), given.encode())
    except UnicodeEncodeError:  # a header of bytes that are no text: not a signature
        return False


def hub_signature_valid(request: Request, header: str, digest: str = "sha256") -> bool:
    """The `X-Hub-Signature` family: `<digest>=<hex HMAC of the raw body>` (GitHub, Jira,
    Intercom all sign this way, with different headers and digests)."""
    if not request.secret:
        return False
    expected = f"{digest}=" + hmac_hex(request.secret, request.body, digest)
    return same(expected, request.headers.get(header))


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def dig(payload: Any, path: str) -> Any:
    """`a.b.0.c` into nested dicts and lists; None when any step is missing."""
    node = payload
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


def text(value: Any) -> str | None:
    """A stripped string, or None for empty values and unfilled `{{placeholders}}`."""
    if value is None:
        return None
    result = str(value).strip()
    if not result or (result.startswith("{{") and result.endswith("}}")):
        return None
    return result


def event_time(value: Any, where: str) -> datetime:
    """The moment an event happened, which every event needs: absent or unreadable is a
    dead letter naming the field, never a silent "now"."""
    missing = datetime.min.replace(tzinfo=UTC)
    moment = parse_time(value, missing)
    if moment is missing:
        raise Unmappable(
            f"{where}: no readable time ({value!r}); ISO 8601 or epoch seconds/milliseconds are read"
        )
    return moment


def parse_time(value: Any, fallback: datetime) -> datetime:
    """ISO 8601, or epoch seconds/milliseconds; the fallback when absent or unreadable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
        raw = text(value)
        if raw is None:
            return fallback
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return fallback
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------ canonical events
def to_events(
    activity: Activity,
    source: SourceSettings,
    source_name: str,
    delivery: str,
    index: int,
    region: str = "US",
) -> list[dict[str, Any]]:
    """Canonical events for one activity, following the operator's mapping."""
    if activity.kind == "ignored":
        return []
    ticket = f"{source.ticket_prefix}{activity.ticket}"
    base = {
        "schema": "heard.event/v1",
        "id": f"{source_name}:{delivery}:{index}",
        "occurred_at": activity.at.astimezone(UTC).isoformat(),
        "ticket_id": ticket,
        "source": source_name,
    }
    agent = _agent(activity)
    if activity.kind == "created":
        return [_created(activity, source, region, base, agent)]
    if activity.kind == "customer_message":
        return [
            {
                **base,
                "type": "ticket.customer_message",
                **({"excerpt": activity.body[:500]} if activity.body else {}),
            }
        ]
    if activity.kind in ("agent_reply", "internal_note"):
        reply: dict[str, Any] = {
            **base,
            "type": "ticket.agent_reply",
            "agent": agent or {"name": "Support"},
            "public": activity.kind == "agent_reply",
        }
        milestone = _milestone(activity, source)
        if milestone and activity.kind == "agent_reply":
            reply["milestone"] = {"text": milestone}
        return [reply]
    if activity.kind == "assigned":
        if agent is None:
            raise Unmappable("assignment without an assignee name")
        return [{**base, "type": "ticket.assigned", "agent": agent}]
    if activity.kind == "reopened":
        return [{**base, "type": "ticket.reopened"}]
    if activity.kind == "closed":
        return [{**base, "type": "ticket.closed"}]
    return _status_events(activity, source, base, agent)


def _created(
    activity: Activity,
    source: SourceSettings,
    region: str,
    base: dict[str, Any],
    agent: dict[str, Any] | None,
) -> dict[str, Any]:
    warnings: list[str] = []
    customer = _customer(activity, source, region, warnings)
    subject = fit(activity.subject or f"Request {activity.ticket}", MAX_TEXT, "subject", warnings)
    return {
        **base,
        "type": "ticket.created",
        "customer": customer,
        "subject": subject,
        **({"agent": agent} if agent else {}),
        **({"warnings": warnings} if warnings else {}),
    }


def _status_events(
    activity: Activity, source: SourceSettings, base: dict[str, Any], agent: dict[str, Any] | None
) -> list[dict[str, Any]]:
    vendor_status = (activity.status or "").strip().lower()
    if not vendor_status:
        raise Unmappable("status change without a status")
    meaning = source.statuses.get(vendor_status, vendor_status)
    if meaning == "resolved":
        summary = {part: text(dig(activity.payload, path)) for part, path in source.summary_fields.items()}
        missing = [part for part, value in summary.items() if value is None]
        if missing or not summary:
            raise Unmappable(
                f"ticket {activity.ticket} was {vendor_status} but the payload has no closure "
                f"summary ({', '.join(missing) or 'summary_fields not configured'}); map "
                "summary_fields in config/connectors.yaml"
            )
        return [
            {**base, "type": "ticket.resolved", "summary": summary, **({"agent": agent} if agent else {})}
        ]
    if meaning == "closed":
        return [{**base, "type": "ticket.closed"}]
    if meaning == "reopened":
        return [{**base, "type": "ticket.reopened"}]
    return [
        {
            **base,
            "type": "ticket.status_changed",
            "to_status": meaning,
            **({"note": activity.body[:500]} if activity.body else {}),
        }
    ]


def _agent(activity: Activity) -> dict[str, Any] | None:
    if activity.agent is None:
        return None
    agent: dict[str, Any] = {"name": activity.agent.name}
    if activity.agent.email:
        agent["email"] = activity.agent.email
    if activity.agent.id:
        agent["id"] = activity.agent.id
    if activity.team:
        agent["team"] = activity.team
    return agent


def _customer(activity: Activity, source: SourceSettings, region: str, warnings: list[str]) -> dict[str, Any]:
    person = activity.customer
    if person is None:
        raise Unmappable("a new ticket without a requester")
    customer: dict[str, Any] = {"name": fit(person.name, MAX_NAME, "customer.name", warnings)}
    if person.id:
        customer["id"] = person.id
    if person.email:
        customer["email"] = person.email
    if person.phone:
        customer["phone"] = person.phone
    # Warm data the vendor keeps in custom fields: the operator names the paths.
    for key, path in source.customer_fields.items():
        value = text(dig(activity.payload, path))
        if value is not None:
            customer[key] = value
    if "sms_consent" in customer:
        consent = customer.pop("sms_consent").lower() in ("true", "yes", "1")
        customer["consent"] = {"email": True, "sms": consent}
    if customer.get("preferred_name"):
        customer["preferred_name"] = fit(
            str(customer["preferred_name"]), MAX_NAME, "customer.preferred_name", warnings
        )
    _read_display_forms(customer, region, warnings)
    if not customer.get("email") and not customer.get("phone"):
        warnings.append(
            "customer: no email address or phone number, so heard cannot write "
            "to them; map one in the vendor's webhook body (docs/connectors.md)"
        )
    return customer


def _read_display_forms(customer: dict[str, Any], region: str, warnings: list[str]) -> None:
    """Display forms are read leniently; what still cannot be read is left out with a
    warning, so one bad optional field never costs the customer the acknowledgment."""
    readers: dict[str, Callable[[str], str]] = {
        "email": email_address,
        "phone": lambda value: e164_phone(value, region),
        "language": language_tag,
        "timezone": iana_zone,
    }
    for key, read in readers.items():
        if key in customer:
            try:
                customer[key] = read(str(customer[key]))
            except ValueError as exc:
                del customer[key]
                warnings.append(f"customer.{key}: {exc}")


def fit(value: str, limit: int, field: str, warnings: list[str]) -> str:
    """A text longer than the contract allows, cut at a word with a warning: a long name or
    subject must not cost the customer the acknowledgment."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1].rsplit(" ", 1)[0] or value[: limit - 1]
    warnings.append(f"{field}: cut to {limit} characters (it had {len(value)})")
    return cut + "…"


def _milestone(activity: Activity, source: SourceSettings) -> str | None:
    """A public reply counts as a milestone by tag, or by a first line starting with the prefix."""
    body = (activity.body or "").strip()
    first_line = body.splitlines()[0].strip() if body else ""
    prefix = source.milestone_prefix
    if prefix and first_line.lower().startswith(prefix.lower()):
        return first_line[len(prefix) :].strip(" :-") or None
    if source.milestone_tag and source.milestone_tag in activity.tags and first_line:
        return first_line[:300]
    return None
