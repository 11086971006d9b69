"""After `heard forget`, nothing brings the person back: no replayed webhook, no later event,
no link answer re-creates the ticket, and the refusals keep no copy of what they refused.
Links name a contact by an opaque id, never by an address."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from heard.streams.contract import stories
from heard.streams.contract.stories import T0, minutes
from heard.streams.delivery.links import ReplyLinks
from heard.streams.worker.lifecycle import erased_at
from tests.unit.test_policy import RULES, run, tick
from tests.unit.test_worker_agents import TOPICS, Lifecycle, consumed

PEGGY = stories.customer(name="Peggy Olsen", email="peggy@example.net", phone="+14155550123")
STAKEHOLDER = {"name": "Ken Cosgrove", "email": "ken@example.org", "role": "stakeholder"}


async def erased_worker() -> Lifecycle:
    worker = Lifecycle()
    await worker.event(stories.created("T-9", customer=PEGGY, contacts=[STAKEHOLDER], eid="created"))
    forget = stories.event("heard.forget", "T-9", T0 + minutes(1))
    await worker.agent(consumed(TOPICS.timers, "T-9", stories.dumps(forget)))
    return worker


def dead_letters(worker: Lifecycle) -> list[tuple[bytes, str, dict[str, bytes]]]:
    return [
        (record.value, dict(record.headers or {})["heard-reason"].decode(), dict(record.headers or {}))
        for record in worker.sink.on(TOPICS.dead_letters)
    ]


async def test_the_table_keeps_a_marker_that_holds_nothing_of_the_person() -> None:
    worker = await erased_worker()
    marker = worker.tickets["T-9"]
    assert erased_at(marker) == worker.clock.at.isoformat()
    for personal in ("Peggy", "peggy@", "+1415", "Ken", "ken@"):
        assert personal not in marker


async def test_a_replayed_webhook_or_a_later_event_never_recreates_an_erased_ticket() -> None:
    worker = await erased_worker()
    decided_before = len(worker.sink.on(TOPICS.outbound)) + len(worker.sink.on(TOPICS.decisions))
    replayed = stories.created("T-9", customer=PEGGY, contacts=[STAKEHOLDER], eid="created-again")
    await worker.event(replayed)
    await worker.event(stories.event("ticket.feedback", "T-9", T0 + minutes(5), score=1, text="Peggy here"))
    assert erased_at(worker.tickets["T-9"]) is not None
    assert len(worker.sink.on(TOPICS.outbound)) + len(worker.sink.on(TOPICS.decisions)) == decided_before
    refused = dead_letters(worker)
    assert [reason.split(":")[0] for _, reason, _ in refused] == [
        "ticket T-9 was erased on 2026-11-20 at the customer's request (heard forget)"
    ] * 2
    assert "ticket.created would bring its data back" in refused[0][1]
    for value, reason, headers in refused:
        assert value == b"" and headers["heard-value-dropped"] == b"erased"
        assert "Peggy" not in reason and "@" not in reason


async def test_the_timers_and_a_second_erasure_of_an_erased_ticket_pass_quietly() -> None:
    worker = await erased_worker()
    again = stories.event("heard.forget", "T-9", T0 + minutes(2), eid="forget-again")
    await worker.agent(consumed(TOPICS.timers, "T-9", stories.dumps(again)))
    assert worker.sink.on(TOPICS.dead_letters) == []
    assert erased_at(worker.tickets["T-9"]) is not None


async def test_a_ticket_erased_for_its_retention_period_may_come_back_with_the_help_desk() -> None:
    """Retention is heard's own housekeeping, not the person's request: an old ticket the
    help desk reopens later starts again."""
    worker = Lifecycle()
    await worker.event(stories.created("T-3", customer=PEGGY))
    await worker.event(stories.event("ticket.closed", "T-3", T0 + minutes(2)))
    worker.clock.at = T0 + minutes(2) + timedelta(days=RULES.policy.closed_ticket_retention_days + 1)
    await worker.sweep()
    assert "T-3" not in worker.tickets
    await worker.event(stories.event("ticket.reopened", "T-3", worker.clock.at))
    assert worker.sink.on(TOPICS.dead_letters) == []


def test_a_stakeholders_links_name_them_by_an_opaque_id_never_their_address() -> None:
    state, _ = run(
        [
            stories.created("T1", customer=PEGGY, contacts=[STAKEHOLDER]),
            stories.resolved("T1", T0 + minutes(10)),
        ]
    )
    assert state is not None
    [contact] = state.contacts
    assert contact.id is not None and contact.id.startswith("c-") and "ken" not in contact.id
    closure = tick(state, T0 + minutes(10) + timedelta(seconds=RULES.policy.closure_grace_seconds))
    [to_ken] = [n for n in closure.notifications if n.contact is not None]
    assert to_ken.contact == contact.id and to_ken.recipient == "ken@example.org"
    links = ReplyLinks("https://heard.example.com", b"k" * 40, 30).add_to(to_ken, T0)
    for url in links["feedback"]["links"].values():
        payload = url.rsplit("/", 1)[1].split(".")[0]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        assert "ken@" not in decoded and json.loads(decoded)["c"] == contact.id


def test_a_contact_keeps_the_id_heard_gave_them_when_the_list_changes() -> None:
    state, _ = run(
        [
            stories.created("T1", customer=PEGGY, contacts=[STAKEHOLDER], eid="created"),
            stories.event(
                "ticket.contacts_updated",
                "T1",
                T0 + minutes(3),
                contacts=[
                    {**STAKEHOLDER, "email": "KEN@example.org"},
                    {"name": "Joan", "email": "joan@example.org"},
                ],
            ),
        ]
    )
    assert state is not None
    first, second = state.contacts
    again, _ = run([stories.created("T1", customer=PEGGY, contacts=[STAKEHOLDER], eid="created")])
    assert again is not None and first.id == again.contacts[0].id
    assert second.id is not None and second.id != first.id


async def test_a_refusal_of_an_erased_ticket_is_never_replayed() -> None:
    from heard.streams.kafka.readback import Positioned
    from heard.streams.ops.dead_letters import DeadLetter, plan_replay

    worker = await erased_worker()
    await worker.event(stories.created("T-9", customer=PEGGY, eid="created-again"))
    [record] = worker.sink.on(TOPICS.dead_letters)
    letter = DeadLetter.from_record(Positioned(0, 0, 0, record.key, record.value, dict(record.headers or {})))
    assert letter.value_dropped
    assert plan_replay(letter, {"ticket_events": TOPICS.ticket_events}, TOPICS.dead_letters) == (
        "its content was not kept: the ticket was erased at the customer's request"
    )
