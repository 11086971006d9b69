"""The container contract, tested without a Docker engine.

The image (Dockerfile) builds heard's wheel, installs it with the locked runtime dependencies
into an empty virtualenv, and runs `heard worker` or `heard ingest` as `nobody`, with a
read-only install, config and templates mounted, a writable data volume and the environment
docker-compose.yml sets. This test does the same on this machine: it builds the wheel from the
source folders, installs it into a new venv outside the checkout, and runs each compose
service's command as an unprivileged user with only that environment — then a signed help-desk
webhook goes through ingest and Kafka to the worker, which sends the acknowledgment.

What a container's network and volumes would change is changed here, and nothing else: host
names and ports point at this test's Kafka, mail catcher and SMS capture on 127.0.0.1, servers
bind 127.0.0.1, and the image's paths (/etc/heard, /var/lib/heard) are folders of the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from heard.devstack.kafka import free_port, stop_pid
from tests.conftest import Catchers, wait_until
from tests.connector_signing import SECRETS, signed_headers
from tests.peers import REPO

pytestmark = pytest.mark.integration

SOURCE_FOLDERS = ("streams", "channels", "devstack")
# Shipped inside the wheel as data (heard.defaults.*), for `heard init`.
DATA_FOLDERS = ("config", "templates")
# ${VAR}, ${VAR:-default}, ${VAR?error} and ${VAR:?error}, as compose reads them.
COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?:(:-|:\?|\?)([^}]*))?\}")
UNPRIVILEGED = "nobody"


def compose_service(name: str) -> dict[str, object]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service: dict[str, object] = compose["services"][name]
    return service


def compose_environment(name: str, host_env: dict[str, str]) -> dict[str, str]:
    """The service's environment as compose would set it, `${VAR:-default}` resolved."""
    raw = compose_service(name)["environment"]
    assert isinstance(raw, dict)

    def variable(match: re.Match[str]) -> str:
        name, operator, word = match.group(1), match.group(2), match.group(3) or ""
        unset = name not in host_env if operator == "?" else not host_env.get(name)
        if operator in ("?", ":?") and unset:
            raise AssertionError(f"compose stops: {name}: {word}")
        return host_env.get(name) or (word if operator == ":-" else "")

    def resolve(value: object) -> str:
        return COMPOSE_VARIABLE.sub(variable, str(value))

    return {key: resolve(value) for key, value in raw.items()}


def image_environment() -> dict[str, str]:
    """HEARD_* variables the Dockerfile's runtime stage sets with ENV."""
    runtime_stage = (REPO / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    return dict(re.findall(r"\b(HEARD_[A-Z_]+)=(\S+)", runtime_stage))


def expected_packages() -> set[str]:
    return {
        "heard/" + str(init.parent.relative_to(REPO))
        for top in SOURCE_FOLDERS
        for init in (REPO / top).rglob("__init__.py")
        if "node_modules" not in init.parts
    }


def read_only(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        if not item.is_symlink():
            item.chmod(stat.S_IMODE(item.stat().st_mode) & ~0o222)


def as_unprivileged() -> dict[str, object]:
    """Popen arguments that drop root for the service, as the image's `USER nobody` does."""
    if os.geteuid() != 0:
        return {}  # already unprivileged; the read-only install is enforced by permissions
    return {"user": UNPRIVILEGED, "group": pwd.getpwnam(UNPRIVILEGED).pw_gid, "extra_groups": []}


class Image:
    """A wheel installed into an empty venv, laid out as the image lays it out."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wheel = root / "dist" / "(not built)"
        self.venv = root / "opt-heard"
        self.etc = root / "etc-heard"
        self.data = root / "var-lib-heard"
        self.logs = root / "logs"

    def build(self) -> Path:
        source = self.root / "src"
        source.mkdir()
        for name in ("pyproject.toml", "setup.py", "README.md"):
            shutil.copy2(REPO / name, source / name)
        for top in (*SOURCE_FOLDERS, *DATA_FOLDERS):
            shutil.copytree(
                REPO / top, source / top, ignore=shutil.ignore_patterns("__pycache__", "node_modules")
            )
        dist = self.root / "dist"
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(dist),
                str(source),
            ],
            "build the wheel",
        )
        (self.wheel,) = dist.glob("heard-*.whl")
        return self.wheel

    def install(self, wheel: Path) -> None:
        run([base_python(), "-m", "venv", str(self.venv)], "create the venv")
        pip = [str(self.venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
        run(
            [*pip, "--require-hashes", "--no-deps", "-r", str(REPO / "requirements.txt")],
            "install the locked runtime dependencies",
        )
        run([*pip, "--no-deps", str(wheel)], "install the wheel")
        shutil.copytree(REPO / "config", self.etc / "config")
        shutil.copytree(REPO / "templates", self.etc / "templates")
        for folder in (self.venv, self.etc):
            read_only(folder)
        self.data.mkdir()
        self.logs.mkdir()
        if os.geteuid() == 0:
            account = pwd.getpwnam(UNPRIVILEGED)
            for folder in (self.data, self.logs):
                os.chown(folder, account.pw_uid, account.pw_gid)

    def paths(self, env: dict[str, str]) -> dict[str, str]:
        """The image's paths, mapped to this test's folders."""
        mapping = {"/etc/heard": str(self.etc), "/var/lib/heard": str(self.data)}
        mapped = {}
        for key, value in env.items():
            for inside, outside in mapping.items():
                if value.startswith(inside):
                    value = outside + value[len(inside) :]
            mapped[key] = value
        return mapped

    def command(self, argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        full_env = {
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.data),
            "LANG": "C.UTF-8",
            **env,
        }
        log = (self.logs / log_name).open("wb")
        return subprocess.Popen(
            argv,
            env=full_env,
            cwd=self.etc,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **as_unprivileged(),
        )  # type: ignore[call-overload]


def world_usable(path: Path) -> bool:
    """Whether any user may run this file: every folder above it searchable by others."""
    real = path.resolve()
    folders_open = all(stat.S_IMODE(folder.stat().st_mode) & 0o001 for folder in real.parents)
    return real.is_file() and folders_open and bool(stat.S_IMODE(real.stat().st_mode) & 0o005)


def base_python() -> str:
    """An interpreter of this Python version that the unprivileged user can run too (a venv
    links to its base interpreter; one installed under root's home is out of nobody's reach)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        Path(sys._base_executable),
        Path(shutil.which(version) or version),
        Path("/usr/bin") / version,
        Path("/usr/local/bin") / version,
    ]
    for candidate in candidates:
        if candidate.exists() and (os.geteuid() != 0 or world_usable(candidate)):
            return str(candidate)
    raise AssertionError(f"no {version} that an unprivileged user can run: {candidates}")


def run(argv: list[str], what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise AssertionError(f"could not {what}: {' '.join(argv)}\n{done.stdout}\n{done.stderr}")
    return done.stdout


async def wait_for_log(process: subprocess.Popen[bytes], log: Path, marker: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if marker in text:
            return
        if process.poll() is not None:
            raise AssertionError(f"{log.name} exited with {process.returncode}:\n{text[-4000:]}")
        await asyncio.sleep(0.2)  # polls the service's log; bounded by the deadline
    raise AssertionError(f"{log.name}: no {marker!r} within {timeout} s:\n{log.read_text()[-4000:]}")


def body_of(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as answer:
        return str(answer.read().decode())


def status_of(port: int, path: str) -> int:
    """The status, or 0 while the service does not answer at all (a poll asks again)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code
    except (urllib.error.URLError, TimeoutError):
        return 0


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    # Outside the checkout and outside pytest's private (0700) temp folders, so that the
    # unprivileged user can read the install, exactly as in the image.
    root = Path(tempfile.mkdtemp(prefix="heard-image-"))
    root.chmod(0o755)
    installed = Image(root)
    installed.install(installed.build())
    yield installed
    for item in [root, *root.rglob("*")]:
        if not item.is_symlink():
            item.chmod(stat.S_IMODE(item.stat().st_mode) | 0o700)
    shutil.rmtree(root, ignore_errors=True)


def test_the_wheel_holds_every_subpackage_and_its_data(image: Image) -> None:
    wheel = image.wheel
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.rsplit("/", 1)[0] for name in names if name.endswith("/__init__.py")}
    assert expected_packages() <= packages, f"missing from the wheel: {expected_packages() - packages}"
    assert {"heard/devstack/maven/pom.xml", "heard/devstack/prism/package-lock.json"} <= set(names)
    assert (
        "heard/defaults/config/engine.yaml" in names
        and "heard/defaults/templates/_layouts/email.html" in names
    )
    assert {f"heard/streams/connectors/samples/{source}.json" for source in ("zendesk", "github")} <= set(
        names
    )
    # One namespace: nothing installed at the top level but heard and its metadata.
    assert {name.split("/", 1)[0] for name in names} == {"heard", wheel.name.split("-py3")[0] + ".dist-info"}


def test_an_installed_heard_writes_its_shipped_config_and_templates_with_init(image: Image) -> None:
    """pip users have no clone: `heard init DIR` gives them the defaults, and they lint."""
    heard = str(image.venv / "bin" / "heard")
    folder = image.root / "mine"
    payload = str(REPO / "tests" / "fixtures" / "connectors" / "zendesk" / "created.json")
    missing = subprocess.run(
        [heard, "ingest", "replay", "--source", "zendesk", payload],
        capture_output=True,
        text=True,
        cwd=image.root,
        check=False,
    )
    assert missing.returncode == 2 and "heard init DIR" in missing.stderr, missing.stderr
    said = run([heard, "init", str(folder)], "write the defaults")
    assert f"to {folder / 'config'}" in said
    shipped = {
        path.relative_to(REPO)
        for top in ("config", "templates")
        for path in (REPO / top).rglob("*")
        if path.is_file()
    }
    written = {path.relative_to(folder) for path in folder.rglob("*") if path.is_file()}
    assert written == shipped
    lint = subprocess.run(
        [heard, "templates", "lint"], capture_output=True, text=True, cwd=folder, check=False
    )
    assert lint.returncode == 0 and "0 errors" in lint.stdout, lint.stdout + lint.stderr
    again = subprocess.run([heard, "init", str(folder)], capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "already there and not empty" in again.stderr


def test_the_installed_command_answers_and_owns_no_top_level_names(image: Image) -> None:
    python = str(image.venv / "bin" / "python")
    version = run([str(image.venv / "bin" / "heard"), "--version"], "ask for the version")
    assert re.fullmatch(r"heard \d+\.\d+\.\d+\S*\n", version), version
    for name in SOURCE_FOLDERS:
        probe = subprocess.run(
            [python, "-c", f"import {name}"], capture_output=True, text=True, cwd=image.root, check=False
        )
        assert probe.returncode == 1 and "ModuleNotFoundError" in probe.stderr, (name, probe)
    replay = subprocess.run(
        [
            str(image.venv / "bin" / "heard"),
            "--config",
            str(image.etc / "config"),
            "ingest",
            "replay",
            "--source",
            "zendesk",
            str(REPO / "tests" / "fixtures" / "connectors" / "zendesk" / "created.json"),
        ],
        capture_output=True,
        text=True,
        cwd=image.root,
        check=False,
    )
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout.splitlines()[0])["type"] == "ticket.created"


async def test_compose_services_run_unprivileged_from_the_wheel(
    image: Image, kafka_bootstrap: str, catchers: Catchers
) -> None:
    host_env = {
        "ZENDESK_WEBHOOK_SECRET": SECRETS["ZENDESK_WEBHOOK_SECRET"],
        "HEARD_EVENTS_TOKEN": SECRETS["HEARD_EVENTS_TOKEN"],
        "TWILIO_AUTH_TOKEN": "0f5c1e4b9a7d2c8e3f6a1b4d7c9e2f5a",
    }
    # What the container network would resolve, resolved to this test's services; servers
    # that bind every interface inside a container bind loopback here.
    here = {
        "kafka:9092": kafka_bootstrap,
        "mailpit": "127.0.0.1",
        "0.0.0.0": "127.0.0.1",  # compose binds all interfaces in the container; here loopback
        "https://api.twilio.com": f"http://127.0.0.1:{catchers.sms_port}",
    }

    def service_env(name: str, ports: dict[str, int]) -> dict[str, str]:
        env = {**image_environment(), **compose_environment(name, host_env)}
        env = {key: here.get(value, value) for key, value in env.items()}
        env.update({key: str(port) for key, port in ports.items()})
        return image.paths(env)

    web_port, ops_port, ingest_port, ingest_ops_port = (free_port(), free_port(), free_port(), free_port())
    worker_env = service_env(
        "worker", {"HEARD_WEB_PORT": web_port, "HEARD_OPS_PORT": ops_port, "SMTP_PORT": catchers.mail_port}
    )
    ingest_env = service_env(
        "ingest", {"HEARD_INGEST_PORT": ingest_port, "HEARD_INGEST_OPS_PORT": ingest_ops_port}
    )
    assert worker_env["HEARD_DATA_DIR"] == str(image.data)

    worker = image.command(["heard", "worker"], worker_env, "worker.log")
    ingest = image.command(["heard", "ingest"], ingest_env, "ingest.log")
    try:
        await wait_for_log(worker, image.logs / "worker.log", "Ready", 120)
        await wait_for_log(ingest, image.logs / "ingest.log", "heard ingest on", 60)
        # What compose's healthchecks ask (inside the container; on 127.0.0.1 here).
        for port, path in ((ops_port, "/readyz"), (ingest_port, "/healthz"), (ingest_ops_port, "/readyz")):
            await wait_until(
                lambda p=port, q=path: asyncio.to_thread(status_of, p, q),
                lambda status: status == 200,
                60,
                f"{path} to answer 200",
            )
        assert any(image.data.iterdir()), "the worker wrote nothing to HEARD_DATA_DIR"

        # A ticket created 50 s before its webhook arrives: the acknowledgment hold (60 s from
        # creation, config/policy.yaml) then ends about 10 s after delivery.
        created = time.gmtime(time.time() - 50)
        ticket = f"contract-{int(time.time())}"
        address = f"{ticket}@example.net"
        body = json.dumps(
            {
                "heard_event": "created",
                "ticket": {
                    "id": ticket,
                    "subject": "My parcel has not arrived",
                    "status": "new",
                    "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", created),
                    "requester": {
                        "id": "1508",
                        "name": "Amara Okafor",
                        "email": address,
                        "timezone": "Europe/London",
                        "language": "en",
                        "preferred_name": "Amara",
                        "sms_consent": "false",
                    },
                    "assignee": {"name": "", "email": ""},
                    "group": "parcels",
                    "comment": {"body": "It was due on Tuesday."},
                },
            },
        ).encode()
        # Delivered as Zendesk does: again after a 503 (ingest answers one while its producer
        # first reaches Kafka slower than its 2 s bound).
        status, answer = await wait_until(
            lambda: asyncio.to_thread(
                post,
                f"http://127.0.0.1:{ingest_port}/webhooks/zendesk",
                body,
                signed_headers("zendesk", "created", body, delivery=ticket),
            ),
            lambda answered: answered[0] != 503,
            60,
            "the webhook accepted",
        )
        assert status == 202, answer
        # Ingest's own metrics, on its ops listener only: the webhook port has no /metrics.
        metrics = await asyncio.to_thread(body_of, ingest_ops_port, "/metrics")
        assert 'heard_ingest_requests_total{result="published",source="zendesk"} 1.0' in metrics
        assert await asyncio.to_thread(status_of, ingest_port, "/metrics") == 404

        deadline = time.monotonic() + 120
        acknowledgments: list[str] = []
        while not acknowledgments:
            received = [p.read_text(errors="replace") for p in catchers.mail_dir.glob("*.eml")]
            acknowledgments = [m for m in received if address in m]
            assert worker.poll() is None, (image.logs / "worker.log").read_text()[-4000:]
            assert time.monotonic() < deadline, (
                "no acknowledgment reached the mail catcher:\n"
                + (image.logs / "worker.log").read_text()[-4000:]
            )
            await asyncio.sleep(0.5)  # polls the mail catcher; bounded by the deadline
        assert "Amara" in acknowledgments[0]
    finally:
        for process in (ingest, worker):
            stop_pid(process.pid, 20, process)


def test_a_data_dir_the_user_cannot_write_stops_start_up_with_its_name(image: Image) -> None:
    locked = image.root / "locked-data"
    locked.mkdir()
    locked.chmod(0o555)  # root-owned and read-only: the unprivileged service cannot write it
    env = image.paths(
        {**image_environment(), "HEARD_DATA_DIR": str(locked), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    )
    worker = image.command(["heard", "worker"], env, "locked-worker.log")
    assert worker.wait(60) == 2
    log = (image.logs / "locked-worker.log").read_text()
    assert f"data_dir: {locked} is not writable by uid" in log, log
    assert "Traceback" not in log, log
