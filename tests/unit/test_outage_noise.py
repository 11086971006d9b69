"""A broker's outage is told once per broker, then once a minute with a count, instead of
hundreds of ERROR lines a minute; anything else passes untouched."""

from __future__ import annotations

import logging

from heard.streams.base.logs import OutageNoise


def record(
    at: float,
    node: int,
    name: str = "aiokafka.conn",
    level: int = logging.ERROR,
    msg: str = "Unable connect to node with id %s: %s",
) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, msg, (node, "Connect call failed"), None)
    made.created = at
    return made


def test_each_broker_is_told_once_per_outage_then_a_count_a_minute() -> None:
    noise = OutageNoise(every_seconds=60, quiet_seconds=30)
    passed = []
    for second in range(0, 150):  # node 1 fails 4 times a second for 150 s; node 2 once
        for quarter in range(4):
            item = record(second + quarter / 4, 1)
            if noise.filter(item):
                passed.append(item)
    other = record(10, 2)
    assert noise.filter(other) and other.levelname == "WARNING"
    assert [item.getMessage() for item in passed] == [
        "Unable connect to node with id 1: Connect call failed; repeats are counted until it stops",
        "Unable connect to node with id 1: Connect call failed; 240 times in the last 60 s, for 60 s now",
        "Unable connect to node with id 1: Connect call failed; 240 times in the last 60 s, for 120 s now",
    ]
    assert {item.levelname for item in passed} == {"WARNING"}
    # Quiet for more than 30 s: the next failure is a new outage, told again.
    assert noise.filter(record(200, 1))


def test_other_loggers_and_lower_levels_pass_untouched() -> None:
    noise = OutageNoise()
    for _ in range(3):
        heard = record(1, 1, name="heard.worker")
        info = record(1, 1, level=logging.INFO)
        assert noise.filter(heard) and heard.levelname == "ERROR"
        assert noise.filter(info) and info.levelname == "INFO"
