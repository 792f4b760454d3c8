"""The API's read model: whole days of 30-minute data and registers in memory (SPEC S7).

A meter's day from the measurement store costs milliseconds (a row-group read); the API
must answer thousands of such requests a second. So the day's current values of the hot
channel families — forward and reverse active energy, 30-minute intervals and registers —
are loaded once per day into dense ``[meter, slot]`` arrays, and a request becomes a
binary search and a slice. The cache follows the MDMS: :meth:`ReadCache.apply` takes the
rows of newer versions (``Mdms.changes_since``) and patches blocks copy-on-write, so a
reader never sees half a change. Everything else goes to the MDMS directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pyarrow as pa

from smame.api.series import Series
from smame.clock import jst_day
from smame.readings import CHANNELS, Period, Quality, Quantity
from smame.store.layout import day_start
from smame.store.measurements import ts_seconds

__all__ = ["FAMILIES", "DayBlock", "Family", "ReadCache", "family_of", "settlement_day"]

Family = tuple[Quantity, Period]
FAMILIES: tuple[Family, ...] = (
    (Quantity.ACTIVE_IMPORT, Period.MIN30),
    (Quantity.ACTIVE_EXPORT, Period.MIN30),
    (Quantity.ACTIVE_IMPORT, Period.REGISTER),
    (Quantity.ACTIVE_EXPORT, Period.REGISTER),
)
SLOT_S = 1800
_MISSING = np.uint16(Quality.MISSING)


def family_codes(family: Family) -> list[int]:
    return sorted(c for c, i in CHANNELS.items() if (i.quantity, i.period) == family)


_FAMILY_OF = {code: family for family in FAMILIES for code in family_codes(family)}


def family_of(channel: int) -> Family | None:
    return _FAMILY_OF.get(int(channel))


def settlement_day(t: int) -> date:
    """The JST settlement day an interval ending at ``t`` belongs to (00:00 closes the day
    before; ``smame.clock.jst_day`` is the calendar day of a moment)."""
    return jst_day(int(t) - 1)


@dataclass(frozen=True)
class DayBlock:
    """One JST day of one family: ``slots`` values per meter, every ``SLOT_S`` from ``first``.

    Interval families hold the 48 slots ending 00:30…24:00; register families the 49
    readings 00:00…24:00.
    """

    day: date
    family: Family
    first: int
    slots: int
    meters: np.ndarray  # int64, sorted
    channel: np.ndarray  # uint16 per meter
    value: np.ndarray  # int64 [meter, slot]
    quality: np.ndarray  # uint16 [meter, slot]; MISSING where no value
    version: np.ndarray  # int64 [meter, slot]; 0 where no value
    seen: int = 0  # the MDMS version the block is up to date with
    span: np.ndarray | None = None  # int64 [meter, slot] seconds, for derived retail blocks
    digits: int = 8

    @property
    def is_register(self) -> bool:
        return self.family[1] is Period.REGISTER

    def series(self, meter_id: int, lo: int, hi: int) -> Series | None:
        """The meter's values in the block within ``[lo, hi]``; None if the block has no
        row for the meter (nothing stored that day)."""
        row = int(np.searchsorted(self.meters, meter_id))
        if row >= self.meters.size or self.meters[row] != meter_id:
            return None
        a = max(0, -(-(lo - self.first) // SLOT_S))
        b = min(self.slots, (hi - self.first) // SLOT_S + 1)
        if b <= a:
            return Series(int(self.channel[row]), np.empty(0, np.int64), np.empty(0, np.int64),
                          np.empty(0, np.uint16), np.empty(0, np.int64))
        version = self.version[row, a:b]
        present = np.flatnonzero(version)
        t = self.first + (a + present) * SLOT_S
        span = None
        if self.span is not None:
            span = self.span[row, a:b][present]
            if not bool(np.any(span != SLOT_S)):
                span = None
        return Series(int(self.channel[row]), t.astype(np.int64), self.value[row, a:b][present],
                      self.quality[row, a:b][present], version[present], self.digits, span)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.meters, self.channel, self.value, self.quality,
                                      self.version))


def _block_bounds(day: date, family: Family) -> tuple[int, int]:
    start = day_start(day)
    if family[1] is Period.REGISTER:
        return start, 49
    return start + SLOT_S, 48


def build_block(table: pa.Table, day: date, family: Family, seen: int = 0) -> DayBlock:
    """A block from current measurement rows of the family on ``day`` (other rows ignored)."""
    first, slots = _block_bounds(day, family)
    meter = table.column("meter_id").to_numpy()
    t = ts_seconds(table.column("interval_end"))
    offset = t - first
    keep = (offset >= 0) & (offset % SLOT_S == 0) & (offset // SLOT_S < slots)
    index = np.flatnonzero(keep)
    meter, slot = meter[index], offset[index] // SLOT_S
    meters, row = np.unique(meter, return_inverse=True)
    n = meters.size
    value = np.zeros((n, slots), np.int64)
    quality = np.full((n, slots), _MISSING, np.uint16)
    version = np.zeros((n, slots), np.int64)
    channel = np.zeros(n, np.uint16)
    if index.size:
        value[row, slot] = table.column("value").to_numpy()[index]
        quality[row, slot] = table.column("quality").to_numpy()[index]
        version[row, slot] = table.column("version").to_numpy()[index]
        channel[row] = table.column("channel").to_numpy()[index]
    return DayBlock(day, family, first, slots, meters, channel, value, quality, version, seen)


def retail_block(registers: DayBlock) -> DayBlock:
    """The 6-digit retail 30-minute intervals of a register block, for all meters at once
    (S4): each value is the retail register difference since the previous reading of the
    day, so a value after a missing reading covers more than one slot (``span``)."""
    reg, version, quality = registers.value, registers.version, registers.quality
    n, slots = reg.shape
    present = (version > 0) & (reg >= 0) & (reg < 10**8)
    retail = np.mod(reg // 10, 10**6)
    index = np.where(present, np.arange(slots), -1)
    last = np.maximum.accumulate(index, axis=1)
    before = np.concatenate([np.full((n, 1), -1), last[:, :-1]], axis=1)[:, 1:]
    ok = present[:, 1:] & (before >= 0)
    safe = np.maximum(before, 0)
    take = lambda a: np.take_along_axis(a, safe, axis=1)  # noqa: E731
    value = np.mod(retail[:, 1:] - take(retail), 10**6)
    q0, q1 = take(quality), quality[:, 1:]
    validated = np.uint16(Quality.VALIDATED)
    combined = ((q0 | q1) & ~validated) | (q0 & q1 & validated)
    versions = np.where(ok, np.maximum(version[:, 1:], take(version)), 0)
    span = (np.arange(1, slots) - before) * SLOT_S
    interval = (registers.family[0], Period.MIN30)
    return replace(registers, family=interval, first=registers.first + SLOT_S,
                   slots=slots - 1, channel=(registers.channel + 40).astype(np.uint16),
                   value=np.where(ok, value, 0), quality=np.where(ok, combined, _MISSING),
                   version=versions, span=span.astype(np.int64), digits=6)


def patch_block(block: DayBlock, table: pa.Table) -> DayBlock | None:
    """The block with newer rows applied (a copy), or None if a row belongs to a meter the
    block does not know (the caller drops the block; it is rebuilt when next asked)."""
    meter = table.column("meter_id").to_numpy()
    t = ts_seconds(table.column("interval_end"))
    offset = t - block.first
    keep = (offset >= 0) & (offset % SLOT_S == 0) & (offset // SLOT_S < block.slots)
    index = np.flatnonzero(keep)
    if not index.size:
        return block
    meter, slot = meter[index], offset[index] // SLOT_S
    row = np.searchsorted(block.meters, meter)
    if np.any(row >= block.meters.size) or np.any(block.meters[np.minimum(
            row, block.meters.size - 1)] != meter):
        return None
    version = table.column("version").to_numpy()[index]
    newer = version >= block.version[row, slot]
    row, slot, index, version = row[newer], slot[newer], index[newer], version[newer]
    values, quality, versions = block.value.copy(), block.quality.copy(), block.version.copy()
    values[row, slot] = table.column("value").to_numpy()[index]
    quality[row, slot] = table.column("quality").to_numpy()[index]
    versions[row, slot] = version
    return replace(block, value=values, quality=quality, version=versions)


class ReadCache:
    """Day blocks, least recently used dropped first.

    ``loader(day, family)`` returns the MDMS version it read at and the day's current rows
    of the family (meter_id, interval_end, channel, value, quality, version). One load per
    block at a time; other askers wait for it.
    """

    def __init__(self, loader, max_blocks: int = 16) -> None:
        self._loader = loader
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[tuple[date, Family], DayBlock] = OrderedDict()
        self._loading: dict[tuple[date, Family], Future] = {}
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, day: date, family: Family) -> DayBlock | None:
        """The block if it is in memory (never blocks)."""
        return self._blocks.get((day, family))

    def load(self, day: date, family: Family) -> DayBlock:
        """The block, loading it if needed (blocks the calling thread)."""
        key = (day, family)
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
                return block
            future = self._loading.get(key)
            owner = future is None
            if owner:
                future = self._loading[key] = Future()
        if not owner:
            return future.result()
        try:
            seen, table = self._loader(day, family)
            block = build_block(table, day, family, seen)
        except BaseException as exc:
            with self._lock:
                self._loading.pop(key, None)
            future.set_exception(exc)
            raise
        with self._lock:
            self._blocks[key] = block
            self._loading.pop(key, None)
            while len(self._blocks) > self.max_blocks:
                self._blocks.popitem(last=False)
            self.loads += 1
        future.set_result(block)
        return block

    def catch_up(self, latest: int, changes) -> int:
        """Bring every block up to MDMS version ``latest``: ``changes(since, channels)``
        gives current rows of versions after ``since``. Returns blocks patched or dropped."""
        stale: dict[int, list[tuple[date, Family]]] = {}
        for key, block in list(self._blocks.items()):
            if block.seen < latest:
                stale.setdefault(block.seen, []).append(key)
        touched = 0
        codes = [c for family in FAMILIES for c in family_codes(family)]
        for since, keys in stale.items():
            table = changes(since, codes)
            channel = table.column("channel").to_numpy()
            t = ts_seconds(table.column("interval_end"))
            for key in keys:
                block = self._blocks.get(key)
                if block is None:
                    continue
                mask = (np.isin(channel, np.array(family_codes(block.family), np.uint16))
                        & (t >= block.first) & (t <= block.first + (block.slots - 1) * SLOT_S))
                patched = (patch_block(block, table.filter(pa.array(mask))) if mask.any()
                           else block)
                touched += patched is not block
                with self._lock:
                    if patched is None:
                        self._blocks.pop(key, None)
                    elif key in self._blocks:
                        self._blocks[key] = replace(patched, seen=latest)
        return touched

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in list(self._blocks.values()))
