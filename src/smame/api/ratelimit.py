"""Per-client rate limits: token buckets (SPEC S14).

Each (client, class) pair has its own bucket; dangerous commands have a class of their
own with a lower rate. Time comes from the injected security clock, so tests move it
instead of sleeping. The buckets live in memory (one API process), or in the shared
PostgreSQL state, where one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` takes the
tokens atomically, so every API process behind a load balancer draws on the same bucket.
"""

from __future__ import annotations

import threading
from typing import Protocol

from smame.api.config import RateLimit
from smame.api.db import AccessDb
from smame.clock import Clock

__all__ = ["MemoryBuckets", "RateLimiter", "SqlBuckets", "refill"]


def refill(tokens: float, then: float, now: float, limit: RateLimit) -> float:
    """Tokens in a bucket that held ``tokens`` at ``then`` (POSIX s), at ``now``: ``rate``
    tokens per second come back, up to ``burst`` (S14). A clock that went back (another
    process's) adds nothing, and the bucket keeps ``then``: time is never counted twice."""
    return min(limit.burst, tokens + max(0.0, now - then) * limit.rate)


class Buckets(Protocol):
    def take(self, key: str, kind: str, cost: float, limit: RateLimit, now: float
             ) -> tuple[bool, float]:
        """Take ``cost`` tokens if there are enough: (taken, tokens left)."""
        ...


class MemoryBuckets:
    """The buckets of one process."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, kind: str, cost: float, limit: RateLimit, now: float
             ) -> tuple[bool, float]:
        with self._lock:
            tokens, then = self._buckets.get((key, kind), (limit.burst, now))
            tokens = refill(tokens, then, now, limit)
            taken = tokens >= cost
            if taken:
                tokens -= cost
            self._buckets[(key, kind)] = (tokens, max(then, now))
            return taken, tokens


_LEVEL = ("LEAST(%(burst)s, b.tokens + GREATEST(0, %(now)s - b.updated_at) * %(rate)s)")
""":func:`refill` in SQL, over the stored row ``b``."""

_TAKE = f"""
INSERT INTO rate_buckets AS b (bucket, kind, tokens, updated_at, granted)
VALUES (%(bucket)s, %(kind)s,
        CASE WHEN %(burst)s >= %(cost)s THEN %(burst)s - %(cost)s ELSE %(burst)s END,
        %(now)s, CASE WHEN %(burst)s >= %(cost)s THEN 1 ELSE 0 END)
ON CONFLICT (bucket, kind) DO UPDATE SET
    tokens = CASE WHEN {_LEVEL} >= %(cost)s THEN {_LEVEL} - %(cost)s ELSE {_LEVEL} END,
    granted = CASE WHEN {_LEVEL} >= %(cost)s THEN 1 ELSE 0 END,
    updated_at = GREATEST(b.updated_at, %(now)s)
RETURNING granted, tokens
"""
"""Take tokens from a bucket in one statement: the row lock it takes orders the processes."""


class SqlBuckets:
    """The buckets in the shared PostgreSQL state (one row per bucket)."""

    def __init__(self, db: AccessDb) -> None:
        if db.dialect != "postgres":
            raise ValueError("shared rate-limit buckets need the PostgreSQL state")
        self.db = db

    def take(self, key: str, kind: str, cost: float, limit: RateLimit, now: float
             ) -> tuple[bool, float]:
        row = self.db.take_bucket(_TAKE, {"bucket": key, "kind": kind, "cost": float(cost),
                                          "burst": float(limit.burst),
                                          "rate": float(limit.rate), "now": float(now)})
        return bool(row["granted"]), float(row["tokens"])


class RateLimiter:
    def __init__(self, clock: Clock, limits: dict[str, RateLimit],
                 buckets: Buckets | None = None) -> None:
        self.clock = clock
        self.limits = dict(limits)
        self.buckets: Buckets = buckets or MemoryBuckets()

    def take(self, key: str, kind: str, cost: float = 1.0) -> float | None:
        """Take ``cost`` tokens from ``key``'s bucket of ``kind``.

        Returns None when allowed, else the seconds until enough tokens are back.
        """
        limit = self.limits[kind]
        taken, tokens = self.buckets.take(key, kind, cost, limit, self.clock.time())
        return None if taken else (cost - tokens) / limit.rate
