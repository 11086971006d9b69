"""Faust's producer buffer drained until it is empty, not until its flush gives up."""

from __future__ import annotations

from heard.streams.kafka.faust_flush import drain_buffer, flush_fully


class GivingUpBuffer:
    """Faust's `ProducerBuffer.flush_atmost`, as under load: it hands on one record, then
    gives up (0.1 s without progress) with the rest still waiting."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self.calls = 0

    @property
    def size(self) -> int:
        return self.waiting

    async def flush_atmost(self, max_messages: int) -> int:
        self.calls += 1
        self.waiting -= 1
        return 1


class Producer:
    def __init__(self, waiting: int) -> None:
        self.buffer = GivingUpBuffer(waiting)
        self.flushed_with: list[int] = []

    async def flush(self) -> None:
        self.flushed_with.append(self.buffer.size)


async def test_the_buffer_is_drained_however_often_its_flush_gives_up() -> None:
    producer = Producer(waiting=5)
    await drain_buffer(producer)
    assert producer.buffer.size == 0 and producer.buffer.calls == 5
    assert producer.flushed_with == []  # draining hands records on; it does not wait for acks


async def test_a_full_flush_waits_for_kafkas_producer_only_once_the_buffer_is_empty() -> None:
    producer = Producer(waiting=3)
    await flush_fully(producer)
    assert producer.flushed_with == [0]
