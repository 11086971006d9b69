"""Hostile and careless input: every record either parses or is refused with one documented
error (InvalidEvent) and a reason; valid events never make the policy or rendering raise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heard.streams.base.redaction import redact
from heard.streams.cli import main
from heard.streams.content.rendering import Renderer
from heard.streams.contract import stories
from heard.streams.contract.records import EARLIEST, LATEST, InvalidEvent, clean_text, parse_event
from heard.streams.contract.state import TicketState
from heard.streams.policy.decide import decide
from tests.peers import REPO
from tests.unit.test_policy import RULES

RESOLVED_AT_9999 = {**stories.resolved("T-1", stories.T0), "occurred_at": "9999-12-31T23:59:59Z"}
HOSTILE: dict[str, tuple[bytes, str]] = {
    "nested 10,000 deep": (
        b'{"type":"ticket.created","x":' + b"[" * 10000 + b"]" * 10000 + b"}",
        "nested deeper than 16 levels",
    ),
    "nested 17 deep": (
        json.dumps({**stories.created("T-1"), "x": [[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}).encode(),
        "nested deeper than 16 levels",
    ),
    "an integer of 5,000 digits": (
        b'{"type":"ticket.created","urgent":' + b"9" * 5000 + b"}",
        "a number of more than 4300 digits",
    ),
    "year 1 east of UTC": (
        stories.dumps({**stories.created("T-1"), "occurred_at": "0001-01-01T00:00:00+01:00"}),
        "occurred_at: Value error, outside the accepted window 1970-01-01",
    ),
    "year 9999 west of UTC": (
        stories.dumps({**stories.created("T-1"), "occurred_at": "9999-12-31T23:59:59-01:00"}),
        "occurred_at: Value error, outside the accepted window",
    ),
    "resolved in 9999": (stories.dumps(RESOLVED_AT_9999), "outside the accepted window"),
    "a milestone due in 9999 in Kiritimati": (
        stories.dumps(
            stories.created(
                "T-1", next_milestone={"text": "A courier update", "due_at": "9999-12-31T23:00:00+14:00"}
            )
        ),
        "next_milestone.due_at: Value error, outside the accepted window",
    ),
    "NUL in an email address": (
        stories.dumps(stories.created("T-1", customer=stories.customer(email="a\u0000@example.net"))),
        "customer.email: Value error, not an email address",
    ),
    "invalid UTF-8": (b'{"type":"ticket.created","id":"\xff"}', "not JSON: 'utf-8' codec"),
    "a name of nothing but a bidi override": (
        stories.dumps(stories.created("T-1", customer=stories.customer(name="\u202e"))),
        "customer.name: Value error, nothing readable is left",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_records_are_refused_with_their_reason(case: str) -> None:
    raw, reason = HOSTILE[case]
    with pytest.raises(InvalidEvent) as refused:
        parse_event(raw)
    assert reason in str(refused.value)


def test_names_and_texts_lose_control_and_reordering_characters_but_keep_their_letters() -> None:
    event = parse_event(
        stories.dumps(
            stories.created(
                "T-1",
                subject="Invoice \u202efdp.exe\u200b",
                customer=stories.customer(
                    name="Nul\x00Bel\x07Esc\x1bDel\x7f \u2066Zoë\u2069",
                    preferred_name="\ufeffZoë",
                    pronouns="she/\u200eher",
                ),
            )
        )
    )
    assert event.subject == "Invoice fdp.exe"
    assert event.customer.name == "NulBelEscDel Zoë"
    assert event.customer.preferred_name == "Zoë"
    assert event.customer.pronouns == "she/her"
    # Zero-width (non-)joiners are spelling in Persian and Indic scripts: kept.
    assert clean_text("Mehr\u200cnaz") == "Mehr\u200cnaz"


def test_the_accepted_window_includes_its_edges() -> None:
    for moment in ("1970-01-01T00:00:00Z", "2199-12-31T23:59:59Z", "1970-01-01T01:00:00+01:00"):
        assert parse_event(stories.dumps({**stories.created("T-1"), "occurred_at": moment}))
    with pytest.raises(InvalidEvent):
        parse_event(stories.dumps({**stories.created("T-1"), "occurred_at": "1969-12-31T23:59:59Z"}))


def test_addresses_and_numbers_are_redacted_from_operational_text() -> None:
    said = redact(
        "SMTP 550 5.1.1 <ana.o'neil@example.com>: no such user; "
        "The 'To' number +1 500 555 0009 is not valid; at 2026-11-29 10:00:00"
    )
    assert "example.com" not in said and "555" not in said
    assert said.endswith("at 2026-11-29 10:00:00")


def test_the_cli_names_each_bad_line_and_never_shows_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [stories.dumps(stories.created("T-ok")), *(raw for raw, _ in HOSTILE.values())]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["events", "validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == f"1 valid, {len(HOSTILE)} invalid"
    for number, (_, reason) in enumerate(HOSTILE.values(), start=2):
        assert f"{path}:{number}: " in err and reason in err
    assert "Traceback" not in err


# ------------------------------------------------------------------ property-based fuzzing
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


def parses_or_refuses(raw: bytes | str) -> None:
    try:
        parse_event(raw)
    except InvalidEvent as exc:
        assert str(exc)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_parse_or_are_refused(raw: bytes) -> None:
    parses_or_refuses(raw)


@FUZZ
@given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6))
def test_arbitrary_json_objects_parse_or_are_refused(document: dict[str, Any]) -> None:
    parses_or_refuses(json.dumps(document))


EVENT_FIELDS = (
    "occurred_at",
    "customer",
    "subject",
    "urgent",
    "agent",
    "next_milestone",
    "summary",
    "due_at",
    "what",
    "public",
    "to_status",
    "ticket_id",
    "id",
)


@FUZZ
@given(st.sampled_from(["created", "resolved", "promise"]), st.sampled_from(EVENT_FIELDS), JSON_VALUES)
def test_an_event_with_any_one_field_replaced_parses_or_is_refused(kind: str, field: str, value: Any) -> None:
    base = {
        "created": stories.created("T-1"),
        "resolved": stories.resolved("T-1", stories.T0),
        "promise": stories.event(
            "ticket.checkpoint_promised",
            "T-1",
            stories.T0,
            promise_id="p1",
            agent=stories.AGENT,
            due_at=stories.iso(stories.T0),
            what="an update",
        ),
    }[kind]
    parses_or_refuses(json.dumps({**base, field: value}))


# Each way an event can be wrong, and the start of the reason it must be refused with: the
# generator breaks one thing in a valid event and the test asserts the refusal names it (an
# event wrongly accepted fails, as does a refusal for some other reason).
BOOLEAN_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"}
NOT_BOOLEAN = st.text(max_size=8).filter(lambda s: s.strip().lower() not in BOOLEAN_WORDS)
BREAKERS: dict[str, tuple[st.SearchStrategy[Any], str]] = {
    "id": (st.just(None), "id: Field required"),
    "ticket_id": (st.just(None), "ticket_id: Field required"),
    "occurred_at": (
        st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(
            lambda moment: moment.isoformat()
        ),
        "occurred_at: Input should have timezone info",
    ),
    "type": (
        st.text(min_size=1, max_size=20).filter(lambda s: not s.startswith(("ticket.", "heard."))),
        "unknown event type",
    ),
    "urgent": (NOT_BOOLEAN, "urgent: Input should be a valid boolean"),
    "customer.email": (
        st.text(alphabet="abc .-", min_size=1, max_size=12),
        "customer.email:",
    ),
    "customer.language": (st.from_regex(r"[0-9!? ]{1,6}", fullmatch=True), "customer.language:"),
    "customer.timezone": (
        st.from_regex(r"Mars/[A-Z][a-z]{2,8}", fullmatch=True),
        "customer.timezone: Value error, unknown IANA timezone",
    ),
    "customer.phone": (st.from_regex(r"[1-9][0-9]{6,12}", fullmatch=True), "customer.phone:"),
    "customer.preferred_channel": (
        st.sampled_from(["fax", "pigeon", "EMAIL"]),
        "customer.preferred_channel:",
    ),
    "an unknown field": (st.from_regex(r"x_[a-z]{1,8}", fullmatch=True), ": Extra inputs are not permitted"),
}


def broken(field: str, value: Any) -> tuple[dict[str, Any], str]:
    """A valid `ticket.created` with `field` set to `value` (None: left out)."""
    event = stories.created("T-1")
    if field == "an unknown field":
        return {**event, value: "surprise"}, f"{value}: Extra inputs are not permitted"
    expected = BREAKERS[field][1]
    target, _, leaf = field.rpartition(".")
    holder = event[target] if target else event
    if value is None:
        holder.pop(leaf)
    else:
        holder[leaf] = value
    return event, expected


@FUZZ
@given(st.sampled_from(sorted(BREAKERS)).flatmap(lambda f: st.tuples(st.just(f), BREAKERS[f][0])))
def test_an_event_broken_in_one_known_way_is_refused_for_that_reason(case: tuple[str, Any]) -> None:
    event, expected = broken(*case)
    with pytest.raises(InvalidEvent) as refused:
        parse_event(json.dumps(event))
    assert expected in str(refused.value)


# Valid events at any moment the contract accepts, in any zone, with any readable text.
LAST_ACCEPTED = LATEST - timedelta(seconds=1)
# The window's edges, where derived times (grace periods, ladders, zones) could overflow,
# are drawn far more often than a uniform draw would reach them.
MOMENTS = st.sampled_from([EARLIEST, LAST_ACCEPTED, LAST_ACCEPTED - timedelta(hours=20)]) | st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=LAST_ACCEPTED.replace(tzinfo=None),
    timezones=st.just(UTC),
)
ZONES = st.sampled_from(
    [
        "UTC",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Europe/London",
        "Australia/Lord_Howe",
    ]
)


def readable(text: str) -> bool:
    try:
        return bool(clean_text(text.strip()))
    except ValueError:
        return False


TEXT = st.text(min_size=1, max_size=60).filter(readable)


@st.composite
def ticket_stories(draw: st.DrawFn) -> list[dict[str, Any]]:
    zone = draw(ZONES)
    language = draw(st.sampled_from(["en", "es", "fr", "de", "ja"]))
    customer = stories.customer(
        name=draw(TEXT),
        preferred_name=draw(TEXT),
        timezone=zone,
        language=language,
        quiet_hours=draw(st.none() | st.just({"start": "21:00", "end": "08:00"})),
    )
    start = draw(MOMENTS)
    events: list[dict[str, Any]] = [
        stories.created("T-1", start, customer=customer, subject=draw(TEXT), urgent=draw(st.booleans()))
    ]
    later = start
    for n in range(draw(st.integers(0, 6))):
        later = min(later + timedelta(minutes=draw(st.integers(0, 600))), LAST_ACCEPTED)
        due = min(later + timedelta(hours=draw(st.integers(0, 72))), LAST_ACCEPTED)
        events.append(
            draw(
                st.sampled_from(
                    [
                        stories.reply(
                            "T-1",
                            later,
                            eid=f"r{n}",
                            milestone={"text": "Progress"},
                            next_milestone={"text": "Next", "due_at": stories.iso(due)},
                        ),
                        stories.event(
                            "ticket.checkpoint_promised",
                            "T-1",
                            later,
                            eid=f"p{n}",
                            promise_id=f"p{n % 2}",
                            agent=stories.AGENT,
                            due_at=stories.iso(due),
                            what="an update on the refund",
                        ),
                        stories.event("ticket.customer_message", "T-1", later, eid=f"m{n}"),
                        stories.resolved("T-1", later, eid=f"s{n}"),
                        stories.event("ticket.reopened", "T-1", later, eid=f"o{n}"),
                        stories.event("ticket.closed", "T-1", later, eid=f"c{n}"),
                    ]
                )
            )
        )
    return events


@FUZZ
@given(ticket_stories(), st.lists(st.integers(0, 10**7), max_size=4))
def test_valid_stories_never_make_the_policy_or_the_templates_raise(
    events: list[dict[str, Any]], ticks: list[int]
) -> None:
    renderer = Renderer(REPO / "templates")
    state: TicketState | None = None
    last = datetime(1970, 1, 1, tzinfo=UTC)
    notifications = []
    for raw in events:
        event = parse_event(stories.dumps(raw))
        last = max(last, event.occurred_at)
        outcome = decide(state, event, event.occurred_at, RULES)
        state = outcome.state
        notifications += outcome.notifications
    assert state is not None
    for seconds in ticks:
        due = state.next_due()
        at = min(due if due is not None else last + timedelta(seconds=seconds), LAST_ACCEPTED)
        timer = parse_event(
            stories.dumps(
                stories.event("heard.timer_due", "T-1", at, eid=f"tick-{seconds}", due_at=stories.iso(at))
            ),
            internal=True,
        )
        outcome = decide(state, timer, at, RULES)
        state = outcome.state
        notifications += outcome.notifications
    for n in notifications:
        rendered = renderer.render(
            n.kind, n.channel, n.locale, n.timezone, n.context, plain_text_only=n.plain_text_only
        )
        assert rendered.text.strip()


def test_the_published_json_schemas_are_the_models_own() -> None:
    """docs/schemas/ is what producers validate against: it must say what the worker accepts
    (regenerate with `python -m heard.streams.contract.records docs/schemas`)."""
    from heard.streams.contract.records import json_schemas

    for name, schema in json_schemas().items():
        published = json.loads((REPO / "docs" / "schemas" / f"{name}.v1.json").read_text())
        assert published == schema, f"docs/schemas/{name}.v1.json is out of date"


def test_logs_redact_addresses_and_numbers_in_messages_arguments_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging
    import logging.config

    from heard.streams.base.logs import logging_config

    logging.config.dictConfig(logging_config("info", "json"))
    log = logging.getLogger("heard.test")
    log.warning("SMTP refused %s: %s", "<ana@example.com>", "550 no such user")
    try:
        raise ValueError("The 'To' number +15005550009 is not valid")
    except ValueError:
        log.exception("send failed for amara@example.net")
    err = capsys.readouterr().err
    entries = [json.loads(line) for line in err.splitlines()]
    assert [entry["level"] for entry in entries] == ["WARNING", "ERROR"]
    assert "example.com" not in err and "example.net" not in err and "5550009" not in err
    assert entries[0]["message"] == "SMTP refused <<email>>: 550 no such user"
    logging.config.dictConfig(logging_config("warning", "text"))


# ------------------------------------------------------------------ found by an attack pass
@pytest.mark.parametrize("zone", ["US", "Europe", "Etc", "America/" + "x" * 300])
def test_a_zone_that_is_a_folder_or_too_long_is_refused_not_a_crash(zone: str) -> None:
    with pytest.raises(InvalidEvent, match="unknown IANA timezone"):
        parse_event(stories.dumps(stories.created("T-1", customer=stories.customer(timezone=zone))))


@pytest.mark.parametrize(
    ("address", "accepted"),
    [
        ("x@bücher.example", "x@xn--bcher-kva.example"),  # IDN domains go out in punycode
        ("amara@example.net", "amara@example.net"),
    ],
)
def test_addresses_are_what_an_smtp_server_takes(address: str, accepted: str) -> None:
    event = parse_event(stories.dumps(stories.created("T-1", customer=stories.customer(email=address))))
    assert event.customer.email == accepted


@pytest.mark.parametrize(
    "address",
    ["josé@example.com", "Bcc:x@example.net", "x(y)@example.net", "a\u200d@example.com", "x@[127.0.0.1]"],
)
def test_addresses_no_smtp_server_takes_are_refused(address: str) -> None:
    with pytest.raises(InvalidEvent, match=r"customer\.email"):
        parse_event(stories.dumps(stories.created("T-1", customer=stories.customer(email=address))))


def test_names_are_one_line_and_lose_every_invisible_mark() -> None:
    event = parse_event(
        stories.dumps(
            stories.created(
                "T-1",
                customer=stories.customer(name="Am\r\nX-Inj: 1", preferred_name="\u061cZo\u3164ë\u180e"),
            )
        )
    )
    assert event.customer.name == "Am X-Inj: 1"
    assert event.customer.preferred_name == "Zoë"


def test_reasons_that_quote_a_senders_value_cannot_forge_a_log_line() -> None:
    assert redact("repo evil\nWARNING forged\u202e") == "repo evil\\nWARNING forged\\u202e"


def test_a_subject_with_a_thousand_character_word_still_sends() -> None:
    from heard.channels.mime import text_header
    from heard.streams.content.rendering import Renderer

    created = parse_event(
        stories.dumps(stories.created("T-1", urgent=True, subject="https://example.com/" + "a" * 1000))
    )
    [note] = decide(None, created, created.occurred_at, RULES).notifications
    rendered = Renderer(REPO / "templates").render(note.kind, "email", "en", "UTC", note.context)
    assert rendered.subject is not None and len(rendered.subject) <= 200
    assert rendered.subject.endswith("…")
    assert text_header("Subject", rendered.subject)  # within the 998-character line limit
