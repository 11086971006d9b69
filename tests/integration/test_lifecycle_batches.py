"""A burst of events for a few tickets through a real worker: every event is decided, and each
ticket's state reaches its changelog once per batch, on the partition its events came from."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.contract.state import decision_lines
from heard.streams.kafka.readback import Positioned, read_positioned, read_topic
from heard.streams.kafka.table_codec import read_value
from heard.streams.ops.erasure import tickets_changelog
from tests.conftest import Worker, wait_until
from tests.integration.test_end_to_end import send

pytestmark = pytest.mark.integration

TICKETS = [f"BATCH-{n}" for n in range(1, 7)]
NOTES = 20


@pytest.fixture
def worker(worker_with: Callable[..., Worker]) -> Worker:
    return worker_with()


def version(record: Positioned) -> int:
    return int(json.loads(read_value(record.value))["version"])


async def test_a_burst_is_decided_whole_and_each_ticket_written_in_batches_on_its_partition(
    worker: Worker, kafka_bootstrap: str, topic_prefix: str
) -> None:
    now = datetime.now(UTC)
    engine = EngineSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, app_id=worker.env["HEARD_APP_ID"]
    )
    burst = [stories.created(ticket, now, eid=f"{ticket}-c") for ticket in TICKETS]
    # Interleaved, as a busy help desk sends them: each batch holds several tickets.
    burst += [
        stories.reply(ticket, now, public=False, eid=f"{ticket}-note-{n}")
        for n in range(NOTES)
        for ticket in TICKETS
    ]
    await send(kafka_bootstrap, topic_prefix, burst)

    async def writes() -> dict[str, list[Positioned]]:
        found: dict[str, list[Positioned]] = {}
        for record in await read_positioned(engine, tickets_changelog(engine)):
            found.setdefault(json.loads(record.key), []).append(record)
        return found

    written = await wait_until(
        writes,
        lambda found: all(ticket in found and version(found[ticket][-1]) == NOTES + 1 for ticket in TICKETS),
        60,
        "every ticket's state after its last note",
    )
    events = await read_positioned(engine, f"{topic_prefix}ticket-events")
    for ticket in TICKETS:
        decided = {
            line.get("event_id")
            for _, value, _ in await read_topic(engine, f"{topic_prefix}heard-decisions", key=ticket.encode())
            for line in decision_lines(value)
        }
        assert {f"{ticket}-note-{n}" for n in range(NOTES)} <= decided
        last = json.loads(read_value(written[ticket][-1].value))
        assert last["seen_event_ids"][-2:] == [f"{ticket}-note-{NOTES - 2}", f"{ticket}-note-{NOTES - 1}"]
        # On the partition its events came from: the worker that owns them restores it.
        [partition] = {record.partition for record in events if record.key == ticket.encode()}
        assert {record.partition for record in written[ticket]} == {partition}
    # Fewer writes than events: the burst was written once per batch, not once per event.
    assert sum(len(written[ticket]) for ticket in TICKETS) < len(burst)
    assert (
        len({record.partition for record in events if record.key in {t.encode() for t in TICKETS}}) > 1
    )  # the tickets span partitions
