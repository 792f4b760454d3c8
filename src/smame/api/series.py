"""One meter's values of one channel as numpy columns, and the 6-digit retail view (SPEC S4).

Everything the API serves passes through :class:`Series`: interval ends (POSIX s), values
in the channel's unit, quality flags and MDMS versions. Retailers (and third parties) get
values derived with the rule of :mod:`smame.registers`: a retail register is
``floor(register / 10) mod 10**6`` and a retail interval is the difference of the retail
registers at its two ends, so retail intervals add up exactly to retail register
differences and never drift from the meter's 6-digit display.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from smame.readings import CHANNELS, ChannelInfo, Quality, ReadingType
from smame.registers import RETAIL_MODULUS, register_delta, retail_register

__all__ = [
    "Series",
    "clip",
    "empty_series",
    "five_minute_registers",
    "retail_intervals",
    "retail_registers",
    "value_type",
]

_VALIDATED = np.uint16(Quality.VALIDATED)
_MISSING = np.uint16(Quality.MISSING)


@dataclass(frozen=True)
class Series:
    """Values of one channel of one meter, sorted by time."""

    channel: int  # the stored channel the values come from
    t: np.ndarray  # int64 POSIX s: interval end, or moment of a register reading
    value: np.ndarray  # int64, in the channel's unit (times 10 for a retail view)
    quality: np.ndarray  # uint16 Quality flags
    version: np.ndarray  # int64 MDMS version
    digits: int = 8  # 8: as measured; 6: the retail view (S4)
    span: np.ndarray | None = None  # seconds a value covers, where not the channel's period

    def __len__(self) -> int:
        return int(self.t.size)

    def take(self, index: np.ndarray) -> Series:
        return replace(self, t=self.t[index], value=self.value[index],
                       quality=self.quality[index], version=self.version[index],
                       span=None if self.span is None else self.span[index])


def empty_series(channel: int, digits: int = 8) -> Series:
    return Series(channel, np.empty(0, np.int64), np.empty(0, np.int64),
                  np.empty(0, np.uint16), np.empty(0, np.int64), digits)


def value_type(channel: int, digits: int) -> tuple[ChannelInfo, ReadingType, str]:
    """The channel, the ReadingType and the unit label of values served at ``digits``.

    A retail (6-digit) value steps ten times coarser than the meter's register unit: the
    ReadingType's power-of-ten multiplier grows by one (0.01 kWh → 0.1 kWh).
    """
    info = CHANNELS[channel]
    if digits == 8 or info.base_unit not in ("kWh", "kvarh"):
        return info, info.reading_type, info.unit
    exponent = info.unit_exponent + 1
    step = f"{10.0 ** exponent:g}" if exponent < 0 else f"{10 ** exponent}"
    unit = info.base_unit if step == "1" else f"{step} {info.base_unit}"
    return info, replace(info.reading_type, multiplier=info.reading_type.multiplier + 1), unit


def _combine_quality(earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """Quality of a value derived from two readings: any flag of either; VALIDATED if both."""
    both = earlier & later & _VALIDATED
    return ((earlier | later) & ~_VALIDATED) | both


def retail_registers(registers: Series) -> Series:
    """6-digit retail registers of 8-digit register readings (S4)."""
    if not len(registers):
        return replace(registers, digits=6)
    ok = (registers.value >= 0) & (registers.value < 10**8)
    registers = registers.take(np.flatnonzero(ok))
    return replace(registers, value=retail_register(registers.value.astype(np.int64)), digits=6)


def retail_intervals(registers: Series, interval_channel: int, period_s: int, lo: int,
                     hi: int) -> Series:
    """6-digit retail interval values ending in ``(lo, hi]`` from 8-digit registers (S4).

    Registers are taken at the boundaries of ``period_s``; each value is the retail
    register difference since the previous boundary with a reading. Where readings are
    missing, a value covers more than one period and says so in ``span``.
    """
    aligned = registers.take(np.flatnonzero(registers.t % period_s == 0)) if len(
        registers) else registers
    retail = retail_registers(aligned)
    if len(retail) < 2:
        return empty_series(interval_channel, 6)
    later = slice(1, None)
    earlier = slice(None, -1)
    values = register_delta(retail.value[earlier], retail.value[later], RETAIL_MODULUS)
    span = retail.t[later] - retail.t[earlier]
    keep = (retail.t[later] > lo) & (retail.t[later] <= hi)
    quality = _combine_quality(retail.quality[earlier], retail.quality[later])
    version = np.maximum(retail.version[earlier], retail.version[later])
    index = np.flatnonzero(keep)
    spans = span[index]
    return Series(interval_channel, retail.t[later][index], values[index].astype(np.int64),
                  quality[index], version[index], 6,
                  spans if bool(np.any(spans != period_s)) else None)


def five_minute_registers(registers: Series, intervals: Series) -> Series:
    """8-digit registers at 5-minute boundaries: the register at each 30-minute boundary
    plus the 5-minute values since it (intervals are register differences, so this is
    exact). Boundaries after a missing 5-minute value are left out."""
    if not len(registers) or not len(intervals):
        return replace(registers, t=registers.t[:0], value=registers.value[:0],
                       quality=registers.quality[:0], version=registers.version[:0])
    base = registers.take(np.flatnonzero(registers.t % 1800 == 0))
    by_end = dict(zip(intervals.t.tolist(), range(len(intervals)), strict=True))
    t, value, quality, version = [], [], [], []
    for k in range(len(base)):
        start, reg = int(base.t[k]), int(base.value[k])
        q, v = int(base.quality[k]), int(base.version[k])
        t.append(start)
        value.append(reg)
        quality.append(q)
        version.append(v)
        for step in range(1, 6):
            end = start + 300 * step
            i = by_end.get(end)
            if i is None:
                break
            reg = (reg + int(intervals.value[i])) % 10**8
            q = int(_combine_quality(np.uint16(q), intervals.quality[i]))
            v = max(v, int(intervals.version[i]))
            t.append(end)
            value.append(reg)
            quality.append(q)
            version.append(v)
    order = np.argsort(np.array(t, np.int64), kind="stable")
    ts = np.array(t, np.int64)[order]
    unique = np.r_[True, ts[1:] != ts[:-1]] if ts.size else np.zeros(0, np.bool_)
    pick = order[unique]
    return Series(registers.channel, np.array(t, np.int64)[pick], np.array(value, np.int64)[pick],
                  np.array(quality, np.uint16)[pick], np.array(version, np.int64)[pick])


def clip(series: Series, windows: tuple[tuple[int, int | None], ...] | None,
         interval: bool) -> Series:
    """Values inside the allowed windows ``[start, end)`` (None: no restriction).

    An interval value belongs to a window when its end is in ``(start, end]``: the slot
    ending at the first moment of a supply period still belongs to the one before. A
    register reading belongs when its time is in ``[start, end]``: the reading at a switch
    is both the old supplier's last and the new one's first.
    """
    if windows is None or not len(series):
        return series
    keep = np.zeros(len(series), np.bool_)
    for start, end in windows:
        after = series.t > start if interval else series.t >= start
        before = np.ones_like(keep) if end is None else series.t <= end
        if interval and series.span is not None:
            after &= series.t - series.span >= start
        keep |= after & before
    return series.take(np.flatnonzero(keep))


def missing_mask(quality: np.ndarray) -> np.ndarray:
    return (quality & _MISSING) != 0
