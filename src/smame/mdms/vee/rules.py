"""Validation rules as pure, vectorized functions (SPEC S1, S4: data quality before use).

Every function takes aligned numpy arrays, one element per reading, and returns a
boolean mask of the readings that trigger the rule. Values are integers in the
channel's unit; times are POSIX seconds. Rows are sorted by meter, channel and time
where a rule looks at neighbours.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from smame.registers import REGISTER_MODULUS

__all__ = [
    "future",
    "high",
    "low",
    "misaligned",
    "negative",
    "out_of_range",
    "run_lengths",
    "segment_sum_mismatch",
    "spike",
]

B = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def negative(value: I64) -> B:
    """Negative consumption or register: energy never runs backwards (SPEC M1)."""
    return value < 0


def out_of_range(value: I64) -> B:
    """Register values outside the 8-digit range 0..99,999,999 (SPEC M1, S4)."""
    return (value < 0) | (value >= REGISTER_MODULUS)


def future(interval_end: I64, now: float, tolerance_s: I64 | int) -> B:
    """Interval ends later than the clock's ``now`` plus a tolerance, in seconds."""
    return interval_end > now + tolerance_s


def misaligned(interval_end: I64, period_s: I64) -> B:
    """Interval ends off their period's boundary (clock sanity); ``period_s`` 0 is exempt."""
    return (period_s > 0) & (interval_end % np.maximum(period_s, 1) != 0)


def spike(value: I64, history_max: I64, factor: F64, floor: F64, has_history: B) -> B:
    """Values above ``factor`` × max(the series' own historic maximum, ``floor``)."""
    return has_history & (value > factor * np.maximum(history_max, floor))


def high(value: I64, history_max: I64, factor: F64, has_history: B) -> B:
    """Values above ``factor`` × the series' own historic maximum."""
    return has_history & (history_max > 0) & (value > factor * history_max)


def low(value: I64, mean: F64, factor: F64, has_history: B) -> B:
    """Values below ``factor`` × the series' own mean (``factor`` 0 disables)."""
    return has_history & (factor > 0) & (value < factor * mean)


def run_lengths(condition: B, series_start: B, carry: I64) -> I64:
    """Length of the run of ``condition`` ending at each row, within each series.

    ``series_start`` marks each series' first row; ``carry`` (per row, read at series
    starts) is the run already under way before the first row of the series.
    """
    n = condition.size
    index = np.arange(n)
    breaks = np.where(~condition | series_start, index, -1)
    last_break = np.maximum.accumulate(breaks) if n else breaks
    at = np.maximum(last_break, 0)
    started_true = condition[at] & series_start[at]
    length = np.where(started_true, index - last_break + 1 + carry[at], index - last_break)
    return np.where(condition, length, 0)


def segment_sum_mismatch(
    interval_sum: I64, interval_count: I64, expected_count: I64, register_delta: I64
) -> B:
    """Complete register segments whose interval values do not add up (SPEC M1, S4).

    A segment runs between two readings of a register. It is checked only when it holds
    exactly the expected number of intervals; its intervals must sum to the register
    difference (taken modulo 10^8, so a wrap inside the segment is handled).
    """
    complete = (interval_count == expected_count) & (expected_count > 0)
    return complete & (interval_sum != register_delta)
