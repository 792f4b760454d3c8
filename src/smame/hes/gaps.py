"""Finding the intervals that did not arrive, per meter (SPEC S1 gap fill).

Pure, columnar functions over epoch minutes. A gap is a run of missing interval ends; the
head-end re-reads it from the meter's storage by range, as far as the meter still keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Gap", "expected_ends", "find_gaps", "runs"]


@dataclass(frozen=True)
class Gap:
    """Interval ends ``first``…``last`` (epoch minutes, inclusive) missing for one meter.

    ``recoverable`` is False when the meter no longer keeps the readings that the re-read
    would need (older than its retention).
    """

    meter_id: int
    first: int
    last: int
    period: int
    recoverable: bool = True

    @property
    def count(self) -> int:
        return (self.last - self.first) // self.period + 1


def expected_ends(start: int, end: int, period: int) -> npt.NDArray[np.int64]:
    """Interval ends of ``period`` minutes in ``(start, end]`` (epoch minutes)."""
    first = start + period - start % period
    return np.arange(first, end + 1, period, dtype=np.int64)


def runs(ends: npt.NDArray[np.int64], period: int) -> list[tuple[int, int]]:
    """Consecutive runs ``(first, last)`` in sorted interval ends."""
    if ends.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(ends) != period)
    starts = np.concatenate(([0], breaks + 1))
    stops = np.concatenate((breaks, [ends.size - 1]))
    return [(int(ends[a]), int(ends[b])) for a, b in zip(starts, stops, strict=True)]


def find_gaps(
    meter_ids: npt.NDArray[np.int64],
    received_meter: npt.NDArray[np.int64],
    received_end: npt.NDArray[np.int64],
    start: int,
    end: int,
    period: int,
    now: int,
    retention_minutes: int,
) -> list[Gap]:
    """Missing interval ends in ``(start, end]`` for each of ``meter_ids``.

    ``received_meter``/``received_end`` are the (meter, interval end) pairs that did arrive.
    A gap whose first interval needs a reading older than ``now - retention_minutes`` is
    split: the part the meter still keeps is recoverable, the rest is not.
    """
    expected = expected_ends(start, end, period)
    meters = np.unique(np.asarray(meter_ids, np.int64))
    if expected.size == 0 or meters.size == 0:
        return []
    have = np.zeros((meters.size, expected.size), np.bool_)
    row = np.searchsorted(meters, received_meter)
    col = np.searchsorted(expected, received_end)
    inside = (row < meters.size) & (col < expected.size)
    inside[inside] &= (meters[row[inside]] == received_meter[inside]) & (
        expected[col[inside]] == received_end[inside])
    have[row[inside], col[inside]] = True
    # The reading that opens an interval is stored at its start: it must still be kept.
    oldest_recoverable_end = now - retention_minutes + period
    gaps: list[Gap] = []
    for r in np.flatnonzero(~have.all(axis=1)):
        for first, last in runs(expected[~have[r]], period):
            meter = int(meters[r])
            if last < oldest_recoverable_end:
                gaps.append(Gap(meter, first, last, period, recoverable=False))
            elif first < oldest_recoverable_end:
                cut = oldest_recoverable_end + (-oldest_recoverable_end) % period
                gaps.append(Gap(meter, first, cut - period, period, recoverable=False))
                gaps.append(Gap(meter, cut, last, period))
            else:
                gaps.append(Gap(meter, first, last, period))
    return gaps
