"""A local Apache Kafka (KRaft, single combined node) run from Maven jars.

No Docker: Maven resolves the real broker into a cache outside the repository,
and this module formats storage, starts `kafka.Kafka` on 127.0.0.1 and waits
until the broker answers a metadata request.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("maven") / "pom.xml"


class StackError(RuntimeError):
    """A local service could not be prepared or started; the message says what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("HEARD_CACHE_DIR", Path.home() / ".cache" / "heard"))


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` is not on PATH: {hint}")
    return path


def resolve_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Return the folder of broker jars, resolving them with Maven on first use."""
    libs = cache_dir() / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = require_tool("mvn", "install Maven (e.g. `apt-get install maven`) to fetch Kafka")
    require_tool("java", "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre`)")
    libs.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    # The first run downloads the broker's jars (about 90 MB) with Maven, quietly: say so, or
    # a new user watches a silent terminal for minutes.
    print(
        f"fetching Kafka {version}'s jars with Maven into {libs} (first run only; a few minutes)",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise StackError("Maven could not resolve Kafka jars:\n" + "\n".join(tail))
    marker.write_text(version)
    jars = len(list(libs.glob("*.jar")))
    print(
        f"Kafka {version}: {jars} jars ready in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return libs


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require_free_port(port: int, what: str, env_var: str) -> None:
    if not port_is_free(port):
        raise StackError(
            f"port {port} on 127.0.0.1 is taken, so {what} cannot start: "
            f"stop whatever holds it or choose another port with {env_var}"
        )


LOG4J2_PROPERTIES = """\
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener beside the plain one: TLS from a PKCS12 keystore, SCRAM-SHA-256
    and -512 users created when the storage is formatted (as a secured cluster would be)."""

    port: int
    keystore: Path
    keystore_password: str
    users: dict[str, str]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def server_properties(
    port: int,
    controller_port: int,
    log_dir: Path,
    secure: SecureListener | None = None,
    node_id: int = 1,
    voters: str | None = None,
    replication: int = 1,
) -> str:
    """One combined broker and controller. Alone (the default), or node `node_id` of a
    cluster whose controllers are `voters` and whose topics have `replication` copies by
    default, at least two of them in sync for a write (min.insync.replicas)."""
    in_sync = str(2 if replication >= 3 else 1)
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters or f"{node_id}@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": in_sync,
        "min.insync.replicas": in_sync,
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.flush.interval.messages": "9223372036854775807",
    }
    if secure is not None:
        scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        settings.update(
            {
                "listeners": f"{settings['listeners']},SASL_SSL://127.0.0.1:{secure.port}",
                "advertised.listeners": f"{settings['advertised.listeners']},"
                f"SASL_SSL://127.0.0.1:{secure.port}",
                "listener.security.protocol.map": f"{settings['listener.security.protocol.map']},"
                "SASL_SSL:SASL_SSL",
                "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram_login,
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram_login,
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.location": str(secure.keystore),
                "ssl.keystore.password": secure.keystore_password,
                "ssl.key.password": secure.keystore_password,
            }
        )
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass
class KafkaBroker:
    """One broker process. `start()` blocks until it serves metadata or fails cleanly."""

    work_dir: Path
    port: int = 9092
    controller_port: int = 0
    heap: str = "512m"
    version: str = KAFKA_VERSION
    secure: SecureListener | None = None
    # A node of a cluster (KafkaCluster): its id, the cluster's controllers, the copies of
    # each topic, and the id every node is formatted with.
    node_id: int = 1
    voters: str | None = None
    replication: int = 1
    cluster_id: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.work_dir / "kafka.log"

    def _java_cmd(self, libs: Path, main: str, *args: str) -> list[str]:
        java = require_tool("java", "install a Java 17+ runtime")
        return [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def start(
        self, timeout: float = 60.0, detach: bool = False, fresh: bool = True, wait: bool = True
    ) -> None:
        """Start the broker; `fresh=False` restarts it on the data it already has;
        `wait=False` returns once the process runs (a cluster's nodes wait for each other)."""
        require_free_port(self.port, "Kafka", "HEARD_KAFKA_PORT")
        if not self.controller_port:
            self.controller_port = free_port()
        libs = resolve_kafka_jars(self.version)
        data = self.work_dir / "data"
        props = self.work_dir / "server.properties"
        if fresh or not data.exists():
            self._format(libs, data, props)
        out = (self.work_dir / "kafka.stdout").open("wb")
        self.process = subprocess.Popen(
            self._java_cmd(libs, "kafka.Kafka", str(props)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
        (self.work_dir / "kafka.pid").write_text(str(self.process.pid))
        if wait:
            self.wait(timeout)

    def _format(self, libs: Path, data: Path, props: Path) -> None:
        """A new data folder, formatted for this node's cluster (with SCRAM users when the
        listener is secured)."""
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        (self.work_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_file=self.log_file))
        props.write_text(
            server_properties(
                self.port,
                self.controller_port,
                data,
                self.secure,
                self.node_id,
                self.voters,
                self.replication,
            )
        )
        cluster_id = self.cluster_id or _random_cluster_id()
        users = self.secure.users.items() if self.secure else ()
        scram = [
            f"--add-scram={mechanism}=[name={name},password={password}]"
            for name, password in users
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        ]
        fmt = subprocess.run(
            # `--cluster-id=...`: a random id may start with "-", which would read as a flag.
            self._java_cmd(
                libs,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                f"--config={props}",
                *scram,
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise StackError(f"Kafka storage format failed: {fmt.stderr.strip()[-500:]}")

    def wait(self, timeout: float = 60.0) -> None:
        """Until the broker serves metadata; stopped, and StackError, if it does not."""
        assert self.process is not None
        try:
            wait_for_kafka(self.bootstrap, timeout, self.process)
        except StackError:
            self.stop()
            raise

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None:
            return
        stop_pid(self.process.pid, timeout, self.process)
        self.process = None


@dataclass
class KafkaCluster:
    """`size` combined broker-controller nodes on 127.0.0.1 forming one KRaft cluster, each
    topic with `size` copies by default (3: min.insync.replicas 2), for drills and tests of
    what a broker failover does. Each node has its own folder, ports and a bounded heap."""

    work_dir: Path
    size: int = 3
    heap: str = "384m"
    nodes: list[KafkaBroker] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def start(self, timeout: float = 120.0) -> None:
        controllers = [free_port() for _ in range(self.size)]
        voters = ",".join(f"{n + 1}@127.0.0.1:{port}" for n, port in enumerate(controllers))
        cluster_id = _random_cluster_id()
        self.nodes = [
            KafkaBroker(
                self.work_dir / f"node-{n + 1}",
                port=free_port(),
                controller_port=controllers[n],
                heap=self.heap,
                node_id=n + 1,
                voters=voters,
                replication=self.size,
                cluster_id=cluster_id,
            )
            for n in range(self.size)
        ]
        try:
            for node in self.nodes:
                node.work_dir.mkdir(parents=True, exist_ok=True)
                node.start(timeout, wait=False)
            for node in self.nodes:  # a quorum forms once enough controllers are up
                node.wait(timeout)
        except (StackError, OSError):
            self.stop()
            raise

    def kill(self, index: int) -> None:
        """SIGKILL one node (the way a machine dies), by the PID this cluster started."""
        node = self.nodes[index]
        assert node.process is not None
        node.process.kill()
        node.process.wait(timeout=30)
        node.process = None

    def restart(self, index: int, timeout: float = 120.0) -> None:
        self.nodes[index].start(timeout, fresh=False)

    def index_of(self, node_id: int) -> int:
        return next(n for n, node in enumerate(self.nodes) if node.node_id == node_id)

    def active_controller(self) -> int:
        """The node id leading the KRaft quorum, as a running node's quorum state says."""
        for node in self.nodes:
            state = node.work_dir / "data" / "__cluster_metadata-0" / "quorum-state"
            if node.process is not None and state.exists():
                leader = json.loads(state.read_text()).get("leaderId", -1)
                if leader > 0:
                    return int(leader)
        raise StackError("no running node knows the quorum's leader")

    def stop(self) -> None:
        # All at once: stopped one by one, the last nodes wait out a controlled shutdown
        # that the quorum, gone with the first ones, can no longer finish (20 s each).
        with ThreadPoolExecutor(max_workers=max(len(self.nodes), 1)) as pool:
            list(pool.map(KafkaBroker.stop, self.nodes))


def _random_cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes, URL-safe base64 without padding.
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def stop_pid(pid: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the process we started, then SIGKILL if it does not leave in time."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.1)  # polls the port; bounded by the deadline
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if process is not None:
        process.wait(5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.split(")")[-1].split()[0] != "Z"


def wait_for_kafka(bootstrap: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    host, port = bootstrap.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(
                f"Kafka exited with code {process.returncode} during start-up; "
                "see kafka.log / kafka.stdout in the stack folder"
            )
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                pass
        except OSError:
            time.sleep(0.3)  # polls the broker; bounded by the deadline
            continue
        if asyncio.run(_metadata_ok(bootstrap)):
            return
        time.sleep(0.3)  # polls the broker; bounded by the deadline
    raise StackError(f"Kafka did not answer metadata requests on {bootstrap} within {timeout:.0f} s")


async def _metadata_ok(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
