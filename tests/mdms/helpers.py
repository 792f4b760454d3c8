"""Builders of small, exact reading batches for MDMS tests."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from smame.readings import make_batch
from smame.registers import REGISTER_MODULUS
from smame.store.layout import day_start

DAY = date(2026, 7, 1)
START = day_start(DAY)  # 00:00 JST of DAY in POSIX seconds
SLOT = 1800


def slot_end(k: int, day: date = DAY) -> int:
    """POSIX seconds of the end of 30-minute slot ``k`` (1..48) of ``day``."""
    return day_start(day) + k * SLOT


def day_batch(values: np.ndarray, meters: list[int] | None = None, day: date = DAY,
              register_start: int | list[int] = 1000, quality: np.ndarray | int = 0,
              with_registers: bool = True) -> pa.Table:
    """30-minute import values (meters × 48) with consistent registers (channels 140, 100).

    The register at the day's start (slot 0) is included, so every slot's interval
    can be checked against register differences.
    """
    values = np.atleast_2d(np.asarray(values, np.int64))
    count, slots = values.shape
    meters = meters or [1 + i for i in range(count)]
    starts = np.broadcast_to(np.asarray(register_start, np.int64), count)
    ends = day_start(day) + np.arange(1, slots + 1) * SLOT
    registers = np.mod(starts[:, None] + np.cumsum(values, axis=1), REGISTER_MODULUS)
    ids = np.repeat(meters, slots)
    times = np.tile(ends, count)
    q = np.broadcast_to(np.asarray(quality, np.uint16), values.shape).ravel()
    parts = [make_batch(ids, times, 140, values.ravel(), q)]
    if with_registers:
        parts.append(make_batch(ids, times, 100, registers.ravel(), q))
        parts.append(make_batch(meters, day_start(day), 100, starts))
    return pa.concat_tables(parts)


def flat_day(value: int = 20, meters: int = 1) -> np.ndarray:
    return np.full((meters, 48), value, np.int64)
