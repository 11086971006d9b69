"""Faust's producer flush, without its give-up.

Table writes (ticket states, due times, receipts) wait in Faust's producer buffer until its
background task hands them to Kafka's producer. Faust's flush of that buffer returns after
0.1 s without progress (`ProducerBuffer.flush_atmost`), records still in it: a commit that
flushed that way can pass events whose state writes never reached Kafka, and a SIGKILL
then loses the writes. Here the buffer is drained until it is empty, however long that
takes (a broker that is away holds the worker here, acknowledging nothing).
"""

from __future__ import annotations

from typing import Any


async def drain_buffer(producer: Any) -> None:
    """Every record waiting in Faust's producer buffer handed to Kafka's producer."""
    buffer = producer.buffer
    while buffer.size:
        await buffer.flush_atmost(buffer.size)


async def flush_fully(producer: Any) -> None:
    """The buffer drained, then Kafka's producer flushed: every record sent so far is
    acknowledged by the broker."""
    await drain_buffer(producer)
    await producer.flush()
