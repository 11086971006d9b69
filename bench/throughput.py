"""Throughput and latency of heard next to the raw ceilings of its parts, in one run.

    python -m bench.throughput [--events 20000] [--messages 3000] [--latency-seconds 20]
                               [--warmup-seconds 10] [--concurrency 8]

On a fresh local stack (Kafka, the mail catcher and the SMS capture as separate
processes on 127.0.0.1), it measures and prints side by side:

1. raw ceilings: a bare Faust agent forwarding records on the same topic layout;
   prebuilt message bytes sent with aiosmtplib over the same number of connections
   to the same mail catcher; the twilio SDK creating messages on the same SMS capture;
2. heard end to end: events/s for events that produce no message (internal notes);
   acknowledgment emails/s and SMS/s (event published -> provider accepted); and
   p50/p95/p99 latency at half the measured email rate, after a paced warm-up;
3. the ratios heard / ceiling, with 1 and 2 worker processes for email.

Writes build/bench/throughput.json, build/bench/throughput.png and a Markdown table.
Every phase is bounded in count and time and stops what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from twilio.rest import Client

from bench.common import REPO, LocalStack, WorkerProcess, produce, worker_env
from heard.channels.base import OutboundMessage
from heard.channels.email_smtp import EmailSettings, build_email
from heard.channels.sms_twilio import BaseUrlHttpClient
from heard.devstack.kafka import stop_pid
from heard.streams.base.settings import EngineSettings
from heard.streams.contract import stories
from heard.streams.kafka.readback import partition_ids
from heard.streams.kafka.topics import ensure_topics

PARTITIONS = 4
SMTP_CONNECTIONS = 4  # config/channels.yaml email.pool_size
SID = "AC00000000000000000000000000000000"


# ------------------------------------------------------------------ Kafka helpers


async def topic_size(bootstrap: str, topic: str) -> int:
    engine = EngineSettings(bootstrap_servers=bootstrap)
    ids = await partition_ids(engine, topic)
    if not ids:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in ids])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def watch_rate(bootstrap: str, topic: str, target: int, limit_seconds: float) -> float:
    """Records/s on `topic` from the first record seen until `target` are there."""
    deadline = time.monotonic() + limit_seconds
    first: float | None = None
    start_count = 0
    while time.monotonic() < deadline:
        count = await topic_size(bootstrap, topic)
        now = time.monotonic()
        if first is None and count > 0:
            first, start_count = now, count
        if count >= target:
            assert first is not None
            elapsed = max(now - first, 1e-6)
            return (count - start_count) / elapsed if count > start_count else float("nan")
        await asyncio.sleep(0.1)  # polls end offsets; bounded by the deadline
    raise RuntimeError(f"{topic}: {target} records not reached in {limit_seconds} s")


async def read_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    from heard.streams.kafka.readback import read_topic

    engine = EngineSettings(bootstrap_servers=bootstrap)
    return [json.loads(value) for _, value, _ in await read_topic(engine, topic)]


# ------------------------------------------------------------------ ceilings
def passthrough(stack: LocalStack, work: Path, events: int, hops: int = 1) -> float:
    prefix = f"pt{uuid.uuid4().hex[:6]}"
    source, middle, sink = f"{prefix}-in", f"{prefix}-mid", f"{prefix}-out"
    engine = EngineSettings(
        bootstrap_servers=stack.bootstrap, topic_prefix=f"{prefix}.", partitions=PARTITIONS
    )

    async def prepare() -> None:
        await ensure_topics(engine)
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (source, middle, sink)])
        finally:
            await admin.close()
        body = stories.dumps(stories.created("X", eid="x"))
        await produce(stack.bootstrap, source, [(f"T-{n}".encode(), body) for n in range(events)])

    asyncio.run(prepare())
    env = {
        "BENCH_BOOTSTRAP": stack.bootstrap,
        "BENCH_IN": source,
        "BENCH_OUT": sink,
        "BENCH_APP_ID": prefix,
        "BENCH_DATA_DIR": str(work / f"data-{prefix}"),
        "BENCH_MID": middle if hops == 2 else "",
    }
    import os
    import subprocess
    import sys

    log = (work / f"{prefix}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.passthrough", "worker", "-l", "warn"],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        return asyncio.run(watch_rate(stack.bootstrap, sink, events, 600))
    finally:
        stop_pid(process.pid, 20, process)


async def smtp_ceiling(stack: LocalStack, messages: int) -> float:
    config = EmailSettings(
        host="127.0.0.1",
        port=stack.mail_port,
        from_address="s@example.com",
        from_name="Support",
        message_id_domain="bench.example.com",
    )
    prebuilt = build_email(
        config,
        OutboundMessage(
            notification_id="n",
            ticket_id="T-1",
            to="c@example.net",
            subject="We have it",
            text="Hi Amara,\n\n" + "We have your message. " * 20,
            html="<p>Hi Amara</p>" * 20,
            display_name="Amara Okafor",
        ),
    )
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(messages):
        queue.put_nowait(n)

    async def sender() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=stack.mail_port, start_tls=False)
        await client.connect()
        try:
            while not queue.empty():
                queue.get_nowait()
                await client.sendmail("s@example.com", ["c@example.net"], prebuilt)
        finally:
            await client.quit()

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(SMTP_CONNECTIONS)))
    return messages / (time.monotonic() - started)


async def sms_ceiling(stack: LocalStack, messages: int, concurrency: int) -> float:
    http = BaseUrlHttpClient(f"http://127.0.0.1:{stack.sms_port}", 10)
    client = Client(SID, "bench-token", http_client=http)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(messages):
        queue.put_nowait(n)

    async def sender() -> None:
        while not queue.empty():
            queue.get_nowait()
            await client.messages.create_async(
                to="+48512345678", from_="+15005550006", body="Hi Łukasz, we have your message."
            )

    started = time.monotonic()
    try:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    finally:
        await http.close()
    return messages / (time.monotonic() - started)


# ------------------------------------------------------------------ heard
# Each heard run's stage times (µs per run), by the run's label: written to the JSON.
STAGES: dict[str, dict[str, float]] = {}


def heard_workers(
    stack: LocalStack, work: Path, prefix: str, count: int, **extra: str
) -> list[WorkerProcess]:
    workers = []
    for n in range(count):
        settings = {"HEARD_ACK_HOLD_SECONDS": "0", **extra}
        env = worker_env(
            stack.bootstrap,
            prefix,
            f"heard-{prefix.rstrip('.')}",
            stack.mail_port,
            stack.sms_port,
            HEARD_DATA_DIR=str(work / f"data-{prefix}{n}"),
            **settings,
        )
        worker = WorkerProcess(env, work / f"{prefix}{n}.log")
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.wait_for_line("Ready", 180)
    return workers


STAGE_LINE = re.compile(r"stage times: (\{.*\})")


def stage_times(workers: list[WorkerProcess]) -> dict[str, float]:
    """µs per run of each stage, from the line each worker logs as it stops (runs summed
    over the workers, time weighted by runs)."""
    total: dict[str, float] = {}
    runs: dict[str, int] = {}
    for worker in workers:
        found = STAGE_LINE.findall(worker.log.read_text(errors="replace"))
        if not found:
            continue
        for stage, figures in json.loads(found[-1]).items():
            total[stage] = total.get(stage, 0.0) + figures["us_per_run"] * figures["runs"]
            runs[stage] = runs.get(stage, 0) + figures["runs"]
    times = {stage: round(total[stage] / runs[stage], 1) for stage in sorted(runs)}
    for stage in [s for s in runs if s.endswith(".batches")]:
        # The records a batch held on average, beside the time a batch took.
        handled = runs.get(stage.replace(".batches", ".handled"), 0)
        times[stage.replace(".batches", ".records_per_batch")] = round(handled / runs[stage], 1)
    return times


def customer(n: int, channel: str) -> dict[str, Any]:
    if channel == "sms":
        return stories.customer(
            name=f"Łukasz {n}",
            preferred_name="Łukasz",
            phone="+48 512 345 678",
            preferred_channel="sms",
            consent={"email": True, "sms": True},
        )
    return stories.customer(name=f"Amara {n}", preferred_name="Amara", email=f"amara{n}@example.net")


def created_events(
    prefix: str, count: int, channel: str, at: Callable[[], datetime]
) -> list[tuple[bytes, bytes]]:
    items = []
    for n in range(count):
        ticket = f"{prefix}{n}"
        items.append(
            (
                ticket.encode(),
                stories.dumps(
                    stories.created(
                        ticket, at(), eid=f"{ticket}-c", urgent=True, customer=customer(n, channel)
                    )
                ),
            )
        )
    return items


def heard_messages(
    stack: LocalStack,
    work: Path,
    label: str,
    messages: int,
    channel: str,
    workers: int = 1,
    concurrency: int = 1,
) -> float:
    prefix = f"{label}."
    engine = EngineSettings(bootstrap_servers=stack.bootstrap, topic_prefix=prefix, partitions=PARTITIONS)
    asyncio.run(ensure_topics(engine, [30, 300, 1800]))
    running = heard_workers(stack, work, prefix, workers, HEARD_DELIVERY_CONCURRENCY=str(concurrency))
    try:
        asyncio.run(
            produce(
                stack.bootstrap,
                engine.topic("ticket_events"),
                created_events(f"{label}-", messages, channel, lambda: datetime.now(UTC)),
            )
        )
        rate = asyncio.run(watch_rate(stack.bootstrap, engine.topic("notification_events"), messages, 900))
    finally:
        for worker in running:
            worker.stop()
    STAGES[label] = stage_times(running)
    return rate


def heard_silent_events(stack: LocalStack, work: Path, events: int) -> float:
    """Internal notes on existing tickets: state + decision log, no message."""
    prefix = "silent."
    engine = EngineSettings(bootstrap_servers=stack.bootstrap, topic_prefix=prefix, partitions=PARTITIONS)
    asyncio.run(ensure_topics(engine, [30, 300, 1800]))
    tickets = 200
    start = datetime.now(UTC)
    items = [
        (
            f"S-{n}".encode(),
            stories.dumps(stories.created(f"S-{n}", start, eid=f"S-{n}-c", customer=customer(n, "email"))),
        )
        for n in range(tickets)
    ]
    for n in range(events):
        ticket = f"S-{n % tickets}"
        items.append(
            (
                ticket.encode(),
                stories.dumps(stories.reply(ticket, start, public=False, eid=f"{ticket}-note-{n}")),
            )
        )
    asyncio.run(produce(stack.bootstrap, engine.topic("ticket_events"), items))
    # Decisions: one record per event, the created ones too (more with `decision_records: line`).
    running = heard_workers(stack, work, prefix, 1, HEARD_ACK_HOLD_SECONDS="3600")
    try:
        rate = asyncio.run(watch_rate(stack.bootstrap, engine.topic("decisions"), events + tickets, 900))
    finally:
        for worker in running:
            worker.stop()
    STAGES["silent"] = stage_times(running)
    return rate


async def paced(bootstrap: str, topic: str, rate: float, total: int, produced: dict[str, datetime]) -> None:
    """`total` acknowledgment events, event n leaving at n / rate seconds; `produced` keeps
    when each left."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    started = time.monotonic()
    try:
        for n in range(total):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ticket = f"L-{n}"
            produced[ticket] = datetime.now(UTC)
            event = stories.created(
                ticket, produced[ticket], eid=f"{ticket}-c", urgent=True, customer=customer(n, "email")
            )
            await producer.send(topic, stories.dumps(event), key=ticket.encode())
        await producer.flush()
    finally:
        await producer.stop()


def heard_latency(
    stack: LocalStack, work: Path, rate: float, seconds: float, concurrency: int, warmup: float
) -> dict[str, Any]:
    """Paced acknowledgment events at `rate`/s; latency = provider accepted - event produced.

    The first `warmup` seconds of the same paced stream are left out of the percentiles
    (first sends to each topic fetch metadata, connections open, templates compile, the
    state cache is cold); their worst latency is reported beside them, and the chart
    shows every message over time.
    """
    prefix = "latency."
    engine = EngineSettings(bootstrap_servers=stack.bootstrap, topic_prefix=prefix, partitions=PARTITIONS)
    asyncio.run(ensure_topics(engine, [30, 300, 1800]))
    running = heard_workers(stack, work, prefix, 1, HEARD_DELIVERY_CONCURRENCY=str(concurrency))
    total = int(rate * (warmup + seconds))
    produced: dict[str, datetime] = {}
    try:
        asyncio.run(paced(stack.bootstrap, engine.topic("ticket_events"), rate, total, produced))
        asyncio.run(watch_rate(stack.bootstrap, engine.topic("notification_events"), total, 300))
        outcomes = asyncio.run(read_all(stack.bootstrap, engine.topic("notification_events")))
    finally:
        for worker in running:
            worker.stop()
    return latency_figures(produced, outcomes, rate, warmup)


def latency_figures(
    produced: dict[str, datetime], outcomes: list[dict[str, Any]], rate: float, warmup: float
) -> dict[str, Any]:
    """Each message's time from its event to the provider's acceptance, in percentiles
    after the warm-up, and the whole series for the chart."""
    first = min(produced.values())
    series = sorted(
        (
            (produced[o["ticket_id"]] - first).total_seconds(),
            (datetime.fromisoformat(o["at"]) - produced[o["ticket_id"]]).total_seconds() * 1000,
        )
        for o in outcomes
        if o["status"] == "sent" and o["ticket_id"] in produced
    )
    latencies = sorted(latency for at, latency in series if at >= warmup)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "rate_per_s": round(rate, 1),
        "messages": len(latencies),
        "warmup_s": warmup,
        "warmup_messages": len(series) - len(latencies),
        "warmup_max_ms": round(max((lat for at, lat in series if at < warmup), default=0), 1),
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(latencies[-1], 1),
        "samples_ms": [round(x, 1) for x in latencies],
        "series": [[round(at, 3), round(latency, 1)] for at, latency in series],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=10,
        help="paced load before the latency window, left out of percentiles",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="HEARD_DELIVERY_CONCURRENCY for the concurrent runs (1 is also run)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"partitions": PARTITIONS, "smtp_connections": SMTP_CONNECTIONS}
    with tempfile.TemporaryDirectory(prefix="heard-bench-") as folder, LocalStack(Path(folder)) as stack:
        work = Path(folder)
        result["ceiling_faust_passthrough_eps"] = passthrough(stack, work, args.events)
        # What Faust alone allows a message, which crosses two agents in heard.
        result["faust_two_hops_eps"] = passthrough(stack, work, args.messages * 2, hops=2)
        # The peers' ceilings are cheap to measure and noisy on a shared machine: the best
        # of three runs is the ceiling (the stricter comparison for heard).
        result["ceiling_smtp_prebuilt_mps"] = max(
            asyncio.run(smtp_ceiling(stack, args.messages)) for _ in range(3)
        )
        result["ceiling_sms_sdk_mps_1"] = max(
            asyncio.run(sms_ceiling(stack, args.messages, 1)) for _ in range(3)
        )
        result["ceiling_sms_sdk_mps_n"] = max(
            asyncio.run(sms_ceiling(stack, args.messages, args.concurrency)) for _ in range(3)
        )
        result["heard_silent_eps"] = heard_silent_events(stack, work, args.events)
        best = args.concurrency
        result["delivery_concurrency"] = best
        result["heard_email_mps_sequential"] = heard_messages(stack, work, "email1", args.messages, "email")
        result["heard_email_mps"] = heard_messages(
            stack, work, "emailc", args.messages, "email", concurrency=best
        )
        result["heard_sms_mps_sequential"] = heard_messages(stack, work, "sms1", args.messages, "sms")
        result["heard_sms_mps"] = heard_messages(stack, work, "smsc", args.messages, "sms", concurrency=best)
        result["heard_email_mps_2_workers"] = heard_messages(
            stack, work, "email2", args.messages, "email", workers=2, concurrency=best
        )
        result["latency"] = heard_latency(
            stack, work, result["heard_email_mps"] / 2, args.latency_seconds, best, args.warmup_seconds
        )
    result["stages_us_per_run"] = dict(STAGES)
    (args.out / "throughput.json").write_text(json.dumps(result, indent=2))
    table = markdown(result)
    (args.out / "throughput.md").write_text(table)
    chart(result, args.out / "throughput.png")
    print(table)
    print(f"written: {args.out / 'throughput.json'}, throughput.md, throughput.png")


TARGETS = (
    (
        "events without a message",
        "heard_silent_eps",
        "ceiling_faust_passthrough_eps",
        "bare Faust pass-through",
        0.90,
    ),
    (
        "acknowledgment emails, one at a time",
        "heard_email_mps_sequential",
        "ceiling_smtp_prebuilt_mps",
        f"prebuilt bytes, aiosmtplib, {SMTP_CONNECTIONS} connections",
        0.60,
    ),
    (
        "acknowledgment emails, concurrent",
        "heard_email_mps",
        "ceiling_smtp_prebuilt_mps",
        f"prebuilt bytes, aiosmtplib, {SMTP_CONNECTIONS} connections",
        0.60,
    ),
    (
        "SMS, one at a time",
        "heard_sms_mps_sequential",
        "ceiling_sms_sdk_mps_1",
        "twilio SDK, one at a time",
        0.60,
    ),
    ("SMS, concurrent", "heard_sms_mps", "ceiling_sms_sdk_mps_n", "twilio SDK, as many at a time", 0.60),
)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| path | heard /s | ceiling /s | ceiling measured as | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, mine, ceiling, how, target in TARGETS:
        label = label.replace("concurrent", f"{result['delivery_concurrency']} at a time")
        ratio = result[mine] / result[ceiling]
        lines.append(
            f"| {label} | {result[mine]:,.0f} | {result[ceiling]:,.0f} | {how} | "
            f"{ratio:.0%} | {target:.0%} | {'yes' if ratio >= target else 'no'} |"
        )
    latency = result["latency"]
    lines.append(
        f"| email latency at {latency['rate_per_s']:.0f}/s (half load) | "
        f"p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, "
        f"p99 {latency['p99_ms']} ms (max {latency['max_ms']} ms; worst in the "
        f"{latency['warmup_s']:g} s warm-up {latency['warmup_max_ms']} ms) | | | | "
        f"p99 ≤ 250 ms | {'yes' if latency['p99_ms'] <= 250 else 'no'} |"
    )
    lines.append(
        f"| two Faust hops, no work (a message's floor) | | "
        f"{result['faust_two_hops_eps']:,.0f} | bare Faust, in -> mid -> out | | | |"
    )
    scale = result["heard_email_mps_2_workers"] / result["heard_email_mps"]
    lines.append(
        f"| emails, 2 worker processes | {result['heard_email_mps_2_workers']:,.0f} | | "
        f"| {scale:.2f}x one worker | | |"
    )
    return "\n".join(lines) + "\n" + stage_table(result)


# The runs whose stages the table shows, with the rate each ran at.
STAGE_RUNS = (
    ("events without a message", "silent", "heard_silent_eps"),
    ("emails, one at a time", "email1", "heard_email_mps_sequential"),
    ("emails, concurrent", "emailc", "heard_email_mps"),
    ("SMS, one at a time", "sms1", "heard_sms_mps_sequential"),
    ("SMS, concurrent", "smsc", "heard_sms_mps"),
)


def stage_table(result: dict[str, Any]) -> str:
    """Where a record's time goes, µs per run of each stage; what heard's handler does not
    account for (1 s / rate, less the handler's time) is Faust's per-record path, commits,
    the producer and the event loop."""
    stages = result.get("stages_us_per_run", {})
    lines = ["", "| run | stage | µs per record |", "|---|---|---|"]
    for label, key, rate in STAGE_RUNS:
        times = stages.get(key) or {}
        handled = [v for k, v in times.items() if k.endswith(".handled")]
        for stage, figure in times.items():
            unit = (
                "records, not µs"
                if stage.endswith(".records_per_batch")
                else "µs per batch"
                if stage.endswith(".batches")
                else ""
            )
            lines.append(f"| {label} | {stage}{f' ({unit})' if unit else ''} | {figure:,.1f} |")
        # With one agent at work, what its handler does not account for is Faust's; with two,
        # one works while the other waits on a provider or on Kafka, and their times overlap.
        if len(handled) == 1:
            outside = 1e6 / result[rate] - handled[0]
            lines.append(f"| {label} | outside heard's handlers (1 s / rate − handled) | {outside:,.1f} |")
    return "\n".join(lines) + "\n"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, hist, over_time) = plt.subplots(
        1, 3, figsize=(17, 4.4), gridspec_kw={"width_ratios": [1.4, 1, 1]}
    )
    n = result["delivery_concurrency"]
    labels = [
        "events,\nno message",
        "emails,\n1 at a time",
        f"emails,\n{n} at a time",
        "SMS,\n1 at a time",
        f"SMS,\n{n} at a time",
    ]
    mine = [result[key] for _, key, *_ in TARGETS]
    ceilings = [result[key] for _, _, key, *_ in TARGETS]
    positions = range(len(labels))
    bars.bar([p - 0.2 for p in positions], ceilings, width=0.4, label="raw ceiling", color="#b0b0b0")
    bars.bar([p + 0.2 for p in positions], mine, width=0.4, label="heard", color="#2a9d8f")
    bars.set_xticks(list(positions), labels, fontsize="small")
    bars.set_ylabel("per second")
    bars.set_title("Throughput per path vs the part's ceiling")
    bars.legend()
    samples = result["latency"]["samples_ms"]
    hist.hist(samples, bins=40, color="#e9c46a")
    for pct in ("p50_ms", "p95_ms", "p99_ms"):
        hist.axvline(result["latency"][pct], color="#444", linestyle="--", linewidth=0.8)
    hist.set_xlabel("event produced -> provider accepted (ms)")
    hist.set_title(f"Email latency at {result['latency']['rate_per_s']:.0f}/s (after warm-up)")
    series = result["latency"]["series"]
    over_time.scatter([at for at, _ in series], [ms for _, ms in series], s=2, color="#264653")
    over_time.axvline(
        result["latency"]["warmup_s"], color="#e76f51", linestyle="--", linewidth=0.8, label="end of warm-up"
    )
    over_time.set_xlabel("seconds since the first event")
    over_time.set_ylabel("latency (ms)")
    over_time.set_title("Every message over time")
    over_time.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
