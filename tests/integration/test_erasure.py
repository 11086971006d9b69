"""`heard forget`: after an erasure request, no table heard keeps still yields the person."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from heard.streams.base.settings import EngineSettings
from heard.streams.cli import main as heard
from heard.streams.contract import stories
from heard.streams.kafka.readback import read_topic
from heard.streams.ops.erasure import _state, contacts_of, tickets_changelog, tickets_of
from tests.conftest import Catchers, Worker, wait_for, wait_until
from tests.integration.test_end_to_end import mails_for, send
from tests.peers import REPO

pytestmark = pytest.mark.integration

AMARA = "amara.forget@example.net"


@pytest.fixture
def worker(worker_with: Callable[..., Worker]) -> Worker:
    return worker_with()


async def test_forget_erases_a_customers_tickets_and_only_theirs(
    worker: Worker,
    kafka_bootstrap: str,
    topic_prefix: str,
    catchers: Catchers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    amara = stories.customer(email=AMARA, phone="+442079460958")
    other = stories.customer(name="Ola Nowak", email="ola.keep@example.net")
    await send(
        kafka_bootstrap,
        topic_prefix,
        [
            stories.created("ER-1", now, urgent=True, eid="er-1", customer=amara),
            stories.created("ER-2", now, urgent=True, eid="er-2", customer=amara),
            # Amara is also a stakeholder on Ola's ticket: she leaves it, the ticket stays Ola's.
            stories.created(
                "ER-3",
                now,
                urgent=True,
                eid="er-3",
                customer=other,
                contacts=[
                    {"name": "Amara Okafor", "email": AMARA, "role": "stakeholder"},
                    {"name": "Piotr Nowak", "email": "piotr.keep@example.net", "role": "stakeholder"},
                ],
            ),
        ],
    )
    await wait_for(
        lambda: all(mails_for(catchers.mail_dir, t) for t in ("ER-1", "ER-2", "ER-3")),
        60,
        "three acknowledgments",
    )
    engine = EngineSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, app_id=worker.env["HEARD_APP_ID"]
    )
    # A ticket's state is written once its batch is decided, after its mail may have gone.
    assert await wait_until(
        lambda: tickets_of(engine, AMARA),
        lambda found: found == ["ER-1", "ER-2"],
        60,
        "Amara's two tickets in the table",
    ) == ["ER-1", "ER-2"]
    assert await tickets_of(engine, "+44 20 7946 0958") == ["ER-1", "ER-2"]  # by phone too

    for key, value in {
        "HEARD_CONFIG_DIR": str(REPO / "config"),
        "HEARD_TOPIC_PREFIX": topic_prefix,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "HEARD_APP_ID": worker.env["HEARD_APP_ID"],
    }.items():
        monkeypatch.setenv(key, value)
    assert await asyncio.to_thread(heard, ["forget", "--customer", AMARA]) == 0
    said = capsys.readouterr().out
    assert "2 ticket(s) hold this customer: ER-1, ER-2" in said
    assert "1 other ticket(s) list them as a contact: ER-3" in said

    await wait_until(lambda: tickets_of(engine, AMARA), lambda found: found == [], 120, "the tickets erased")
    await wait_until(
        lambda: contacts_of(engine, AMARA), lambda found: found == [], 120, "Amara removed from Ola's ticket"
    )
    latest: dict[bytes | None, bytes | None] = {}
    for key, value, _ in await read_topic(engine, tickets_changelog(engine)):
        latest[key] = value
    kept = [_state(value) for value in latest.values() if value is not None]
    assert all(AMARA not in str(state) and "2079460958" not in str(state) for state in kept)
    [ola] = [state for state in kept if state and state.get("ticket_id") == "ER-3"]  # only theirs
    assert [contact["email"] for contact in ola["contacts"]] == ["piotr.keep@example.net"]

    # The help desk sends Amara's first ticket again (a replayed webhook): it is refused,
    # the dead letter says why and keeps nothing of her, and the ticket stays erased.
    await send(
        kafka_bootstrap,
        topic_prefix,
        [stories.created("ER-1", now, urgent=True, eid="er-1-replayed", customer=amara)],
    )
    refused = await wait_until(
        lambda: read_topic(engine, engine.topic("dead_letters")),
        lambda found: any(b"ER-1 was erased" in dict(h).get("heard-reason", b"") for _, _, h in found),
        60,
        "the replayed ticket refused",
    )
    [(_, value, _)] = [r for r in refused if b"ER-1 was erased" in dict(r[2]).get("heard-reason", b"")]
    assert value == b""
    assert await tickets_of(engine, AMARA) == []
