"""Timestamps as the API writes them (SPEC S7): ISO 8601 in JST (+09:00)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from smame.clock import JST

__all__ = ["JST", "iso"]



@lru_cache(maxsize=1 << 16)
def iso(t: int) -> str:
    """POSIX seconds as ISO 8601 in JST, e.g. ``2026-07-01T00:30:00+09:00``."""
    return datetime.fromtimestamp(int(t), JST).isoformat()
