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
            record.exc_text = redact(record.exc_text or
                                     logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def log_format() -> str:
    chosen = os.environ.get(LOG_FORMAT_VARIABLE, "text").strip().lower() or "text"
    if chosen not in ("text", "json"):
        raise ValueError(f"{LOG_FORMAT_VARIABLE}={chosen!r}: use text or json")
    return chosen


def logging_config(level: str = "info", fmt: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the worker (through Faust) and ingest."""
    formatter: dict[str, Any] = (
        {"()": "pythonjsonlogger.json.JsonFormatter",
         "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
         "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger",
                           "process": "pid"}}
        if (fmt or log_format()) == "json"
        else {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": Redact}},
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                 "formatter": "default", "filters": ["redact"]}},
        "root": {"level": level.upper(), "handlers": ["default"]},
    }
