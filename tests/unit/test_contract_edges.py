"""The event contract at its exact edges: each limit one step inside and one step outside,
each character class the cleaner drops or keeps, and the schemas it publishes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from heard.streams.contract import stories
from heard.streams.contract.records import (
    Customer,
    InvalidEvent,
    clean_text,
    event_to_json,
    json_schemas,
    normalise_phone,
    parse_event,
    write_schemas,
)
from heard.streams.contract.stories import T0
from tests.peers import REPO


def created_at(moment: str) -> bytes:
    event = stories.created("T1")
    event["occurred_at"] = moment
    return stories.dumps(event)


@pytest.mark.parametrize(
    ("moment", "accepted"),
    [
        ("1969-12-31T20:00:00-05:00", True),  # 1970-01-01 01:00 UTC: a 1969 local date is fine
        ("1969-12-31T23:59:59+00:00", False),
        ("1970-01-01T00:00:00+00:00", True),
        ("2199-12-31T23:59:59+00:00", True),
        ("2200-01-01T00:30:00+01:00", True),  # a year-2200 local date still inside in UTC
        ("2200-01-01T00:00:00+00:00", False),
        ("2201-01-01T00:00:00+00:00", False),
    ],
)
def test_the_accepted_window_is_exact(moment: str, accepted: bool) -> None:
    if accepted:
        assert parse_event(created_at(moment)).occurred_at.tzinfo is not None
    else:
        with pytest.raises(InvalidEvent, match="outside the accepted window 1970-01-01 to 2200-01-01"):
            parse_event(created_at(moment))


def test_the_size_limit_is_exact() -> None:
    raw = stories.dumps(stories.created("T1"))
    assert parse_event(raw, max_bytes=len(raw)).ticket_id == "T1"
    with pytest.raises(InvalidEvent, match=f"event is {len(raw)} bytes; the limit is {len(raw) - 1}"):
        parse_event(raw, max_bytes=len(raw) - 1)
    # The default is 64 KiB exactly (JSON may carry whitespace to get there).
    padded = raw + b" " * (65536 - len(raw))
    assert parse_event(padded).ticket_id == "T1"
    with pytest.raises(InvalidEvent, match="event is 65537 bytes; the limit is 65536"):
        parse_event(padded + b" ")


@pytest.mark.parametrize(("depth", "accepted"), [(16, True), (17, False)])
def test_nesting_is_limited_at_sixteen_levels(depth: int, accepted: bool) -> None:
    nested: object = 1
    for _ in range(depth - 1):  # the event object itself is level 1
        nested = [nested]
    raw = json.dumps({**stories.created("T1"), "deep": nested}).encode()
    if accepted:
        with pytest.raises(InvalidEvent, match="deep: Extra inputs are not permitted"):
            parse_event(raw)
    else:
        with pytest.raises(InvalidEvent, match="JSON nested deeper than 16 levels"):
            parse_event(raw)


def test_only_a_json_object_is_an_event() -> None:
    for raw in (b"[1]", b'"text"', b"3"):
        with pytest.raises(InvalidEvent, match="an event must be a JSON object"):
            parse_event(raw)


def test_a_reason_names_the_field_not_the_event_type() -> None:
    event = stories.created("T1")
    del event["subject"]
    with pytest.raises(InvalidEvent) as caught:
        parse_event(stories.dumps(event))
    assert str(caught.value) == "subject: Field required"


@pytest.mark.parametrize(
    ("char", "kept"),
    [
        ("\t", True),
        ("\n", True),
        ("\r", True),
        ("\x00", False),
        ("\x08", False),
        ("\x0b", False),
        ("\x0c", False),
        ("\x0e", False),
        ("\x1f", False),
        ("\x7f", False),
        ("\x80", False),
        ("\x9f", False),
        ("\xa0", True),
        ("\u202e", False),
        ("\u200d", True),
    ],
)
def test_the_cleaner_drops_control_and_reordering_characters_only(char: str, kept: bool) -> None:
    assert clean_text(f"a{char}b") == (f"a{char}b" if kept else "ab")


def test_a_models_values_are_frozen_and_trimmed() -> None:
    customer = Customer(name="  Amara Okafor  ", language=" es ")
    assert (customer.name, customer.language) == ("Amara Okafor", "es")
    with pytest.raises(ValidationError):
        customer.name = "Someone else"  # type: ignore[misc]
    event = parse_event(stories.dumps(stories.created("T1")))
    with pytest.raises(ValidationError):
        event.ticket_id = "T2"


def test_events_are_written_with_the_schema_field_by_its_published_name() -> None:
    event = parse_event(stories.dumps(stories.created("T1")))
    written = json.loads(event_to_json(event))
    assert written["schema"] == "heard.event/v1" and "schema_" not in written
    assert parse_event(event_to_json(event)) == event


def test_an_address_or_phone_that_cannot_be_read_says_why() -> None:
    with pytest.raises(InvalidEvent, match="the domain is not a valid internationalised name"):
        parse_event(
            stories.dumps(
                stories.created("T1", customer=stories.customer(email="amara@" + "a" * 64 + ".example"))
            )
        )
    with pytest.raises(ValueError, match="not a phone number"):
        normalise_phone("call me maybe", "US")
    # A canonical event's number carries its country: "(415) 555-0123" is not guessed as
    # American; a connector reads it in the configured default region instead.
    with pytest.raises(
        InvalidEvent,
        match=r"customer\.phone: Value error, not in international "
        r"form: start it with \+ and the country code",
    ):
        parse_event(stories.dumps(stories.created("T1", customer=stories.customer(phone="(415) 555-0123"))))
    assert normalise_phone("(415) 555-0123", "US") == "+14155550123"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"


def test_feedback_may_be_a_score_or_words_alone() -> None:
    score = parse_event(stories.dumps(stories.event("ticket.feedback", "T1", T0, score=4)))
    words = parse_event(stories.dumps(stories.event("ticket.feedback", "T1", T0, text="Kind.")))
    assert (score.score, score.text, words.score, words.text) == (4, None, None, "Kind.")


def test_the_published_schemas_are_written_one_file_per_type(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)
    assert [p.name for p in written] == [f"{name}.v1.json" for name in json_schemas()]
    first = written[0].read_text(encoding="utf-8")
    assert first.endswith("}\n") and first.startswith('{\n  "')
    assert json.loads(first) == json_schemas()["ticket.created"]
    assert write_schemas(tmp_path / "new" / "folder")[0].exists()
    # As a command, into the folder it is given (docs/schemas by default).
    default = subprocess.run(
        [sys.executable, "-m", "heard.streams.contract.records"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "docs" / "schemas" / "ticket.created.v1.json").exists()
    out = subprocess.run(
        [sys.executable, "-m", "heard.streams.contract.records", str(tmp_path / "cli")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == str(tmp_path / "cli" / "ticket.created.v1.json")
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == sorted(p.name for p in written)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # A time without its zone is refused, never read as UTC.
        (
            stories.event("ticket.customer_message", "T1", stories.T0)
            | {"occurred_at": "2026-11-20T10:00:00"},
            "occurred_at: Input should have timezone info",
        ),
        (stories.created("T1", customer=stories.customer(phone="call me maybe")), "customer.phone:"),
        # An unknown field is refused inside nested objects too, not only at the top.
        (
            stories.created("T1", customer=stories.customer(favourite_colour="teal")),
            "customer.favourite_colour: Extra inputs are not permitted",
        ),
        (
            stories.reply("T1", stories.T0, milestone={"text": "Found it.", "colour": "teal"}),
            "milestone.colour: Extra inputs are not permitted",
        ),
    ],
)
def test_the_contract_refuses_what_it_cannot_read_through_parse_event(
    raw: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidEvent) as refused:
        parse_event(stories.dumps(raw))
    assert str(refused.value).startswith(reason), str(refused.value)


def test_an_explicit_null_for_an_optional_field_is_read_as_absent() -> None:
    event = parse_event(
        stories.dumps(stories.created("T1", customer=stories.customer(timezone=None, phone=None)))
    )
    customer = event.customer
    assert (customer.timezone, customer.phone) == (None, None)
