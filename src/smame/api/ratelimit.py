"""Per-client rate limits: token buckets (SPEC S14).

Each (client, class) pair has its own bucket; dangerous commands have a class of their
own with a lower rate. Time comes from the injected security clock, so tests move it
instead of sleeping.
"""

from __future__ import annotations

import threading

from smame.api.config import RateLimit
from smame.clock import Clock

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, clock: Clock, limits: dict[str, RateLimit]) -> None:
        self.clock = clock
        self.limits = dict(limits)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, kind: str, cost: float = 1.0) -> float | None:
        """Take ``cost`` tokens from ``key``'s bucket of ``kind``.

        Returns None when allowed, else the seconds until enough tokens are back.
        """
        limit = self.limits[kind]
        now = self.clock.time()
        with self._lock:
            tokens, then = self._buckets.get((key, kind), (limit.burst, now))
            tokens = min(limit.burst, tokens + max(0.0, now - then) * limit.rate)
            if tokens < cost:
                self._buckets[(key, kind)] = (tokens, now)
                return (cost - tokens) / limit.rate
            self._buckets[(key, kind)] = (tokens - cost, now)
            return None
