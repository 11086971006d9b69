"""The worker's producer made idempotent: no record written twice by a retry.

faust-streaming 0.15.3 builds its aiokafka producer with `acks` from the app's settings and
turns idempotence on only inside a transaction (`Producer._settings_extra`). heard runs
without transactions, so around a broker failover the producer's own retries could write a
record twice: a decision logged twice, an outcome counted twice (seen on a 3-node cluster
with a partition leader killed). With idempotence the broker drops a retried batch it
already has (per producer id and sequence number); it needs `acks=all`, which heard sets
anyway, and at most five requests in flight, aiokafka's own bound.

Applied only to the faust version it was written against; `install()` refuses others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heard.streams.kafka.faust_recovery import require_reviewed

REVIEWED_FAUST_VERSIONS = ("0.15.3",)
IDEMPOTENT = {"acks": "all", "enable_idempotence": True}


def _idempotent_extra(original: Any) -> Any:
    def settings_extra(self: Any) -> Mapping[str, Any]:
        return {**original(self), **IDEMPOTENT}

    settings_extra.__module__ = __name__
    return settings_extra


def install() -> None:
    import faust
    from faust.transport.drivers.aiokafka import Producer

    require_reviewed(
        faust.__version__,
        REVIEWED_FAUST_VERSIONS,
        __file__,
        "how Producer._settings_extra builds the producer's settings",
    )
    if getattr(Producer._settings_extra, "__module__", "") == __name__:
        return  # installed already
    Producer._settings_extra = _idempotent_extra(Producer._settings_extra)  # type: ignore[method-assign]
