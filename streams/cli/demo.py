"""`heard demo`: the main job on the embedded default, end to end.

Starts the local stack, runs a worker, publishes sample ticket stories (their
times shifted so the last event happens now), waits until the worker has
delivered everything it decided, and prints what the customers received.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import sys
import time
from email import policy
from pathlib import Path

from heard.devstack import stack
from heard.devstack.kafka import free_port
from heard.devstack.worker import WorkerProcess
from heard.streams.cli.event_files import read_events, send_events
from heard.streams.delivery.config import load_settings
from heard.streams.kafka.readback import read_topic

DEMO_ENV = {
    "HEARD_ACK_HOLD_SECONDS": "2",
    "HEARD_CLOSURE_GRACE_SECONDS": "5",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "local-capture-token",
}


async def _settled(config: Path, quiet_seconds: float, limit_seconds: float) -> list[dict[str, object]]:
    """Poll notification-events until nothing new has arrived for `quiet_seconds`."""
    settings = load_settings(config)
    topic = settings.engine.topic("notification_events")
    deadline = time.monotonic() + limit_seconds
    seen, last_change = -1, time.monotonic()
    events: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        records = await read_topic(settings.engine, topic, timeout_ms=500)
        events = [json.loads(value) for _, value, _ in records]
        if len(events) != seen:
            seen, last_change = len(events), time.monotonic()
        elif events and time.monotonic() - last_change >= quiet_seconds:
            break
        await asyncio.sleep(0.5)  # polls the outcomes topic; bounded by the limit
    return events


def run_demo(events_file: Path, config: Path, keep: bool = False) -> int:
    valid, problems = read_events(events_file)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    manifest = stack.up()
    root = stack.state_dir()
    run_id = time.strftime("%Y%m%d%H%M%S")
    env = {
        **os.environ,
        **DEMO_ENV,
        "HEARD_CONFIG_DIR": str(config),
        "HEARD_TOPIC_PREFIX": f"demo-{run_id}.",
        "HEARD_APP_ID": f"heard-demo-{run_id}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{manifest['kafka']['port']}",
        "SMTP_PORT": str(manifest["catchers"]["port"]),
        "TWILIO_BASE_URL": f"http://127.0.0.1:{manifest['catchers']['sms_port']}",
        "HEARD_WEB_PORT": str(free_port()),
    }
    os.environ.update(env)
    mail_dir, sms_dir = root / "outbox" / "mail", root / "outbox" / "sms"
    before = set(mail_dir.glob("*.eml")) | set(sms_dir.glob("*.json"))
    log = root / f"worker-{run_id}.log"
    worker = WorkerProcess(env, log)
    worker.start()
    try:
        worker.wait_for_line("Ready", 90)
        settings = load_settings(config)
        asyncio.run(send_events(settings, valid, rebase_to_now=True))
        print(f"published {len(valid)} events from {events_file}; waiting for deliveries ...")
        outcomes = asyncio.run(_settled(config, quiet_seconds=8, limit_seconds=90))
    finally:
        worker.stop()
        if not keep:
            stack.down()
    report(outcomes, before, mail_dir, sms_dir)
    print(f"\nworker log: {log}")
    if keep:
        print("local stack left running; stop it with: heard dev down")
    return 0 if any(o.get("status") == "sent" for o in outcomes) else 1


def report(outcomes: list[dict[str, object]], before: set[Path], mail_dir: Path, sms_dir: Path) -> None:
    print(f"\n{'ticket':<10} {'kind':<22} {'channel':<7} {'status':<9} detail")
    for item in outcomes:
        print(
            f"{item['ticket_id']!s:<10} {item['kind']!s:<22} {item['channel']!s:<7} "
            f"{item['status']!s:<9} {item['reason']}"
        )
    new_mail = sorted(set(mail_dir.glob("*.eml")) - before)
    new_sms = sorted(set(sms_dir.glob("*.json")) - before)
    print(f"\ncaptured {len(new_mail)} emails and {len(new_sms)} SMS:")
    for path in new_mail:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        subject = " ".join(str(message["Subject"]).split())  # unfolded for display
        print(f"  {path}\n      To: {message['To']}\n      Subject: {subject}")
    for path in new_sms:
        record = json.loads(path.read_text())
        print(f"  {path}\n      To: {record['To']}\n      Body: {record['Body']}")
