"""heard on a secured Kafka: the local Apache Kafka with a SASL_SSL listener (TLS from a test
CA, SCRAM users made when the storage is formatted). The worker processes a ticket over it,
the CLI publishes over it, and a wrong password stops start-up with a clear message."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import load_pem_x509_certificate

from heard.devstack.kafka import KafkaBroker, SecureListener, free_port
from heard.streams.cli.event_files import send_events
from heard.streams.contract import stories
from heard.streams.contract.records import parse_event
from heard.streams.delivery.config import load_settings
from tests.conftest import Catchers, Worker, worker_env
from tests.integration.test_end_to_end import mails_for
from tests.peers import REPO

pytestmark = pytest.mark.integration

USER, PASSWORD = "heard-worker", "scram-secret-for-tests"


@dataclass
class SecuredKafka:
    broker: KafkaBroker
    ca_file: Path

    @property
    def bootstrap(self) -> str:
        assert self.broker.secure is not None
        return self.broker.secure.bootstrap

    def env(self, password: str = PASSWORD) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "HEARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "HEARD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "HEARD_KAFKA_USERNAME": USER,
            "HEARD_KAFKA_PASSWORD": password,
            "HEARD_KAFKA_CA_FILE": str(self.ca_file),
        }


def broker_keystore(folder: Path) -> tuple[Path, Path, str]:
    """A throwaway CA, and the broker's key and certificate (for 127.0.0.1) as PKCS12."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    chain = [load_pem_x509_certificate(pem.bytes()) for pem in issued.cert_chain_pems]
    password = "keystore-pass"
    keystore = folder / "broker.p12"
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"broker",
            key,
            chain[0],
            chain[1:],  # type: ignore[arg-type]
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return keystore, ca_file, password


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    folder = tmp_path_factory.mktemp("kafka-sasl-ssl")
    keystore, ca_file, password = broker_keystore(folder)
    broker = KafkaBroker(
        folder,
        port=free_port(),
        secure=SecureListener(
            port=free_port(), keystore=keystore, keystore_password=password, users={USER: PASSWORD}
        ),
    )
    try:
        broker.start(timeout=90)
    except Exception as exc:  # any start failure must fail the test run, not skip it
        pytest.fail(f"Kafka with a SASL_SSL listener could not start: {exc}")
    yield SecuredKafka(broker, ca_file)
    broker.stop()


async def test_a_ticket_goes_through_a_sasl_ssl_kafka(
    secured: SecuredKafka,
    catchers: Catchers,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**worker_env(secured.bootstrap, catchers, topic_prefix), **secured.env()}
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        for key, value in {**secured.env(), "HEARD_TOPIC_PREFIX": topic_prefix}.items():
            monkeypatch.setenv(key, value)
        settings = load_settings(REPO / "config")
        assert settings.engine.security.protocol == "SASL_SSL"
        raw = stories.dumps(
            stories.created(
                "SEC-1", datetime.now(UTC), urgent=True, customer=stories.customer(email="sec-1@example.net")
            )
        )
        sent = await send_events(settings, [(1, parse_event(raw), raw)])
        assert sent == 1
        deadline = asyncio.get_running_loop().time() + 60
        while not mails_for(catchers.mail_dir, "SEC-1"):
            assert asyncio.get_running_loop().time() < deadline, worker.log.read_text()[-3000:]
            await asyncio.sleep(0.3)  # polls the mail catcher; bounded by the deadline
        [mail] = mails_for(catchers.mail_dir, "SEC-1")
        assert mail["X-Heard-Kind"] == "acknowledgment"
    finally:
        worker.stop()


def test_a_wrong_password_stops_start_up_with_a_clear_message(
    secured: SecuredKafka, catchers: Catchers, topic_prefix: str
) -> None:
    env = {
        **worker_env(secured.bootstrap, catchers, topic_prefix),
        **secured.env(password="not-the-password"),
        # A refused login is asked again for this long (a broker failing over answers alike):
        # the outcome is the same after 5 s as after the default 60 s.
        "HEARD_KAFKA_WAIT_SECONDS": "5",
    }
    done = subprocess.run(
        [sys.executable, "-m", "heard.streams.cli", "worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "config/engine.yaml: security: Kafka at 127.0.0.1:" in done.stderr
    assert (
        "did not accept heard's connection (SASL_SSL, SCRAM-SHA-512 as the user in "
        "HEARD_KAFKA_USERNAME)" in done.stderr
    )
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr
    assert os.environ.get("HEARD_KAFKA_PASSWORD") is None  # nothing leaked into this process
