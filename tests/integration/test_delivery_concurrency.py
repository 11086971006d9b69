"""`delivery_concurrency: 8` (behind the benchmark's "8 at a time"): messages of different
tickets go out together, one ticket's keep their order, and none is sent twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from heard.streams.contract import stories
from tests.conftest import Catchers, Worker, wait_for
from tests.integration.test_end_to_end import mails_for, send

pytestmark = pytest.mark.integration

TICKETS = 16


@pytest.fixture
def worker(worker_with: Callable[..., Worker]) -> Worker:
    return worker_with(HEARD_DELIVERY_CONCURRENCY="8", HEARD_CLOSURE_GRACE_SECONDS="0")


async def test_eight_at_a_time_keeps_each_tickets_order_and_sends_once(
    worker: Worker, kafka_bootstrap: str, topic_prefix: str, catchers: Catchers
) -> None:
    (catchers.mail_dir / "sessions.peak").unlink(missing_ok=True)  # measure this test alone
    now = datetime.now(UTC)
    events = []
    for n in range(TICKETS):
        ticket = f"CC-{n}"
        customer = stories.customer(email=f"cc-{n}@example.net")
        events += [
            stories.created(ticket, now, urgent=True, eid=f"{ticket}-c", customer=customer),
            stories.reply(
                ticket, now + timedelta(seconds=1), eid=f"{ticket}-r", milestone={"text": "Found the parcel"}
            ),
            stories.resolved(ticket, now + timedelta(seconds=2), eid=f"{ticket}-s"),
        ]
    await send(kafka_bootstrap, topic_prefix, events)
    await wait_for(
        lambda: all(len(mails_for(catchers.mail_dir, f"CC-{n}")) >= 3 for n in range(TICKETS)),
        90,
        "three messages per ticket",
    )
    for n in range(TICKETS):
        mails = mails_for(catchers.mail_dir, f"CC-{n}")  # in the order the server accepted them
        assert [m["X-Heard-Kind"] for m in mails] == [
            "acknowledgment",
            "milestone_update",
            "closure_summary",
        ], f"CC-{n}"
    ids = Counter(
        str(m["Message-ID"]) for n in range(TICKETS) for m in mails_for(catchers.mail_dir, f"CC-{n}")
    )
    assert ids and max(ids.values()) == 1, "a message was sent twice"
    # Several SMTP sessions were open at once: the messages really went together.
    assert int((catchers.mail_dir / "sessions.peak").read_text()) >= 2
    assert "Crashed reason=" not in worker.log.read_text()
