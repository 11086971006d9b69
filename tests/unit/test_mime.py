"""The wire writer, read back with the stdlib's strict modern parser."""

from __future__ import annotations

import email
import email.policy
from email.header import decode_header, make_header
from email.message import EmailMessage, MIMEPart

import pytest

from heard.channels.base import OutboundMessage, PermanentDeliveryError
from heard.channels.email_smtp import EmailSettings, build_email
from heard.channels.mime import (
    MimeError,
    _first_word_bytes,
    address_header,
    encoded_words,
    quoted_printable,
    text_header,
)

CONFIG = EmailSettings(
    host="127.0.0.1",
    port=25,
    from_address="support@example.com",
    from_name="Acme Support",
    reply_to="support+{ticket_id}@example.com",
    message_id_domain="mail.example.com",
)


def message(**overrides: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "notification_id": "5f0c1e2a-0000-4000-8000-000000000001",
        "ticket_id": "T-42",
        "to": "amara@example.net",
        "subject": "We have your message",
        "text": "Hi Amara,\n\nWe have it.\n",
        "html": "<p>Hi Amara,</p><p>We have it.</p>",
        "display_name": "Amara Okafor",
        "headers": {"X-Heard-Kind": "acknowledgment"},
    }
    fields.update(overrides)
    return OutboundMessage(**fields)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects, parsed.defects
    return parsed


def content(part: MIMEPart) -> str:
    """A part's decoded text with wire line ends back to Python's."""
    text = part.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n").rstrip("\n")


def wire_lines(raw: bytes) -> list[bytes]:
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF or CR on the wire"
    return raw.split(b"\r\n")


def test_multipart_alternative_round_trips_headers_and_bodies() -> None:
    raw = build_email(CONFIG, message())
    parsed = parse(raw)
    assert parsed["From"] == "Acme Support <support@example.com>"
    assert parsed["To"] == "Amara Okafor <amara@example.net>"
    assert parsed["Subject"] == "We have your message"
    # The ticket rides in the Message-ID (base64url of "T-42"): a bounce quoting it finds it.
    assert parsed["Message-ID"] == "<5f0c1e2a-0000-4000-8000-000000000001.VC00Mg@mail.example.com>"
    assert parsed["In-Reply-To"] == parsed["References"] == "<ticket-T-42@mail.example.com>"
    assert parsed["Reply-To"] == "support+T-42@example.com"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Heard-Kind"] == "acknowledgment"
    assert parsed["Date"].datetime is not None
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert content(text) == "Hi Amara,\n\nWe have it."
    assert content(html) == "<p>Hi Amara,</p><p>We have it.</p>"
    assert all(len(line) <= 78 for line in wire_lines(raw))


def test_plain_text_only_is_a_single_part() -> None:
    parsed = parse(build_email(CONFIG, message(html=None, text="Hola Lucía,\n\nYa lo tenemos.")))
    assert parsed.get_content_type() == "text/plain"
    assert not parsed.is_multipart()
    assert content(parsed) == "Hola Lucía,\n\nYa lo tenemos."


@pytest.mark.parametrize(
    "subject",
    [
        "Tu pedido está en camino — actualización 🎁",
        "Łukasz, " + "zażółć gęślą jaźń " * 12,
        "Plain but very long " * 12,
        "مرحبا \u202e evil",
    ],
)
def test_non_ascii_and_long_subjects_decode_exactly(subject: str) -> None:
    raw = build_email(CONFIG, message(subject=subject))
    assert parse(raw)["Subject"] == " ".join(subject.split())
    assert all(len(line) <= 78 for line in wire_lines(raw))


def test_display_names_are_quoted_or_encoded() -> None:
    parsed = parse(build_email(CONFIG, message(display_name='Amara "A." Okafor, Jr.')))
    assert parsed["To"].addresses[0].display_name == 'Amara "A." Okafor, Jr.'
    assert parsed["To"].addresses[0].addr_spec == "amara@example.net"
    short = parse(build_email(CONFIG, message(display_name="Zoë Ñúñez")))
    assert short["To"].addresses[0].display_name == "Zoë Ñúñez"
    # A long name spans several encoded words; RFC 2047 joins adjacent words without the
    # space between them (the stdlib's address parser keeps it, so decode the raw header).
    long_name = "Zoë Ñúñez-Łukaszewicz " * 3
    raw = build_email(CONFIG, message(display_name=long_name))
    to_header = raw.decode().split("\r\nTo:")[1].split("\r\nSubject:")[0]
    decoded = str(make_header(decode_header(to_header.replace("\r\n", ""))))
    assert decoded == " ".join(long_name.split()) + " <amara@example.net>"
    assert parse(raw)["To"].addresses[0].addr_spec == "amara@example.net"


def test_line_breaks_in_values_cannot_add_headers_or_recipients() -> None:
    raw = build_email(
        CONFIG,
        message(
            display_name="Eve\r\nBcc: victim@example.org", subject="Hi\r\nBcc: victim@example.org\n\nbody"
        ),
    )
    parsed = parse(raw)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["amara@example.net"]
    assert b"\r\nBcc:" not in raw


def test_bodies_keep_long_lines_trailing_spaces_and_leading_dots() -> None:
    body = "x" * 300 + "\n.leading dot\ntrailing space \nFrom here\n= sign\n\ttab"
    raw = build_email(CONFIG, message(text=body, html=None))
    assert all(len(line) <= 78 for line in wire_lines(raw))
    assert content(parse(raw)) == body


def test_boundary_cannot_occur_in_quoted_printable_bodies() -> None:
    hostile = "--=_heard_0 and ==== and =_"
    assert b"=_" not in quoted_printable(hostile)
    parsed = parse(build_email(CONFIG, message(text=hostile, html=hostile)))
    assert [content(p) for p in parsed.iter_parts()] == [hostile, hostile]


def test_encoded_words_never_split_a_character_or_exceed_75() -> None:
    words = encoded_words("🎁" * 40 + "ą" * 40)
    assert all(len(word) <= 75 for word in words)
    assert str(make_header(decode_header(" ".join(words)))) == ("🎁" * 40 + "ą" * 40)


@pytest.mark.parametrize("headers", [{"Bad Name": "x"}, {"X-Colon:": "x"}, {"": "x"}])
def test_invalid_header_names_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(PermanentDeliveryError, match="header name"):
        build_email(CONFIG, message(headers=headers))


def test_malformed_recipient_is_refused() -> None:
    with pytest.raises(PermanentDeliveryError, match="malformed email address"):
        build_email(CONFIG, message(to="amara@example.net\r\nBcc: x@example.org"))


def test_headers_fold_at_exactly_78_characters() -> None:
    word = "x" * (78 - len("Subject: ") - len(" ab"))
    fits = text_header("Subject", f"{word} ab")  # 78 characters: one line
    assert fits == f"Subject: {word} ab\r\n".encode() and len(fits) - 2 == 78
    folded = text_header("Subject", f"{word} abc")  # 79: the last word moves down
    assert folded == f"Subject: {word}\r\n abc\r\n".encode()


def test_a_header_line_may_be_998_characters_and_no_more() -> None:
    longest = "y" * (998 - len("Subject: "))
    assert len(text_header("Subject", longest)) == 998 + 2
    with pytest.raises(MimeError, match="the Subject header has a word longer than 998"):
        text_header("Subject", longest + "y")


def test_an_ascii_display_name_is_written_as_is() -> None:
    assert (
        address_header("To", "amara@example.net", "Amara Okafor")
        == b"To: Amara Okafor <amara@example.net>\r\n"
    )


def test_encoded_words_fill_to_their_byte_budget_exactly() -> None:
    assert len(encoded_words("é" * 22 + "a")) == 1  # 45 bytes: one word
    assert len(encoded_words("é" * 22 + "ab")) == 2  # 46 bytes: two
    assert _first_word_bytes("X-Heard1") == 42  # 78 - 8 - 2 - 12 = 56 -> 42


def test_body_lines_stay_lines_on_the_wire() -> None:
    assert quoted_printable("a\nb\tc") == b"a\r\nb\tc"


def test_the_teams_emails_never_answer_to_the_customers_ticket_address() -> None:
    config = CONFIG.model_copy(update={"team_reply_to": "team-desk@example.com"})
    for audience in ("agent", "lead"):
        nudge = parse(
            build_email(
                config,
                message(
                    audience=audience, to="sam@example.com", subject="[T-42] Your promised update is due"
                ),
            )
        )
        assert nudge["Reply-To"] == "team-desk@example.com"
        # The team's subjects are their own: no thread policy for them.
        assert nudge["Subject"] == "[T-42] Your promised update is due"
    silent = parse(build_email(CONFIG.model_copy(update={"team_reply_to": None}), message(audience="lead")))
    assert silent["Reply-To"] is None
    assert parse(build_email(config, message()))["Reply-To"] == "support+T-42@example.com"


def test_a_customers_emails_share_one_subject_and_thread_under_her_own_email() -> None:
    config = CONFIG.model_copy(update={"subject_policy": "thread"})
    first, latest = "<CAF-1@mail.example.net>", "<CAF-2@mail.example.net>"
    threaded = parse(
        build_email(config, message(thread_subject="My parcel is late", references=(first, latest)))
    )
    assert threaded["Subject"] == "Re: My parcel is late"
    assert threaded["In-Reply-To"] == latest
    assert threaded["References"] == f"{first} {latest} <ticket-T-42@mail.example.com>"
    again = parse(build_email(config, message(thread_subject="Re: My parcel is late")))
    assert again["Subject"] == "Re: My parcel is late"  # never "Re: Re:"
    own = parse(
        build_email(
            CONFIG.model_copy(update={"subject_policy": "per_kind"}),
            message(thread_subject="My parcel is late"),
        )
    )
    assert own["Subject"] == "We have your message"
