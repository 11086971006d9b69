"""Repair with choice and the loop closed, through a real worker, Kafka, the Twilio SDK
against its contract and the signed inbound webhook: options offered by SMS, a choice made
by texting "2", confirmed in the customer's language and told to the owner; the closure's
question answered by text, tagged, and shown by `heard report feedback`. By email, the
same with signed links, clicked in a real browser (Chromium)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser

from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.kafka.readback import read_topic
from tests.conftest import Catchers, Worker, wait_until
from tests.integration.conftest import PUBLIC, public_worker
from tests.integration.test_end_to_end import send
from tests.integration.test_twilio_callbacks import post, texts_to
from tests.peers import REPO

pytestmark = pytest.mark.integration

PHONE = "+34612345678"
OWNER = {"name": "Aisha Khan", "team": "billing", "email": "aisha@example.com", "id": "a-17"}
SID_CHOICE = "SM5f1c0e3a9b7d4e2f8a6c1b3d5e7f9a0b"
SID_RATING = "SM6a2d1f4b8c9e0a1b2c3d4e5f6a7b8c9d"
SID_TOM = "SM7b3e2a5c9d0f1a2b3c4d5e6f7a8b9c0e"
SID_LOW = "SM8c4f3b6d0e1a2b3c4d5e6f7a8b9c0d1f"
SID_UNCLEAR = "SM9d5a4c7e1f2a3b4c5d6e7f8a9b0c1d2a"
TOM = "+14155550188"
LINK_SECRET = "answer-links-test-secret-of-forty-bytes!"
FLOOD = 40  # posts of one link by a script


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"rp{random.randrange(10**8)}."


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str,
    catchers: Catchers,
    prefix: str,
    web_port: int,
    ops_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    yield from public_worker(
        kafka_bootstrap, catchers, prefix, web_port, ops_port, tmp_path_factory, HEARD_LINK_SECRET=LINK_SECRET
    )


async def replies(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    settings = EngineSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    return [json.loads(value) for _, value, _ in await read_topic(settings, f"{prefix}heard-replies")]


async def texts_saying(catchers: Catchers, words: str, what: str, phone: str = PHONE) -> list[str]:
    async def bodies() -> list[str]:
        return [text["Body"] for text in texts_to(catchers, phone)]

    found = await wait_until(bodies, lambda all_: any(words in body for body in all_), 120, what)
    return [body for body in found if words in body]


async def mails_saying(catchers: Catchers, address: str, ticket: str, kind: str, what: str) -> list[str]:
    """The text of each email of this kind to `address` about `ticket`, once one came."""

    async def texts() -> list[tuple[str, str]]:
        return [(subject, text) for subject, text, of in kinds_to(catchers, address, ticket) if of == kind]

    return [text for _, text in await wait_until(texts, bool, 60, what)]


def mails_to(catchers: Catchers, address: str, ticket: str | None = None) -> list[tuple[str, str]]:
    """(subject, text) of each email to `address` (about `ticket`, if given)."""
    return [(subject, text) for subject, text, _ in kinds_to(catchers, address, ticket)]


def kinds_to(catchers: Catchers, address: str, ticket: str | None = None) -> list[tuple[str, str, str]]:
    """(subject, text, kind) of each email to `address` (about `ticket`, if given)."""
    found = []
    for path in sorted(catchers.mail_dir.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        thread = f"<ticket-{ticket}@heard.example.com>"
        to = message["To"].addresses[0].addr_spec  # type: ignore[attr-defined]
        if to == address and (ticket is None or thread in str(message["References"]).split()):
            body = message.get_body(("plain",))  # type: ignore[attr-defined]
            text = body.get_content().replace("\r\n", "\n") if body else ""
            found.append((str(message["Subject"]), text, str(message["X-Heard-Kind"])))
    return found


async def test_a_b2b_story_with_three_people_a_choice_by_text_and_feedback_by_text(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    """Lucía (Spanish, by SMS) opened it; Heike (German, by email) and Tom (English, by SMS)
    are stakeholders. Each hears every update in their own language and channel; only Lucía
    is offered the options and chooses by text; the closure asks all three how it went."""
    start = datetime.now(UTC)
    lucia = stories.customer(
        name="Lucía Fernández",
        preferred_name="Lucía",
        language="es",
        timezone="Europe/Madrid",
        phone=PHONE,
        preferred_channel="sms",
        email="lucia@example.net",
        consent={"email": True, "sms": True},
    )
    heike = {
        "id": "c-heike",
        "name": "Heike Braun",
        "language": "de",
        "role": "stakeholder",
        "timezone": "Europe/Berlin",
        "email": "heike@example.de",
    }
    tom = {
        "id": "c-tom",
        "name": "Tom Okoye",
        "preferred_name": "Tom",
        "language": "en",
        "role": "stakeholder",
        "timezone": "America/New_York",
        "phone": TOM,
        "preferred_channel": "sms",
        "consent": {"email": True, "sms": True},
    }
    await send(
        kafka_bootstrap,
        prefix,
        [
            stories.created(
                "RP-1",
                start,
                eid="rp-created",
                customer=lucia,
                contacts=[heike, tom],
                subject="Cobro duplicado en la factura de noviembre",
            ),
            stories.event(
                "ticket.assigned",
                "RP-1",
                start + timedelta(seconds=1),
                eid="rp-owner",
                agent=OWNER,
                owner=True,
            ),
            stories.event(
                "ticket.agent_reply",
                "RP-1",
                start + timedelta(seconds=2),
                eid="rp-milestone",
                agent=OWNER,
                public=True,
                milestone={"text": "We found the duplicate charge on the 14th."},
            ),
            stories.offered(
                "RP-1", start + timedelta(seconds=3), eid="rp-offer", choose_by=start + timedelta(days=2)
            ),
        ],
    )
    # The milestone: to each person, in their language, by their channel.
    [lucia_update] = await texts_saying(catchers, "novedades", "Lucía's update")
    assert "We found the duplicate charge on the 14th." in lucia_update
    [tom_update] = await texts_saying(catchers, "update on RP-1", "Tom's update", phone=TOM)
    assert tom_update.startswith("Tom, update on RP-1 (") and "duplicate charge" in tom_update
    [heike_update] = await mails_saying(
        catchers, "heike@example.de", "RP-1", "milestone_update", "Heike's update"
    )
    assert heike_update.startswith("Hallo Heike Braun,") and "Aisha Khan" in heike_update

    [offer_text] = await texts_saying(catchers, "tú eliges", "the options by SMS")
    assert "Lucía, RP-1: tú eliges." in offer_text
    for option in stories.OPTIONS:
        assert option["label"] in offer_text and option["timeline"] in offer_text
    assert "(no extra cost)" in offer_text and "Responde 1, 2 o 3 antes del" in offer_text

    # She answers, but not with one of them: asked again, and Aisha reads her words.
    unclear = {
        "MessageSid": SID_UNCLEAR,
        "From": PHONE,
        "To": "+15005550006",
        "Body": "la segunda o la tercera, no sé",
        "AccountSid": "AC" + "0" * 32,
    }
    assert (await post(web_port, "/twilio/inbound", unclear))[0] == 200
    [asked] = await texts_saying(catchers, "cuál prefieres", "the question back")
    assert asked.startswith("Lucía, ¿cuál prefieres para RP-1? 1) ")

    async def owner_read_it() -> list[tuple[str, str]]:
        return [m for m in mails_to(catchers, "aisha@example.com") if "not with one of them" in m[0]]

    [(_, words)] = await wait_until(owner_read_it, bool, 120, "the owner told of the unclear answer")
    assert '"la segunda o la tercera, no sé"' in words

    choice = {
        "MessageSid": SID_CHOICE,
        "From": PHONE,
        "To": "+15005550006",
        "Body": "2, la roja si la tenéis",
        "AccountSid": "AC" + "0" * 32,
    }
    assert (await post(web_port, "/twilio/inbound", choice, token="forged"))[0] == 403
    assert (await post(web_port, "/twilio/inbound", choice))[0] == 200
    assert (await post(web_port, "/twilio/inbound", choice))[0] == 200  # Twilio's retry
    confirmed = await texts_saying(catchers, "sigue con 2)", "the confirmation by SMS")
    assert confirmed == [
        "Lucía, gracias: RP-1 sigue con 2) Take the newer model now, arrives in two days. "
        "Lo lleva Aisha Khan. Para cambiar, responde con otro número."
    ]

    async def owner_mail() -> list[tuple[str, str]]:
        return [m for m in mails_to(catchers, "aisha@example.com") if " chose option " in m[0]]

    told = await wait_until(owner_mail, bool, 120, "the owner told of the choice")
    [(subject, text)] = told
    assert subject == "[RP-1] Lucía chose option 2: Take the newer model now"
    assert 'In her words: "la roja si la tenéis"' in text and "by sms" in text
    chosen = await wait_until(
        lambda: replies(kafka_bootstrap, prefix),
        lambda found: any(r["record"] == "option_chosen" for r in found),
        30,
        "the choice on heard-replies",
    )
    assert [(r["ticket_id"], r["offer_id"], r["option"], r["via"], r["owner"]) for r in chosen] == [
        ("RP-1", "O1", 2, "sms", "Aisha Khan")
    ]

    await send(kafka_bootstrap, prefix, [stories.resolved("RP-1", datetime.now(UTC), eid="rp-resolved")])
    [closure] = await texts_saying(catchers, "está resuelto", "the closure SMS")
    assert "¿Qué tal lo hicimos? Responde 1-5, o dinos qué falla." in closure
    [tom_closure] = await texts_saying(catchers, "is resolved", "Tom's closure", phone=TOM)
    assert "How did we do? Reply 1-5, or say what is wrong." in tom_closure
    [heike_closure] = await mails_saying(
        catchers, "heike@example.de", "RP-1", "closure_summary", "Heike's closure"
    )
    assert "Wie gut haben wir das gemacht, von 1 (schlecht) bis 5 (sehr gut)?" in heike_closure
    # Options are for the one who decides: no stakeholder was offered them.
    assert not [t for t in texts_to(catchers, TOM) if "your choice" in t["Body"]]

    for sid, phone, body in (
        (SID_RATING, PHONE, "5 me mantuvieron informada todo el tiempo"),
        (SID_TOM, TOM, "4, Aisha took ownership"),
    ):
        rating = {
            "MessageSid": sid,
            "From": phone,
            "To": "+15005550006",
            "Body": body,
            "AccountSid": "AC" + "0" * 32,
        }
        assert (await post(web_port, "/twilio/inbound", rating))[0] == 200
    found = await wait_until(
        lambda: replies(kafka_bootstrap, prefix),
        lambda found: len([r for r in found if r["record"] == "feedback"]) == 2,
        30,
        "both ratings on heard-replies",
    )
    feedback = sorted((r for r in found if r["record"] == "feedback"), key=lambda r: -r["score"])
    assert [
        (r["score"], r["text"], r["signals"], r["agent"], r["team"], r["respondent"] is None)
        for r in feedback
    ] == [
        (5, "me mantuvieron informada todo el tiempo", ["kept_updated"], "Aisha Khan", "billing", True),
        (4, "Aisha took ownership", ["took_ownership"], "Aisha Khan", "billing", False),
    ]

    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "heard.streams.cli",
            "report",
            "feedback",
            "--since",
            "1d",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={
            **os.environ,
            "HEARD_CONFIG_DIR": str(REPO / "config"),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "HEARD_TOPIC_PREFIX": prefix,
        },
    )
    assert report.returncode == 0, report.stderr
    rows = {row["name"]: row for row in json.loads(report.stdout)}
    aisha = rows["Aisha Khan"]
    assert (
        aisha["answers"],
        aisha["mean_score"],
        aisha["kept_updated"],
        aisha["took_ownership"],
        rows["billing"]["score_5"],
    ) == (2, 4.5, 1, 1, 1)

    # Lucía writes again: a low score and why. The owner reads her words, and she is answered.
    low = {
        "MessageSid": SID_LOW,
        "From": PHONE,
        "To": "+15005550006",
        "Body": "2, nadie me llamó",
        "AccountSid": "AC" + "0" * 32,
    }
    assert (await post(web_port, "/twilio/inbound", low))[0] == 200

    async def owner_told_of_low() -> list[tuple[str, str]]:
        return [mail for mail in mails_to(catchers, "aisha@example.com") if "rated the help" in mail[0]]

    [(subject, text)] = await wait_until(owner_told_of_low, bool, 120, "the owner told of the low score")
    assert subject == "[RP-1] Lucía rated the help 2 out of 5"
    assert 'In her words: "nadie me llamó"' in text and "not kept updated" in text
    reply = await texts_saying(catchers, "gracias por tu respuesta", "the reply to the low score")
    assert reply == [
        "Lucía, gracias por tu respuesta. Un 2/5 en RP-1: no estuvimos a la altura, lo sentimos. "
        "Tu mensaje lo tiene ya Aisha Khan con su responsable. ¿Algo que arreglar? Responde a este SMS."
    ]


def link_in(text: str, after: str) -> str:
    """The first https link on the line after `after` in an email's text part."""
    tail = text.split(after, 1)[1]
    return next(word for word in tail.split() if word.startswith(PUBLIC))


async def test_options_and_the_rating_by_signed_links_in_a_real_browser(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers, browser: Browser
) -> None:
    start = datetime.now(UTC)
    await send(
        kafka_bootstrap,
        prefix,
        [
            stories.created("RL-1", start, eid="rl-created"),
            stories.event(
                "ticket.assigned",
                "RL-1",
                start + timedelta(seconds=1),
                eid="rl-owner",
                agent=OWNER,
                owner=True,
            ),
            stories.offered("RL-1", start + timedelta(seconds=2), eid="rl-offer"),
        ],
    )

    async def mail(kind: str) -> str:
        return (await mails_saying(catchers, "amara@example.net", "RL-1", kind, f"the {kind} email"))[0]

    offer = await mail("options")
    second = link_in(offer, "2. Take the newer model now")
    local = second.replace(PUBLIC, f"http://127.0.0.1:{web_port}")
    page = await browser.new_page()
    await page.goto(local)
    assert "You are choosing option 2: Take the newer model now." in await page.inner_text("main")
    # Opening the link (as a mail scanner would) chose nothing.
    assert [r for r in await replies(kafka_bootstrap, prefix) if r["ticket_id"] == "RL-1"] == []
    await page.click("text=Confirm my choice")
    assert "Your choice is in" in await page.inner_text("main")
    confirmation = await mail("option_confirmed")
    assert "You chose:\n\n  2. Take the newer model now: arrives in two days." in confirmation
    tampered = local[:-3] + ("AAA" if not local.endswith("AAA") else "BBB")
    answer = await page.goto(tampered)
    assert answer is not None and answer.status == 404
    assert "not one we recognise" in await page.inner_text("main")

    await send(kafka_bootstrap, prefix, [stories.resolved("RL-1", datetime.now(UTC), eid="rl-resolved")])
    closure = await mail("closure_summary")
    # One conversation in Amara's inbox: every email reads "Re: <her subject>"; the owner's
    # notices keep their own subjects, and answer to the team, never to her ticket.
    assert {subject for subject, _ in mails_to(catchers, "amara@example.net", "RL-1")} == {
        "Re: My parcel is late"
    }
    assert "how did we do, from 1 (poor) to 5 (great)?" in closure
    four = link_in(closure, "4:")
    await page.goto(four.replace(PUBLIC, f"http://127.0.0.1:{web_port}"))
    assert "You are rating our help 4 out of 5." in await page.inner_text("main")
    await page.fill("textarea", "Aisha took ownership and kept me updated every day")
    await page.click("text=Send my rating")
    assert "Your rating is in, with your words." in await page.inner_text("main")
    found = await wait_until(
        lambda: replies(kafka_bootstrap, prefix),
        lambda found: any(r["record"] == "feedback" and r["ticket_id"] == "RL-1" for r in found),
        30,
        "the rating on heard-replies",
    )
    assert [
        (r["record"], r.get("option"), r.get("score"), r["via"], r.get("signals"))
        for r in found
        if r["ticket_id"] == "RL-1"
    ] == [
        ("option_chosen", 2, None, "email", None),
        ("feedback", None, 4, "email", ["took_ownership", "kept_updated"]),
    ]
    await page.close()

    # A script posting the same link in a loop: past a few answers, 429, and nothing written.
    flooded = four.replace(PUBLIC, f"http://127.0.0.1:{web_port}")
    statuses = []
    async with aiohttp.ClientSession() as session:
        for n in range(FLOOD):
            async with session.post(flooded, data={"words": f"flood {n}"}) as answer:
                statuses.append(answer.status)
    assert set(statuses) <= {200, 429} and statuses.count(429) >= FLOOD - 10, statuses
    settings = EngineSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    ratings = [
        json.loads(value)
        for _, value, _ in await read_topic(settings, f"{prefix}ticket-events", key=b"RL-1")
        if json.loads(value)["type"] == "ticket.feedback"
    ]
    assert 1 < len(ratings) <= FLOOD - statuses.count(429) + 1, len(ratings)
