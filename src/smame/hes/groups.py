"""The 5-minute collection groups (SPEC S3, S16).

A real-time group (≥ 3 % of customers by default) whose 5-minute active, reactive and
voltage values reach the head-end within 10 minutes, and a historical group (≥ 10 %) whose
5-minute values are collected daily. Membership changes at run time with no change to the
meters: every meter keeps its 5-minute values (M3); the groups only decide what the
head-end asks for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HISTORICAL_SHARE", "REALTIME_SHARE", "FiveMinuteGroups"]

REALTIME_SHARE = 0.03
HISTORICAL_SHARE = 0.10


@dataclass
class FiveMinuteGroups:
    """Which meters the head-end collects 5-minute data from, and how often."""

    fleet_size: int
    realtime: set[int] = field(default_factory=set)
    historical: set[int] = field(default_factory=set)

    @classmethod
    def select(
        cls,
        meter_ids: Iterable[int],
        realtime_share: float = REALTIME_SHARE,
        historical_share: float = HISTORICAL_SHARE,
        seed: int = 0,
    ) -> FiveMinuteGroups:
        """Draw disjoint groups of at least the given shares (rounded up) of the meters."""
        ids = np.array(sorted(set(meter_ids)), np.int64)
        if not 0 <= realtime_share + historical_share <= 1:
            raise ValueError("the two groups cannot cover more than all meters")
        order = np.random.default_rng([seed, 8001]).permutation(ids)
        n_rt = math.ceil(realtime_share * ids.size)
        n_hist = math.ceil(historical_share * ids.size)
        return cls(ids.size, set(order[:n_rt].tolist()),
                   set(order[n_rt:n_rt + n_hist].tolist()))

    @property
    def realtime_share(self) -> float:
        return len(self.realtime) / self.fleet_size if self.fleet_size else 0.0

    @property
    def historical_share(self) -> float:
        return len(self.historical) / self.fleet_size if self.fleet_size else 0.0

    def meets_standard(self) -> bool:
        """At least 3 % real-time and 10 % historical customers (S3)."""
        return (self.realtime_share >= REALTIME_SHARE
                and self.historical_share >= HISTORICAL_SHARE)

    def move(self, meter_ids: Iterable[int], to: str) -> None:
        """Put meters into ``"realtime"``, ``"historical"`` or ``"none"`` (S16)."""
        if to not in ("realtime", "historical", "none"):
            raise ValueError(f"unknown group {to!r}")
        chosen = set(int(m) for m in meter_ids)
        self.realtime -= chosen
        self.historical -= chosen
        if to == "realtime":
            self.realtime |= chosen
        elif to == "historical":
            self.historical |= chosen


REALTIME_WITHIN_S = 600
"""S3: real-time 5-minute data reaches the server within 10 minutes."""
HISTORICAL_WITHIN_S = 3 * 86400
"""S3: historical 5-minute data within "a few days" — taken here as three."""


def on_time_share(members: Iterable[int], meter: np.ndarray, interval_end: np.ndarray,
                  arrived: np.ndarray, first_end: int, last_end: int,
                  within_s: float) -> float | None:
    """Share of a group's 5-minute values ending in [first_end, last_end] (POSIX s) that
    arrived within ``within_s`` seconds of their interval end (S3): ``members`` × the
    5-minute intervals is the expected count; ``meter``/``interval_end``/``arrived`` are
    the first arrival of each delivered value. None for an empty group or span."""
    ids = np.array(sorted(set(int(m) for m in members)), np.int64)
    intervals = (last_end - first_end) // 300 + 1
    if not ids.size or intervals <= 0:
        return None
    meter, end = np.asarray(meter, np.int64), np.asarray(interval_end, np.int64)
    arrived = np.asarray(arrived, np.float64)
    inside = np.isin(meter, ids) & (end >= first_end) & (end <= last_end) & (end % 300 == 0)
    on_time = inside & (arrived - end <= within_s)
    return int(np.unique(np.stack([meter[on_time], end[on_time]]), axis=1).shape[1]) / (
        ids.size * intervals)
