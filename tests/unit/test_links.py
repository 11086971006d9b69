"""Signed answer links: what they carry, that an altered or expired one is refused, and
that only customer emails asking a question get them."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from heard.streams.contract.state import Notification
from heard.streams.contract.stories import T0
from heard.streams.delivery.config import ChannelSettings
from heard.streams.delivery.links import BadLink, LinkAnswer, ReplyLinks
from heard.streams.delivery.wiring import ConfigError, reply_links

LINKS = ReplyLinks("https://heard.example.com/", b"k" * 32, valid_days=30)
ANSWER = LinkAnswer("T1", "option", 2, "O1", "es", T0 + timedelta(days=30), "Take the newer one")


def test_a_link_reads_back_what_it_was_made_with() -> None:
    url = LINKS.url(ANSWER)
    assert url.startswith("https://heard.example.com/r/")
    assert LINKS.read(url.rsplit("/", 1)[1], T0) == ANSWER
    # A 128-bit signature: 22 characters of base64 without padding.
    assert len(url.rsplit(".", 1)[1]) == 22


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: ("e" if t[0] != "e" else "f") + t[1:],  # the payload
        lambda t: t.split(".")[0],  # no signature
        lambda t: "",
        lambda t: "!!!.???",
    ],
)
def test_an_altered_link_is_refused(alter) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadLink, match="not one heard made"):
        LINKS.read(alter(LINKS.token(ANSWER)), T0)


def test_a_link_signed_with_another_secret_or_expired_is_refused() -> None:
    other = ReplyLinks("https://heard.example.com", b"x" * 32, valid_days=30)
    with pytest.raises(BadLink, match="not one heard made"):
        LINKS.read(other.token(ANSWER), T0)
    with pytest.raises(BadLink, match="expired"):
        LINKS.read(LINKS.token(ANSWER), T0 + timedelta(days=31))


def notification(kind: str, channel: str = "email", **context: object) -> Notification:
    return Notification(
        notification_id="n1",
        ticket_id="T1",
        kind=kind,
        audience="customer",
        channel=channel,
        recipient="amara@example.net",
        locale="fr",
        timezone="Europe/Paris",
        trigger_event_id="e1",
        decided_at=T0,
        context=dict(context),
    )


def test_options_and_the_rating_get_a_link_each_by_email_only() -> None:
    offer = {
        "id": "O1",
        "options": [
            {"number": 1, "label": "Wait", "link": None},
            {"number": 2, "label": "Refund", "link": None},
        ],
    }
    context = LINKS.add_to(notification("options", offer=offer), T0)
    links = [option["link"] for option in context["offer"]["options"]]
    read = [LINKS.read(link.rsplit("/", 1)[1], T0) for link in links]
    assert [(a.value, a.offer_id, a.label, a.locale) for a in read] == [
        (1, "O1", "Wait", "fr"),
        (2, "O1", "Refund", "fr"),
    ]
    assert all(a.subject is None for a in read)  # a ticket without a subject
    about = {"id": "T1", "subject": "Colis " + "abîmé " * 40}
    closure = LINKS.add_to(
        notification("closure_summary", feedback={"scale": 5, "links": None}, ticket=about), T0
    )
    assert sorted(closure["feedback"]["links"]) == ["1", "2", "3", "4", "5"]
    four = LINKS.read(closure["feedback"]["links"]["4"].rsplit("/", 1)[1], T0)
    assert four.value == 4 and four.subject == about["subject"][:120]  # the page names the request
    by_text = notification("options", channel="sms", offer=offer)
    assert LINKS.add_to(by_text, T0) is by_text.context
    unasked = notification("closure_summary", feedback=None)
    assert LINKS.add_to(unasked, T0)["feedback"] is None


def test_links_need_a_public_address_and_a_long_enough_secret() -> None:
    public = ChannelSettings.model_validate({"sms": {"public_base_url": "https://h.example"}})
    assert reply_links(public, {}) is None
    strong = "kP3v9XzQ7mR2wL5tB8nC4jH6gF1dS0aY-links"
    assert reply_links(ChannelSettings(), {"HEARD_LINK_SECRET": strong}) is None
    assert reply_links(public, {"HEARD_LINK_SECRET": strong}) is not None
    with pytest.raises(ConfigError, match="HEARD_LINK_SECRET holds 8 characters; a secret needs at least 32"):
        reply_links(public, {"HEARD_LINK_SECRET": "s" * 8})
    with pytest.raises(ConfigError, match="HEARD_LINK_SECRET repeats 1 distinct characters"):
        reply_links(public, {"HEARD_LINK_SECRET": "s" * 40})
    with pytest.raises(ConfigError, match="HEARD_LINK_SECRET holds a published placeholder"):
        reply_links(public, {"HEARD_LINK_SECRET": "change-me"})


def test_a_link_works_until_its_expiry_to_the_second_whatever_its_length() -> None:
    for size in range(24):  # every padding a token's base64 can need, several times over
        answer = LinkAnswer("T1", "feedback", 4, None, "en", T0 + timedelta(days=30), "x" * size)
        assert LINKS.read(LINKS.token(answer), answer.expires_at) == answer
    with pytest.raises(BadLink, match="not one heard made"):
        LINKS.read("a.b", T0)  # not even base64
    with pytest.raises(AttributeError):
        ANSWER.value = 3  # type: ignore[misc]


def test_only_the_options_and_the_rating_get_links_and_a_label_is_kept_short() -> None:
    offer = {"id": "O1", "options": [{"number": 1, "label": "W" * 120, "link": None}]}
    confirmed = notification("option_confirmed", offer=offer)
    assert LINKS.add_to(confirmed, T0) == confirmed.context
    [option] = LINKS.add_to(notification("options", offer=offer), T0)["offer"]["options"]
    assert LINKS.read(option["link"].rsplit("/", 1)[1], T0).label == "W" * 80


def test_refusals_say_exactly_why() -> None:
    other = ReplyLinks("https://heard.example.com", b"x" * 32, valid_days=30)
    for token in (other.token(ANSWER), "a.b", "%%%.x"):
        with pytest.raises(BadLink) as refused:
            LINKS.read(token, T0)
        assert str(refused.value) == "this link is not one heard made"
    with pytest.raises(BadLink) as expired:
        LINKS.read(LINKS.token(ANSWER), T0 + timedelta(days=31))
    assert str(expired.value) == "this link has expired"


def test_a_link_made_for_a_message_lives_its_configured_days_and_asks_what_it_offers() -> None:
    offer = {"id": "O1", "options": [{"number": 2, "label": "Un avoir", "link": None}]}
    [option] = LINKS.add_to(notification("options", offer=offer), T0)["offer"]["options"]
    token = option["link"].rsplit("/", 1)[1]
    read = LINKS.read(token, T0 + timedelta(days=29, hours=23))
    assert (read.asks, read.value, read.offer_id, read.expires_at) == (
        "option",
        2,
        "O1",
        T0 + timedelta(days=30),
    )
    closure = LINKS.add_to(notification("closure_summary", feedback={"scale": 5, "links": None}), T0)
    rating = LINKS.read(closure["feedback"]["links"]["5"].rsplit("/", 1)[1], T0)
    assert (rating.asks, rating.value, rating.offer_id) == ("feedback", 5, None)
    with pytest.raises(BadLink, match="expired"):
        LINKS.read(token, T0 + timedelta(days=30, seconds=1))


def test_a_token_is_compact_json_that_keeps_accents_as_they_are() -> None:
    """Links go in emails and are read aloud by screen readers: no spaces, no escapes."""
    answer = LinkAnswer("T1", "option", 2, "O1", "fr", T0, "Un avoir à 50 €", contact="c-1")
    payload = LINKS.token(answer).split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert decoded == (
        '{"t":"T1","a":"o","v":2,"o":"O1","l":"fr","b":"Un avoir à 50 €","c":"c-1",'
        f'"e":{int(T0.timestamp())}}}'
    )


def test_a_base_address_with_a_path_keeps_it() -> None:
    links = ReplyLinks("https://support.example.com/heard-X/", b"k" * 32, valid_days=30)
    assert links.url(ANSWER).startswith("https://support.example.com/heard-X/r/")
