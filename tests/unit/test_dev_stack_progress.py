"""A new user's first `heard dev up` (and `make test`) fetches Kafka's jars with Maven for
minutes: it says so before, and how it went after, instead of a silent terminal. Maven and
Java are stand-in scripts here; the real fetch runs in every CI install."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from heard.devstack.kafka import StackError, resolve_kafka_jars


def stand_ins(folder: Path, maven: str) -> None:
    folder.mkdir()
    for name, script in (("mvn", maven), ("java", "exit 0")):
        tool = folder / name
        tool.write_text(f"#!/bin/sh\n{script}\n")
        tool.chmod(0o755)


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HEARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "bin"


def test_the_first_fetch_says_what_it_does_and_a_cached_one_says_nothing(
    tools: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Writes two jars where -DoutputDirectory= says, as Maven's copy-dependencies does.
    stand_ins(
        tools,
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) d="${a#*=}";; esac; done\n'
        'touch "$d/kafka.jar" "$d/clients.jar"',
    )
    libs = resolve_kafka_jars("4.1.0")
    before, after = capsys.readouterr().err.strip().splitlines()
    assert before == f"fetching Kafka 4.1.0's jars with Maven into {libs} (first run only; a few minutes)"
    assert after.startswith("Kafka 4.1.0: 2 jars ready in ") and after.endswith(" s")
    assert resolve_kafka_jars("4.1.0") == libs
    assert capsys.readouterr().err == ""


def test_a_failed_fetch_shows_mavens_last_lines(tools: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stand_ins(tools, "echo 'Could not resolve org.apache.kafka:kafka_2.13'; exit 1")
    with pytest.raises(StackError) as refused:
        resolve_kafka_jars("4.1.0")
    assert (
        str(refused.value)
        == "Maven could not resolve Kafka jars:\nCould not resolve org.apache.kafka:kafka_2.13"
    )
    assert "first run only" in capsys.readouterr().err
