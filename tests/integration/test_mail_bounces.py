"""A mail provider's bounce and a reader's one-click unsubscribe reaching a real worker: the
signed webhook and the List-Unsubscribe link on its public listener, the consent ledger and
the mail-events agent on real Kafka, emails and texts captured by the dev stack's catchers.
A forged webhook gets 401."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from heard.streams.contract import stories
from tests.conftest import Catchers, Worker, wait_for
from tests.integration.conftest import PUBLIC, public_worker
from tests.integration.test_end_to_end import mails_for, send
from tests.integration.test_twilio_callbacks import texts_to, wait_events
from tests.unit.test_mail_events import (
    MAILGUN_KEY,
    SendGridSigner,
    mailgun_failure,
    mailgun_signed,
    sendgrid_event,
)

pytestmark = pytest.mark.integration

SIGNER = SendGridSigner()
PHONE = "+48512345601"
AISHA = {"name": "Aisha Rahman", "email": "aisha@example.com"}
LINK_SECRET = "b7Qm2xV9pL4sT8wZ1cR6yN3hJ5kF0dGa"  # 32 characters, 30 distinct


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"mb{random.randrange(10**8)}."


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
        kafka_bootstrap,
        catchers,
        prefix,
        web_port,
        ops_port,
        tmp_path_factory,
        HEARD_SENDGRID_VERIFICATION_KEY=SIGNER.key,
        HEARD_MAILGUN_SIGNING_KEY=MAILGUN_KEY,
        HEARD_LINK_SECRET=LINK_SECRET,
    )


async def post(port: int, provider: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/email/events/{provider}", data=body, headers=headers
        ) as answer,
    ):
        return answer.status


def bodies(mails: list[Any]) -> list[str]:
    return [m.get_body(("plain",)).get_content() for m in mails]


async def test_a_bounced_update_goes_by_sms_the_owner_is_told_and_the_next_update_follows(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    now = datetime.now(UTC)
    customer = stories.customer(
        phone=PHONE, consent={"email": True, "sms": True}, email="amara.mb@example.net"
    )
    await send(kafka_bootstrap, prefix, [stories.created("MB-1", now, eid="mb-1-created", customer=customer)])
    await wait_for(lambda: mails_for(catchers.mail_dir, "MB-1"), 60, "the acknowledgment by email")
    milestone = stories.event(
        "ticket.agent_reply",
        "MB-1",
        now + timedelta(seconds=1),
        eid="mb-1-reply",
        agent=AISHA,
        public=True,
        milestone={"text": "Refund of EUR 84.50 approved."},
    )
    await send(kafka_bootstrap, prefix, [milestone])
    await wait_for(lambda: len(mails_for(catchers.mail_dir, "MB-1")) == 2, 60, "the milestone by email")
    update = next(m for m in mails_for(catchers.mail_dir, "MB-1") if "84.50" in bodies([m])[0])
    body = json.dumps(
        [
            sendgrid_event(
                "bounce",
                str(update["Message-ID"]),
                email="amara.mb@example.net",
                type="bounce",
                status="5.1.1",
                reason="550 5.1.1 The email account that you tried to reach does not exist.",
            )
        ]
    ).encode()

    assert await post(web_port, "sendgrid", body, SendGridSigner().headers(body)) == 401
    assert await post(web_port, "mailgun", mailgun_signed(mailgun_failure("x@y"), key="k" * 32)) == 401
    assert await post(web_port, "sendgrid", body, SIGNER.headers(body)) == 200

    await wait_for(lambda: texts_to(catchers, PHONE), 60, "the bounced milestone by SMS")
    assert "84.50" in texts_to(catchers, PHONE)[0]["Body"]
    await wait_for(
        lambda: (
            {str(m["To"]) for m in mails_for(catchers.mail_dir, "MB-1")}
            >= {"team@example.com", "lead@example.com", "aisha@example.com"}
        ),
        60,
        "the team, the lead and the owner told",
    )
    [to_owner] = [m for m in mails_for(catchers.mail_dir, "MB-1") if str(m["To"]) == "aisha@example.com"]
    said = bodies([to_owner])[0]
    assert "Amara did not receive our milestone update on MB-1" in said
    assert "5.1.1 The email account that you tried to reach does not exist" in said
    assert "It went to her by SMS instead" in said and "amara.mb@example.net" not in said

    later = stories.event(
        "ticket.agent_reply",
        "MB-1",
        now + timedelta(seconds=2),
        eid="mb-1-reply-2",
        agent=AISHA,
        public=True,
        milestone={"text": "The refund left our bank today."},
    )
    await send(kafka_bootstrap, prefix, [later])
    await wait_for(lambda: len(texts_to(catchers, PHONE)) == 2, 60, "the next update by SMS")
    assert "left our bank" in texts_to(catchers, PHONE)[1]["Body"]
    found = await wait_events(
        kafka_bootstrap,
        prefix,
        "MB-1",
        lambda e: sum(x["channel"] == "sms" and x["status"] == "sent" for x in e) == 2,
        "the second SMS recorded",
    )
    statuses = [(e["channel"], e["status"]) for e in found if e.get("kind") in ("milestone_update", None)]
    assert ("email", "bounced") in statuses and ("email", "suppressed") in statuses
    suppressed = next(e for e in found if e["status"] == "suppressed")
    assert suppressed["reason"].startswith("their email address bounced on ")


async def test_one_click_unsubscribe_from_the_emails_header_sends_the_next_update_by_sms(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    now = datetime.now(UTC)
    phone = "+48512345602"
    customer = stories.customer(phone=phone, consent={"email": True, "sms": True}, email="zoe.mb@example.net")
    await send(kafka_bootstrap, prefix, [stories.created("MB-2", now, eid="mb-2-created", customer=customer)])
    await wait_for(lambda: mails_for(catchers.mail_dir, "MB-2"), 60, "the acknowledgment by email")
    [ack] = mails_for(catchers.mail_dir, "MB-2")
    assert ack["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(ack["List-Unsubscribe"]).strip("<>")
    assert link.startswith(f"{PUBLIC}/u/") and "zoe" not in link
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{web_port}{link.removeprefix(PUBLIC)}", data={"List-Unsubscribe": "One-Click"}
        ) as answer,
    ):
        assert answer.status == 200
    update = stories.event(
        "ticket.agent_reply",
        "MB-2",
        now + timedelta(seconds=1),
        eid="mb-2-reply",
        agent=AISHA,
        public=True,
        milestone={"text": "Your replacement ships today."},
    )
    await send(kafka_bootstrap, prefix, [update])
    await wait_for(lambda: texts_to(catchers, phone), 60, "the update by SMS")
    assert "ships today" in texts_to(catchers, phone)[0]["Body"]
    assert len(mails_for(catchers.mail_dir, "MB-2")) == 1, "no email after the unsubscribe"


async def test_the_preference_link_in_an_email_makes_the_next_update_a_text_in_spanish(
    worker: Worker, web_port: int, kafka_bootstrap: str, prefix: str, catchers: Catchers
) -> None:
    now = datetime.now(UTC)
    phone = "+48512345603"
    customer = stories.customer(
        phone=phone, consent={"email": True, "sms": True}, email="ines.mb@example.net"
    )
    await send(kafka_bootstrap, prefix, [stories.created("MB-3", now, eid="mb-3-created", customer=customer)])
    await wait_for(lambda: mails_for(catchers.mail_dir, "MB-3"), 60, "the acknowledgment by email")
    [ack] = mails_for(catchers.mail_dir, "MB-3")
    footer = bodies([ack])[0].rstrip().splitlines()[-1]
    assert footer.startswith(f"Change how and when we keep you posted: {PUBLIC}/p/")
    link = footer.split(": ", 1)[1]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{web_port}{link.removeprefix(PUBLIC)}",
            data={"channel": "sms", "language": "es"},
        ) as answer,
    ):
        assert answer.status == 200, await answer.text()
    update = stories.event(
        "ticket.agent_reply",
        "MB-3",
        now + timedelta(seconds=1),
        eid="mb-3-reply",
        agent=AISHA,
        public=True,
        milestone={"text": "Hemos encontrado tu paquete."},
    )
    await send(kafka_bootstrap, prefix, [update])
    await wait_for(lambda: texts_to(catchers, phone), 60, "the update by SMS")
    [text] = texts_to(catchers, phone)
    assert "novedades de MB-3" in text["Body"] and "encontrado" in text["Body"], text["Body"]  # in Spanish
    assert len(mails_for(catchers.mail_dir, "MB-3")) == 1, "no email after choosing texts"
