"""On-meter storage: register readings at interval boundaries, kept for a retention (SPEC M3).

Each :class:`IntervalStore` is a ring of readings taken at every ``period`` boundary for all
meters of a fleet. Interval values are differences of consecutive readings (wrap-aware),
so a store that keeps ``retention / period`` intervals holds one reading more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smame.registers import REGISTER_MODULUS

__all__ = ["IntervalStore", "RetentionConfig", "StoredReadings"]

MIN_BILLING_RETENTION_DAYS = 31  # JIS C 1271-2: at least one month


@dataclass(frozen=True)
class RetentionConfig:
    """How long the meter keeps each kind of value (SPEC M3). 0 switches a store off."""

    minute1_minutes: int = 60
    minute5_days: int = 14
    minute15_days: int = 45
    minute30_days: int = 45

    def __post_init__(self) -> None:
        if self.minute1_minutes < 0 or self.minute5_days < 0:
            raise ValueError("retention cannot be negative")
        for name in ("minute15_days", "minute30_days"):
            days = getattr(self, name)
            if 0 < days < MIN_BILLING_RETENTION_DAYS or days < 0:
                raise ValueError(
                    f"{name}={days}: billing values are kept at least "
                    f"{MIN_BILLING_RETENTION_DAYS} days (JIS C 1271-2), or 0 for none"
                )

    def minutes(self, period: int) -> int:
        """Retention in minutes of the store of ``period``-minute values."""
        return {
            1: self.minute1_minutes,
            5: self.minute5_days * 1440,
            15: self.minute15_days * 1440,
            30: self.minute30_days * 1440,
        }[period]


@dataclass(frozen=True)
class StoredReadings:
    """Readings of some meters at consecutive boundaries: ``values[name][meter, k]``."""

    boundaries: npt.NDArray[np.int64]  # epoch minutes
    values: dict[str, npt.NDArray[np.int64]]
    flags: npt.NDArray[np.uint16] | None

    def intervals(self, name: str) -> npt.NDArray[np.int64]:
        """Interval values between consecutive readings (register channels, wrap-aware)."""
        return np.mod(np.diff(self.values[name], axis=-1), REGISTER_MODULUS)


class IntervalStore:
    """Ring buffer of readings at each ``period``-minute boundary for ``n`` meters."""

    def __init__(
        self,
        n: int,
        period: int,
        retention_minutes: int,
        names: tuple[str, ...],
        with_flags: bool = True,
    ) -> None:
        if retention_minutes % period:
            raise ValueError(f"retention {retention_minutes} min is not a multiple of {period}")
        self.period = period
        self.retention_minutes = retention_minutes
        self.slots = retention_minutes // period + 1
        self.names = names
        # Time-major: a boundary's readings of all meters are one contiguous row.
        self._data = {name: np.zeros((self.slots, n), np.int32) for name in names}
        self._flags = np.zeros((self.slots, n), np.uint16) if with_flags else None
        self.latest: int | None = None  # epoch minute of the newest reading
        self.count = 0

    @property
    def oldest(self) -> int | None:
        """Epoch minute of the oldest reading still kept."""
        if self.latest is None:
            return None
        return self.latest - (self.count - 1) * self.period

    def write(
        self,
        boundary: int,
        values: dict[str, npt.NDArray[np.integer]],
        flags: npt.NDArray[np.uint16] | int = 0,
        rows: slice = slice(None),
    ) -> None:
        """Write the readings of meters ``rows`` taken at epoch minute ``boundary``.

        Partial writes (a chunk of meters at a time) become visible with :meth:`commit`.
        """
        if boundary % self.period:
            raise ValueError(f"minute {boundary} is not a {self.period}-minute boundary")
        if self.latest is not None and not (
            self.latest <= boundary <= self.latest + self.retention_minutes
        ):
            raise ValueError(f"boundary {boundary} is out of sequence after {self.latest}")
        slot = (boundary // self.period) % self.slots
        for name in self.names:
            self._data[name][slot, rows] = values[name]
        if self._flags is not None:
            self._flags[slot, rows] = flags

    def commit(self, boundary: int) -> None:
        """Make the readings at ``boundary`` the newest; the oldest beyond retention go."""
        if self.latest is not None and boundary == self.latest:
            return
        if self.latest is not None and boundary != self.latest + self.period:
            raise ValueError(f"boundary {boundary} does not follow {self.latest}")
        self.latest = boundary
        self.count = min(self.count + 1, self.slots)

    def record(
        self,
        boundary: int,
        values: dict[str, npt.NDArray[np.integer]],
        flags: npt.NDArray[np.uint16] | int = 0,
    ) -> None:
        """Store the readings of all meters taken at epoch minute ``boundary``."""
        if boundary % self.period:
            raise ValueError(f"minute {boundary} is not a {self.period}-minute boundary")
        if self.latest is not None and boundary != self.latest + self.period:
            raise ValueError(f"boundary {boundary} does not follow {self.latest}")
        self.write(boundary, values, flags)
        self.commit(boundary)

    def read(
        self,
        start: int,
        end: int,
        rows: npt.ArrayLike | slice = slice(None),
    ) -> StoredReadings:
        """Readings at boundaries in ``[start, end]`` (epoch minutes) that are still kept.

        Values come back meter-major: ``values[name][meter, k]``.
        """
        oldest = self.oldest
        if oldest is None or end < oldest or start > self.latest:
            boundaries = np.empty(0, np.int64)
        else:
            first = max(start + (-start) % self.period, oldest)
            last = min(end - end % self.period, self.latest)
            boundaries = np.arange(first, last + 1, self.period, dtype=np.int64)
        slots = (boundaries // self.period) % self.slots
        values = {name: self._data[name][slots][:, rows].T.astype(np.int64) for name in self.names}
        flags = None if self._flags is None else self._flags[slots][:, rows].T
        return StoredReadings(boundaries, values, flags)
