"""Series more than one heard service reports (the worker and ingest), defined once: a
Prometheus name may be registered only once per process, and alerts read them alike."""

from __future__ import annotations

from prometheus_client import Counter

DEAD_LETTERS = Counter("heard_dead_letters_total", "Records sent to the dead-letter topic", ["stage"])
