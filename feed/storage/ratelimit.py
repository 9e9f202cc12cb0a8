"""Per-key token buckets: a steady rate with a burst allowance; time is passed in."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """`per_minute` requests on average, up to `burst` at once."""

    per_minute: float
    burst: int


class RateLimiter:
    """Token buckets keyed by (what, who)."""

    def __init__(self, limits: dict[str, Limit]) -> None:
        self._limits = limits
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, what: str, who: str, now: float) -> float:
        """Take one token; returns 0.0 if allowed, else seconds until one is available."""
        limit = self._limits[what]
        rate = limit.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get((what, who), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + max(now - last, 0.0) * rate)
            if tokens >= 1.0:
                self._buckets[(what, who)] = (tokens - 1.0, now)
                return 0.0
            self._buckets[(what, who)] = (tokens, now)
            return (1.0 - tokens) / rate
