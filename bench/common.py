"""Shared pieces of the benchmarks: a local stack on 127.0.0.1 and a worker process."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from heard.devstack import worker as devstack_worker
from heard.devstack.kafka import KafkaBroker, KafkaCluster, free_port, stop_pid

REPO = Path(__file__).resolve().parent.parent
RESTORED = re.compile(r"timers restored: (\d+) tickets")


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    """Publish (key, value) records and return once Kafka acknowledged them all."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class LocalStack:
    """A fresh Kafka broker (or a cluster of `nodes` brokers, or an external cluster at
    `bootstrap`) and the mail/SMS catchers, as child processes on 127.0.0.1."""

    def __init__(self, work: Path, nodes: int = 1, bootstrap: str | None = None) -> None:
        self.work = work
        self.broker = KafkaBroker(work / "kafka", port=free_port())
        self.cluster = KafkaCluster(work / "cluster", size=nodes) if nodes > 1 else None
        self.external = bootstrap
        self.mail_port, self.sms_port = free_port(), free_port()
        self.catchers: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if self.external:
            return self.external
        return self.cluster.bootstrap if self.cluster is not None else self.broker.bootstrap

    @property
    def mail_dir(self) -> Path:
        return self.work / "outbox" / "mail"

    @property
    def sms_dir(self) -> Path:
        return self.work / "outbox" / "sms"

    def start_catchers(self, sms_faults: str = "") -> None:
        self.catchers = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "heard.devstack.catchers",
                "--dir",
                str(self.work / "outbox"),
                "--mail-port",
                str(self.mail_port),
                "--sms-port",
                str(self.sms_port),
                "--sms-faults",
                sms_faults,
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.mail_port)) == 0:
                    return
            time.sleep(0.1)  # polls the port; bounded by the deadline
        raise RuntimeError("the mail catcher did not start")

    def stop_catchers(self) -> None:
        if self.catchers is not None:
            stop_pid(self.catchers.pid, 10, self.catchers)
            self.catchers = None

    def __enter__(self) -> LocalStack:
        if self.cluster is not None:
            self.cluster.start(timeout=180)
        elif not self.external:
            self.broker.start(timeout=90)
        self.start_catchers()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_catchers()
        if self.cluster is not None:
            self.cluster.stop()
        self.broker.stop()


class WorkerProcess(devstack_worker.WorkerProcess):
    """`heard worker` run from the checkout, with the restored-timers milestone."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(env, log, cwd=REPO, grace=30)

    def wait_for_restored(self, minimum: int, timeout: float) -> tuple[float, int]:
        """Seconds from start until the worker reports at least `minimum` timers restored."""

        def restored(text: str) -> int | None:
            counts = [int(n) for n in RESTORED.findall(text)]
            return max(counts) if counts and max(counts) >= minimum else None

        return self.wait_for(restored, timeout, f"{minimum} timers restored")


def worker_env(
    bootstrap: str, prefix: str, app_id: str, mail_port: int, sms_port: int, **extra: str
) -> dict[str, str]:
    env = {
        **os.environ,
        "HEARD_CONFIG_DIR": str(REPO / "config"),
        "HEARD_TEMPLATES_DIR": str(REPO / "templates"),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HEARD_TOPIC_PREFIX": prefix,
        "HEARD_APP_ID": app_id,
        "HEARD_WEB_ENABLED": "false",
        "HEARD_WEB_PORT": str(free_port()),
        "SMTP_PORT": str(mail_port),
        "TWILIO_BASE_URL": f"http://127.0.0.1:{sms_port}",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": "bench-token",
    }
    env.update(extra)
    return env
