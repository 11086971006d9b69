"""The worker's cache of decoded ticket states answers only for the exact stored JSON."""

from __future__ import annotations

from heard.streams.contract.state import TicketState
from heard.streams.worker.state_cache import StateCache


def stored(ticket_id: str, version: int) -> str:
    return TicketState(ticket_id=ticket_id, version=version).to_json().decode()


def test_same_json_reuses_the_object_and_other_json_is_decoded_afresh() -> None:
    cache = StateCache(10)
    first_json = stored("T-1", 1)
    first = cache.load("T-1", first_json)
    assert first is not None and first.version == 1
    # An equal string read back from a disk store counts as the same state.
    assert cache.load("T-1", "".join(list(first_json))) is first
    # Another worker (or a restore) wrote something else: decode it, never serve the old one.
    other = cache.load("T-1", stored("T-1", 7))
    assert other is not None and other is not first and other.version == 7
    assert (cache.hits, cache.misses) == (1, 2)


def test_a_ticket_gone_from_the_table_is_gone_from_the_cache() -> None:
    cache = StateCache(10)
    cache.load("T-1", stored("T-1", 1))
    assert cache.load("T-1", None) is None
    assert len(cache) == 0


def test_least_recently_used_states_are_evicted_and_forget_drops_one() -> None:
    cache = StateCache(2)
    for n in range(3):
        cache.load(f"T-{n}", stored(f"T-{n}", n))
    assert len(cache) == 2
    cache.load("T-0", stored("T-0", 0))  # evicted before: decoded again
    assert cache.misses == 4
    cache.forget("T-0")
    cache.load("T-0", stored("T-0", 0))
    assert cache.misses == 5


def test_capacity_zero_keeps_nothing() -> None:
    cache = StateCache(0)
    json_text = stored("T-1", 1)
    assert cache.load("T-1", json_text) is not cache.load("T-1", json_text)
    assert len(cache) == 0


def test_a_newer_workers_state_is_read_and_written_back_whole() -> None:
    """Rolling upgrades: fields a newer version added survive an older worker's decision."""
    import json

    from heard.streams.contract import stories
    from heard.streams.contract.records import parse_event
    from heard.streams.contract.state import Notification, TicketState
    from heard.streams.policy.decide import decide
    from tests.unit.test_policy import RULES

    created = parse_event(stories.dumps(stories.created("T-up", urgent=True)))
    promised = parse_event(
        stories.dumps(
            stories.promised("T-up", stories.T0 + stories.minutes(1), stories.T0 + stories.minutes(90))
        )
    )
    outcome = decide(None, created, created.occurred_at, RULES)
    state = decide(outcome.state, promised, promised.occurred_at, RULES).state
    newer = json.loads(state.to_json())
    newer["escalation_path"] = [{"name": "Aisha"}]  # a field from the next version
    newer["promises"]["P1"]["announced_to"] = ["stakeholder"]  # and one nested deeper
    reply = parse_event(stories.dumps(stories.reply("T-up", stories.T0 + stories.minutes(5))))
    read = TicketState.model_validate_json(json.dumps(newer))
    after = json.loads(decide(read, reply, reply.occurred_at, RULES).state.to_json())
    assert after["escalation_path"] == [{"name": "Aisha"}]
    assert after["promises"]["P1"]["announced_to"] == ["stakeholder"]
    assert after["promises"]["P1"]["status"] == "kept"
    [note] = outcome.notifications
    record = {**json.loads(note.model_dump_json()), "contacts": [{"role": "stakeholder"}]}
    assert Notification.model_validate_json(json.dumps(record)).notification_id == note.notification_id
