"""Short versions of reliability drills 1, 3 and 6 (bench/drills.py): each starts its own
Kafka, mail catcher and worker processes on 127.0.0.1, injects its fault, and reconciles
every expected message against what the mail peer received."""

from __future__ import annotations

import pytest

from bench import drills

pytestmark = pytest.mark.integration


def check(report: drills.Report) -> None:
    assert report.passed, "\n" + report.table()
    assert report.delivered == report.expected > 0


def test_worker_sigkill_loses_nothing() -> None:
    report = drills.run("crash", drills.parse(["crash", "--tickets", "40", "--kills", "1"]))
    check(report)
    # The kill hit a worker with messages still to send (the drill fails otherwise).
    [in_flight] = [note for note in report.notes if note.startswith("kill ")]
    assert int(in_flight.split()[2]) > 0


def test_smtp_outage_loses_nothing_and_doubles_nothing() -> None:
    report = drills.run("smtp-outage", drills.parse(["smtp-outage", "--tickets", "20", "--outage", "6"]))
    check(report)
    assert report.duplicated == 0


def test_poison_and_hostile_input_is_dead_lettered_or_neutralised() -> None:
    report = drills.run("poison", drills.parse(["poison", "--tickets", "20"]))
    check(report)
    assert sum(report.dead_lettered.values()) == 16
