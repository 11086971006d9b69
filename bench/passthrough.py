"""The raw Faust ceiling: a bare agent that forwards each record, nothing else.

Run as its own process by bench/throughput.py: `python -m bench.passthrough worker`.
Same broker, same partition count, same serializers (raw bytes) as heard's worker.
With BENCH_MID set, records make two hops (in -> mid -> out) through two agents, as a
message does in heard (ticket event -> lifecycle -> outbox -> deliver).
"""

from __future__ import annotations

import os

import faust

app = faust.App(
    os.environ.get("BENCH_APP_ID", "bench-passthrough"),
    broker=f"kafka://{os.environ.get('BENCH_BOOTSTRAP', '127.0.0.1:9092')}",
    store="memory://",
    web_enabled=False,
    topic_partitions=4,
    datadir=os.environ.get("BENCH_DATA_DIR", ".heard/bench-data"),
    processing_guarantee="at_least_once",
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
)
source = app.topic(
    os.environ.get("BENCH_IN", "bench-in"),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)
sink = app.topic(
    os.environ.get("BENCH_OUT", "bench-out"),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)


middle_name = os.environ.get("BENCH_MID", "")
middle = (
    app.topic(middle_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    if middle_name
    else None
)


@app.agent(source, concurrency=1)
async def forward(stream: faust.StreamT[bytes]) -> None:
    target = middle if middle is not None else sink
    async for event in stream.events():
        await target.send(key=event.key, value=event.value)


if middle is not None:

    @app.agent(middle, concurrency=1)
    async def forward_again(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)


if __name__ == "__main__":
    app.main()
