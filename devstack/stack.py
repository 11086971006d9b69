"""`heard dev up | down | status`: the local stack, started in the background.

Kafka (from Maven jars), the mail catcher and the SMS capture, all on
127.0.0.1. PIDs go into `<state>/stack.json`; `down` stops exactly those.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from heard.devstack.kafka import KafkaBroker, StackError, pid_alive, require_free_port, stop_pid


@dataclass(frozen=True)
class StackPorts:
    kafka: int
    mail: int
    sms: int

    @classmethod
    def from_env(cls) -> StackPorts:
        env = os.environ
        return cls(
            int(env.get("HEARD_KAFKA_PORT", "9092")),
            int(env.get("HEARD_MAIL_PORT", "1025")),
            int(env.get("HEARD_SMS_PORT", "8025")),
        )


def state_dir() -> Path:
    return Path(os.environ.get("HEARD_STATE_DIR", ".heard")).resolve()


def _manifest() -> Path:
    return state_dir() / "stack.json"


def read_manifest() -> dict[str, dict[str, int]] | None:
    path = _manifest()
    if not path.exists():
        return None
    data: dict[str, dict[str, int]] = json.loads(path.read_text())
    return data


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"a stack process exited early (code {process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)  # polls the port; bounded by the deadline
    raise StackError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


def say(what: str) -> None:
    """What the stack is doing, on stderr, while a new user waits for it."""
    print(f"dev stack: {what}", file=sys.stderr, flush=True)


def up(ports: StackPorts | None = None) -> dict[str, dict[str, int]]:
    if importlib.util.find_spec("aiosmtpd") is None:
        raise StackError("the local stack's mail catcher needs aiosmtpd: pip install 'heard[devstack]'")
    ports = ports or StackPorts.from_env()
    existing = read_manifest()
    if existing and all(pid_alive(item["pid"]) for item in existing.values()):
        return existing
    if existing:
        down()
    require_free_port(ports.mail, "the mail catcher", "HEARD_MAIL_PORT")
    require_free_port(ports.sms, "the SMS capture", "HEARD_SMS_PORT")
    root = state_dir()
    (root / "kafka").mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)  # captured messages and the broker's logs: this user's alone
    broker = KafkaBroker(root / "kafka", port=ports.kafka)
    say(f"starting Kafka on 127.0.0.1:{ports.kafka} (KRaft, one node; about 10 s)")
    broker.start(detach=True)
    say(f"starting the mail catcher on :{ports.mail} and the SMS capture on :{ports.sms}")
    assert broker.process is not None
    manifest = {"kafka": {"pid": broker.process.pid, "port": ports.kafka}}
    try:
        log = (root / "catchers.log").open("wb")
        catchers = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "heard.devstack.catchers",
                "--dir",
                str(root / "outbox"),
                "--mail-port",
                str(ports.mail),
                "--sms-port",
                str(ports.sms),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        manifest["catchers"] = {"pid": catchers.pid, "port": ports.mail, "sms_port": ports.sms}
        wait_for_port(ports.mail, 15, catchers)
        wait_for_port(ports.sms, 15, catchers)
    except (StackError, OSError):
        broker.stop()
        if "catchers" in manifest:
            stop_pid(manifest["catchers"]["pid"], 5)
        raise
    _manifest().write_text(json.dumps(manifest, indent=2))
    return manifest


def down() -> list[str]:
    manifest = read_manifest()
    stopped = []
    if manifest:
        for name, item in manifest.items():
            if pid_alive(item["pid"]):
                stop_pid(item["pid"], 20)
                stopped.append(name)
        _manifest().unlink()
    return stopped


def status() -> list[str]:
    manifest = read_manifest()
    if not manifest:
        return ["stack is not running (heard dev up starts it)"]
    return [
        f"{name:9} pid {item['pid']:>7}  port {item['port']:>5}  "
        f"{'running' if pid_alive(item['pid']) else 'NOT RUNNING'}"
        for name, item in manifest.items()
    ]
