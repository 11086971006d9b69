"""Every misuse of the command line gets one clear line and an exit code, never a
traceback: files that are missing, folders, bytes that are not UTF-8, a header without its
colon, a Kafka that does not answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from heard.devstack.kafka import free_port
from heard.streams.cli import main
from tests.peers import REPO


@pytest.fixture(autouse=True)
def config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARD_CONFIG_DIR", str(REPO / "config"))
    # Nothing listens here: a command that needs Kafka finds it down.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")


def said(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip()


@pytest.mark.parametrize("action", ["validate", "send"])
def test_events_on_a_missing_file_or_a_folder_say_so(
    action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert said(capsys, ["events", action, str(tmp_path / "nope.jsonl")]) == (
        2,
        f"heard: cannot read {tmp_path / 'nope.jsonl'}: No such file or directory",
    )
    assert said(capsys, ["events", action, str(tmp_path)]) == (
        2,
        f"heard: cannot read {tmp_path}: Is a directory",
    )


def test_ingest_replay_on_bytes_that_are_not_utf8_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_bytes(b'{"ticket": "\xff"}')
    assert said(capsys, ["ingest", "replay", "--source", "zendesk", str(payload)]) == (
        2,
        f"heard: {payload}: not UTF-8 (byte 12); webhook payloads are JSON in UTF-8",
    )


def test_a_header_without_its_colon_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text("{}")
    with pytest.raises(SystemExit) as usage:
        main(["ingest", "replay", "--source", "github", "--header", "X-GitHub-Event", str(payload)])
    assert usage.value.code == 2
    assert "'X-GitHub-Event' is not NAME:VALUE" in capsys.readouterr().err


def test_a_kafka_that_does_not_answer_is_one_line_with_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = said(capsys, ["explain", "T-1"])
    assert code == 3 and len(err.splitlines()) == 1, err
    assert err.startswith("heard: Kafka did not answer (KafkaConnectionError: Unable to bootstrap"), err
    assert err.endswith("is it up at KAFKA_BOOTSTRAP_SERVERS? Try again once it is")


@pytest.mark.parametrize(
    ("command", "variable", "setting"),
    [
        ("worker", "HEARD_WEB_PORT", "config/engine.yaml: web.port"),
        ("worker", "HEARD_OPS_PORT", "config/engine.yaml: web.ops_port"),
        ("ingest", "HEARD_INGEST_PORT", "config/connectors.yaml: port"),
        ("ingest", "HEARD_INGEST_OPS_PORT", "config/connectors.yaml: ops_port"),
    ],
)
def test_a_port_in_use_stops_start_up_with_the_variable_that_moves_it(
    command: str,
    variable: str,
    setting: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    for name in ("HEARD_WEB_PORT", "HEARD_OPS_PORT", "HEARD_INGEST_PORT", "HEARD_INGEST_OPS_PORT"):
        monkeypatch.setenv(name, str(free_port()))
    monkeypatch.setenv(variable, str(port))
    monkeypatch.setenv("HEARD_EVENTS_TOKEN", "q7Wm2xLp9Rt4Kv8Nz3Bc6Hd1Fg5Js0Ya")
    try:
        assert said(capsys, [command]) == (
            2,
            f"heard: {setting} ({variable}): 127.0.0.1:{port} is already in use; "
            f"stop what holds it, or set {variable} to a free port",
        )
    finally:
        taken.close()


def test_a_worker_without_its_listeners_does_not_ask_for_their_ports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """HEARD_WEB_ENABLED=false: neither port is bound, so one in use (another worker's, a
    demo's) stops nothing; this start goes on to Kafka, which is down here."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    monkeypatch.setenv("HEARD_WEB_ENABLED", "false")
    monkeypatch.setenv("HEARD_WEB_PORT", str(port))
    monkeypatch.setenv("HEARD_OPS_PORT", str(port))
    monkeypatch.setenv("HEARD_KAFKA_WAIT_SECONDS", "1")
    try:
        code, err = said(capsys, ["worker"])
    finally:
        taken.close()
    assert "already in use" not in err
    assert code != 0 and "Kafka" in err
