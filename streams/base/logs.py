"""How heard logs: text or one JSON object per line (HEARD_LOG_FORMAT=json), with email
addresses and phone numbers replaced before any handler sees them — in the message, its
arguments and a traceback alike."""

from __future__ import annotations

import logging
import os
from typing import Any

from heard.streams.base.redaction import redact

LOG_FORMAT_VARIABLE = "HEARD_LOG_FORMAT"


class Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            # Formatted here, once, redacted; formatters then print the text as it is.
            record.exc_text = redact(record.exc_text or logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class OutageNoise(logging.Filter):
    """A broker failing over is normal and survivable; the Kafka client says so hundreds of
    times a minute at ERROR ("Unable connect to node with id 1", "Failed fetch messages").
    Each such message (per broker: the text and its first argument) passes once per
    outage, as a WARNING; repeats are counted, and one line a minute says how many there
    were while it lasts. A message quiet for `quiet_seconds` starts a new outage."""

    def __init__(
        self,
        loggers: tuple[str, ...] = ("aiokafka",),
        every_seconds: float = 60.0,
        quiet_seconds: float = 30.0,
    ) -> None:
        super().__init__()
        self.loggers = loggers
        self.every_seconds = every_seconds
        self.quiet_seconds = quiet_seconds
        # key -> [first seen, last seen, last line passed, repeats not shown since it]
        self._seen: dict[tuple[str, str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.loggers):
            return True
        first_arg = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        key = (record.name, str(record.msg), first_arg)
        now = record.created
        seen = self._seen.get(key)
        if seen is None or now - seen[1] > self.quiet_seconds:
            self._seen[key] = [now, now, now, 0.0]
            self._as_warning(record, "; repeats are counted until it stops")
            return True
        seen[1] = now
        if now - seen[2] >= self.every_seconds:
            repeats = int(seen[3]) + 1
            seen[2], seen[3] = now, 0.0
            self._as_warning(
                record,
                f"; {repeats} times in the last {self.every_seconds:.0f} s, for {now - seen[0]:.0f} s now",
            )
            return True
        seen[3] += 1
        return False

    @staticmethod
    def _as_warning(record: logging.LogRecord, note: str) -> None:
        record.msg = f"{record.getMessage()}{note}"
        record.args = ()
        record.levelno, record.levelname = logging.WARNING, "WARNING"


def log_format() -> str:
    chosen = os.environ.get(LOG_FORMAT_VARIABLE, "text").strip().lower() or "text"
    if chosen not in ("text", "json"):
        raise ValueError(f"{LOG_FORMAT_VARIABLE}={chosen!r}: use text or json")
    return chosen


def logging_config(level: str = "info", fmt: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the worker (through Faust) and ingest."""
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        }
        if (fmt or log_format()) == "json"
        else {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": Redact}, "outages": {"()": OutageNoise}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["outages", "redact"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }
