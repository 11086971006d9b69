"""Per-key rate limits for public routes: how often one link, or one phone number, may be
answered, so one client cannot flood the topics behind a route."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimit:
    """A token bucket per key: `burst` at once, then `per_minute` a minute. The least
    recently seen keys are forgotten past `max_keys`, so memory stays bounded whatever the
    number of keys (a forgotten key starts again with a full bucket)."""

    def __init__(
        self,
        burst: int,
        per_minute: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_minute > 0")
        self.burst = burst
        self.per_second = per_minute / 60
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Take one token for `key`: True when there was one."""
        now = self.clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.per_second)
        bucket.at = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed
