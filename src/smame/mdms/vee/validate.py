"""Validation of a set of readings against rules, the meters' history and their events.

Input rows are sorted by meter, channel and interval end (:class:`Rows`). The result is
the validated quality flags, the reason bits of every row, and the updated history of
every series the rows touch. Nothing here does I/O: the caller supplies the history
(:class:`SeriesState`) and the off spans from events.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from smame.mdms.events import OUTAGE, OffSpans
from smame.mdms.parallel import POOL, WORKERS
from smame.mdms.vee import rules
from smame.mdms.vee.channels import (
    CHANNEL_CODES,
    HAS_REGISTER,
    IS_ENERGY_INTERVAL,
    IS_REGISTER,
    PERIOD_S,
    PERIOD_S32,
    REGISTER_OF,
)
from smame.mdms.vee.config import VeeConfig
from smame.mdms.vee.reasons import Action, Reason
from smame.mdms.vee.state import STATE_COLUMNS, SeriesState, series_key
from smame.readings import Quality
from smame.registers import REGISTER_MODULUS

__all__ = ["FAILING", "PARALLEL_ROWS", "Rows", "Validation", "validate_parallel",
           "validate_rows"]

FAILING = int(Quality.SUSPECT)
PARALLEL_ROWS = 1 << 20
"""Batches larger than this are validated in parts, one per worker thread."""


@dataclass
class Rows:
    """Readings as sorted columns: meter, POSIX-second interval end, channel, value..."""

    meter: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    value: np.ndarray
    quality: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return int(self.meter.size)

    def take(self, index: np.ndarray) -> Rows:
        names = ("meter", "t", "channel", "value", "quality", "source")
        if index.size > PARALLEL_ROWS:
            return Rows(*POOL.map(lambda name: getattr(self, name)[index], names))
        return Rows(*(getattr(self, name)[index] for name in names))

    def slice(self, start: int, stop: int) -> Rows:
        return Rows(self.meter[start:stop], self.t[start:stop], self.channel[start:stop],
                    self.value[start:stop], self.quality[start:stop], self.source[start:stop])


@dataclass
class Validation:
    quality: np.ndarray  # uint16: input flags | VALIDATED or SUSPECT
    reasons: np.ndarray  # uint32 Reason bits
    state: SeriesState  # history of the touched series after these rows


def validate_parallel(
    rows: Rows,
    state: SeriesState,
    config: VeeConfig,
    now: float,
    spans: OffSpans,
    conflict: np.ndarray | None = None,
    revised: np.ndarray | None = None,
) -> Validation:
    """:func:`validate_rows` over parts split at meter boundaries, on worker threads.

    Every rule looks only within one meter's rows, so the parts are independent; the
    parts' series are disjoint and in order, so their states concatenate.
    """
    n = len(rows)
    if n <= PARALLEL_ROWS:
        return validate_rows(rows, state, config, now, spans, conflict, revised)
    cuts = [0]
    for k in range(1, WORKERS):
        cut = int(np.searchsorted(rows.meter, rows.meter[n * k // WORKERS], side="left"))
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(n)
    parts = list(itertools.pairwise(cuts))

    def run(part: tuple[int, int]) -> Validation:
        a, b = part
        return validate_rows(rows.slice(a, b), state, config, now, spans,
                             None if conflict is None else conflict[a:b],
                             None if revised is None else revised[a:b])

    results = list(POOL.map(run, parts))
    states = [r.state for r in results]
    merged = SeriesState(**{name: np.concatenate([getattr(st, name) for st in states])
                            for name in ("key", *STATE_COLUMNS)})
    return Validation(np.concatenate([r.quality for r in results]),
                      np.concatenate([r.reasons for r in results]), merged)


class _Marks:
    """Collects reason bits and failures of rows according to each rule's action."""

    def __init__(self, n: int, config: VeeConfig, channel: np.ndarray) -> None:
        self.reasons = np.zeros(n, np.uint32)
        self.failed = np.zeros(n, np.bool_)
        self.config = config
        self.channel = channel

    def apply(self, rule: str, mask: np.ndarray, reason: Reason) -> None:
        """Mark the rows of ``mask`` (a boolean mask or row indices) that ``rule`` hits."""
        index = np.flatnonzero(mask) if mask.dtype == np.bool_ else mask
        if not index.size:
            return
        action = self.config.action_table(rule)[self.channel[index]]
        self.reasons[index[action > Action.OFF]] |= np.uint32(reason)
        self.failed[index[action == Action.FAIL]] = True

    def active(self, rule: str, channels: np.ndarray) -> np.ndarray:
        """Whether ``rule`` is on for each of ``channels``."""
        return self.config.action_table(rule)[channels] > Action.OFF


def validate_rows(
    rows: Rows,
    state: SeriesState,
    config: VeeConfig,
    now: float,
    spans: OffSpans,
    conflict: np.ndarray | None = None,
    revised: np.ndarray | None = None,
) -> Validation:
    """Run every rule on ``rows`` (sorted by meter, channel, time); see ``docs/mdms.md``.

    Per-series values (history, thresholds) are computed once per series and spread
    over its rows; masks are refined on the few candidate rows, so the cost stays a
    handful of passes over the columns.
    """
    n = len(rows)
    c = rows.channel
    v, t = rows.value, rows.t
    marks = _Marks(n, config, c)
    period = PERIOD_S[c]

    tolerance = config.param_table("future_tolerance_s")
    late = np.flatnonzero(t > now + tolerance.min())
    marks.apply("future", late[t[late] > now + tolerance[c[late]]], Reason.TIME_FUTURE)
    marks.apply("misaligned", _misaligned(t, c), Reason.TIME_MISALIGNED)
    marks.apply("clock", (rows.quality & Quality.CLOCK_ADJUSTED) > 0, Reason.CLOCK_ADJUSTED)
    odd = np.flatnonzero(rules.out_of_range(v))
    negative = odd[v[odd] < 0]
    marks.apply("negative", negative[(IS_ENERGY_INTERVAL | IS_REGISTER)[c[negative]]],
                Reason.NEGATIVE)
    marks.apply("out_of_range", odd[IS_REGISTER[c[odd]]], Reason.OUT_OF_RANGE)
    if conflict is not None:
        marks.apply("duplicate_conflict", conflict, Reason.DUPLICATE_CONFLICT)
    if revised is not None and revised.any():
        marks.reasons[revised] |= np.uint32(Reason.REVISED)

    series_start = np.ones(n, np.bool_)
    np.not_equal(rows.meter[1:], rows.meter[:-1], out=series_start[1:])
    series_start[1:] |= rows.channel[1:] != rows.channel[:-1]
    first_rows = np.flatnonzero(series_start)
    lengths = np.diff(first_rows, append=n)
    series_channel = c[first_rows].astype(np.intp)
    series_keys = series_key(rows.meter[first_rows], series_channel)
    pos, found = state.find(series_keys)
    hist_n = state.get("n", pos, found, 0)
    hist_max = state.get("max_value", pos, found, 0).astype(np.float64)
    hist_mean = state.get("total", pos, found, 0.0) / np.maximum(hist_n, 1)
    has_history = hist_n >= config.param_table("min_history")[series_channel]
    _history_rule(marks, "spike", Reason.SPIKE, v, lengths, series_channel, has_history,
                  config.param_table("spike_factor")[series_channel] * np.maximum(
                      hist_max, config.param_table("spike_floor")[series_channel]), above=True)
    _history_rule(marks, "high", Reason.HIGH, v, lengths, series_channel,
                  has_history & (hist_max > 0),
                  config.param_table("high_factor")[series_channel] * hist_max, above=True)
    low_factor = config.param_table("low_factor")[series_channel]
    _history_rule(marks, "low", Reason.LOW, v, lengths, series_channel,
                  has_history & (low_factor > 0), low_factor * hist_mean, above=False)

    off_flags = (rows.quality & (Quality.POWER_OUTAGE | Quality.DISCONNECTED)) > 0
    if off_flags.any():
        flagged = np.flatnonzero(off_flags)
        q = rows.quality[flagged]
        marks.reasons[flagged[(q & Quality.POWER_OUTAGE) > 0]] |= np.uint32(Reason.OUTAGE)
        marks.reasons[flagged[(q & Quality.DISCONNECTED) > 0]] |= np.uint32(Reason.DISCONNECTED)
    off_any = off_flags
    if len(spans):
        off_all = _apply_off_spans(rows, period, spans, marks)
        off_any = off_flags | ((marks.reasons & np.uint32(Reason.OUTAGE | Reason.DISCONNECTED))
                               > 0)
        marks.apply("energy_while_off", off_all & IS_ENERGY_INTERVAL[c] & (v > 0),
                    Reason.ENERGY_WHILE_OFF)

    run = _zero_runs(marks, rows, first_rows, lengths, series_channel, state, pos, found,
                     off_any)
    _sum_check(rows, state, marks)

    failed = marks.failed
    quality = rows.quality.astype(np.uint16) & np.uint16(~(Quality.SUSPECT | Quality.VALIDATED))
    quality |= np.where(failed, np.uint16(Quality.SUSPECT), np.uint16(Quality.VALIDATED))
    new_state = _next_state(rows, first_rows, series_keys, state, pos, found, failed, run)
    return Validation(quality, marks.reasons, new_state)


def _history_rule(marks: _Marks, rule: str, reason: Reason, value: np.ndarray,
                  lengths: np.ndarray, series_channel: np.ndarray, applies: np.ndarray,
                  threshold: np.ndarray, above: bool) -> None:
    """Compare each row with its series' threshold where the rule is on and has history."""
    applies = applies & marks.active(rule, series_channel)
    if not applies.any():
        return
    limit = np.where(applies, threshold, np.inf if above else -np.inf)
    per_row = np.repeat(limit, lengths)
    marks.apply(rule, value > per_row if above else value < per_row, reason)


def _zero_runs(marks: _Marks, rows: Rows, first_rows: np.ndarray, lengths: np.ndarray,
               series_channel: np.ndarray, state: SeriesState, pos: np.ndarray,
               found: np.ndarray, off_any: np.ndarray) -> np.ndarray:
    """Consecutive zero energy intervals (continuing the stored run); flag long runs."""
    n = len(rows)
    run = np.zeros(n, np.int64)
    checked = marks.active("prolonged_zero", series_channel) & IS_ENERGY_INTERVAL[series_channel]
    if not checked.any():
        return run
    index = np.flatnonzero(np.repeat(checked, lengths))
    sub_first = np.zeros(n, np.bool_)
    sub_first[first_rows] = True
    starts = sub_first[index]
    continues = rows.t[first_rows] > state.get("last_t", pos, found, np.iinfo(np.int64).min)
    carry_series = np.where(continues, state.get("zero_run", pos, found, 0), 0)
    carry = np.repeat(carry_series, lengths)[index]
    zero = (rows.value[index] == 0) & ~off_any[index]
    run[index] = rules.run_lengths(zero, starts, carry)
    limit = marks.config.param_table("zero_run_limit")[rows.channel[index].astype(np.intp)]
    marks.apply("prolonged_zero", index[zero & (run[index] >= limit)], Reason.PROLONGED_ZERO)
    return run


def _apply_off_spans(rows: Rows, period: np.ndarray, spans: OffSpans, marks: _Marks
                     ) -> np.ndarray:
    """Mark intervals overlapping off spans; return rows off for their whole interval."""
    off_all = np.zeros(len(rows), np.bool_)
    if not len(spans):
        return off_all
    starts_of_interval = rows.t - period
    for meter, start, end, kind in zip(spans.meter_id, spans.start, spans.end, spans.kind,
                                       strict=True):
        lo, hi = np.searchsorted(rows.meter, [meter, meter + 1])
        if lo == hi:
            continue
        sl = slice(lo, hi)
        overlap = (rows.t[sl] > start) & (starts_of_interval[sl] < end) & (period[sl] > 0)
        whole = overlap & (starts_of_interval[sl] >= start) & (rows.t[sl] <= end)
        reason = Reason.OUTAGE if kind == OUTAGE else Reason.DISCONNECTED
        marks.reasons[sl][overlap] |= np.uint32(reason)
        off_all[sl] |= whole
    return off_all


def _misaligned(t: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """:func:`rules.misaligned` on 32-bit offsets from a day boundary (all periods divide
    a day), which is several times cheaper than 64-bit division."""
    if not t.size:
        return np.zeros(0, np.bool_)
    base = int(t.min()) // 86400 * 86400
    if int(t.max()) - base >= 2**31:
        return rules.misaligned(t, PERIOD_S[channel])
    offset = (t - base).astype(np.int32)
    return rules.misaligned(offset, PERIOD_S32[channel])


def _sum_check(rows: Rows, state: SeriesState, marks: _Marks) -> None:
    """Intervals between two register readings must add up to their difference (M1).

    For each interval channel, a running sum over its rows (sorted by meter and time) is
    read at every register reading of the same meter; differences of the running sum and
    of the row position between consecutive readings give each segment's sum and count.
    """
    ch = rows.channel
    counts = np.bincount(ch, minlength=CHANNEL_CODES)
    codes = np.flatnonzero((counts > 0) & HAS_REGISTER)
    if not codes.size:
        return
    by_channel = np.argsort(ch, kind="stable")  # radix sort: rows of each code, in order
    ends = np.cumsum(counts)
    starts = ends - counts
    mask = np.zeros(len(rows), np.bool_)
    registers: dict[int, tuple] = {}
    for code in codes:
        register = int(REGISTER_OF[code])
        if register not in registers:
            registers[register] = _register_readings(
                rows, state, by_channel[starts[register]:ends[register]], register)
        reg_m, reg_t, reg_v, reg_row = registers[register]
        if reg_m.size < 2:
            continue
        iv = by_channel[starts[code]:ends[code]]
        iv_m, iv_t = rows.meter[iv], rows.t[iv]
        packed_iv, packed_reg = _pack(iv_m, iv_t, reg_m, reg_t)
        position = np.searchsorted(packed_iv, packed_reg, side="right")
        running = np.zeros(iv.size + 1, np.int64)
        np.cumsum(rows.value[iv], out=running[1:])
        same = reg_m[1:] == reg_m[:-1]
        valid = (reg_v >= 0) & (reg_v < REGISTER_MODULUS)
        count = position[1:] - position[:-1]
        total = running[position[1:]] - running[position[:-1]]
        expected = (reg_t[1:] - reg_t[:-1]) // PERIOD_S[code]
        delta = np.mod(reg_v[1:] - reg_v[:-1], REGISTER_MODULUS)
        bad = same & valid[1:] & valid[:-1] & rules.segment_sum_mismatch(
            total, count, expected, delta)
        for k in np.flatnonzero(bad):
            mask[iv[position[k]:position[k + 1]]] = True
            if reg_row[k + 1] >= 0:
                mask[reg_row[k + 1]] = True
    if mask.any():
        marks.apply("sum_check", mask, Reason.SUM_CHECK)


def _register_readings(rows: Rows, state: SeriesState, index: np.ndarray, register: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A register channel's readings in the batch, each series preceded by its last stored
    reading when that is older: (meter, time, value, row; row -1 for stored readings)."""
    reg_m, reg_t, reg_v = rows.meter[index], rows.t[index], rows.value[index]
    if not reg_m.size:
        return reg_m, reg_t, reg_v, index
    heads = np.flatnonzero(np.r_[True, reg_m[1:] != reg_m[:-1]])
    pos, found = state.find(series_key(reg_m[heads], np.full(heads.size, register)))
    prior_t = state.get("last_t", pos, found, 0)
    prior = found & (prior_t < reg_t[heads])
    if not prior.any():
        return reg_m, reg_t, reg_v, index
    at = heads[prior]
    return (np.insert(reg_m, at, reg_m[at]), np.insert(reg_t, at, prior_t[prior]),
            np.insert(reg_v, at, state.get("last_value", pos, found, 0)[prior]),
            np.insert(index, at, -1))


_T_BITS = 31


def _pack(meters: np.ndarray, times: np.ndarray, q_meters: np.ndarray, q_times: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """(meter, time) pairs of two sets as int64s that sort like the pairs.

    Meter offsets take the high bits, time 31 bits of seconds from the earliest time;
    meter ids spread too wide fall back to ranking the meters.
    """
    t0 = int(min(times.min(), q_times.min())) if times.size and q_times.size else 0
    t_span = int(max(times.max(initial=t0), q_times.max(initial=t0))) - t0
    both = np.concatenate((meters, q_meters))
    m0 = int(both.min())
    if int(both.max()) - m0 >= (1 << 31) or t_span >= (1 << _T_BITS):
        _, inverse = np.unique(both, return_inverse=True)
        meters, q_meters, m0 = inverse[:meters.size], inverse[meters.size:], 0
        if t_span >= (1 << _T_BITS):
            return _rank_pack(meters, times, q_meters, q_times)

    def pack(m: np.ndarray, t: np.ndarray) -> np.ndarray:
        out = m - m0
        out <<= _T_BITS
        out |= t - t0
        return out

    return pack(meters, times), pack(q_meters, q_times)


def _rank_pack(meters, times, q_meters, q_times):
    """Order-preserving int64 codes of (meter, time) over both sets, by ranking."""
    all_m = np.concatenate((meters, q_meters))
    all_t = np.concatenate((times, q_times))
    order = np.lexsort((all_t, all_m))
    m_sorted, t_sorted = all_m[order], all_t[order]
    same = np.r_[False, (m_sorted[1:] == m_sorted[:-1]) & (t_sorted[1:] == t_sorted[:-1])]
    rank = np.empty(all_m.size, np.int64)
    rank[order] = np.cumsum(~same) - 1
    return rank[:meters.size], rank[meters.size:]


def _next_state(rows: Rows, first_rows: np.ndarray, series_keys: np.ndarray,
                state: SeriesState, pos: np.ndarray, found: np.ndarray, failed: np.ndarray,
                run: np.ndarray) -> SeriesState:
    """History after these rows: stats over values that passed, newest value, zero run."""
    big = np.iinfo(np.int64).max
    good = ~failed
    value = rows.value
    count = np.add.reduceat(good.astype(np.int64), first_rows) if first_rows.size else (
        np.zeros(0, np.int64))
    total = np.add.reduceat(np.where(good, value, 0).astype(np.float64), first_rows) if (
        first_rows.size) else np.zeros(0)
    vmax = np.maximum.reduceat(np.where(good, value, -big), first_rows) if first_rows.size else (
        np.zeros(0, np.int64))
    vmin = np.minimum.reduceat(np.where(good, value, big), first_rows) if first_rows.size else (
        np.zeros(0, np.int64))
    last_rows = np.r_[first_rows[1:] - 1, len(rows) - 1] if first_rows.size else first_rows
    old_max = state.get("max_value", pos, found, -big)
    old_min = state.get("min_value", pos, found, big)
    old_last_t = state.get("last_t", pos, found, np.iinfo(np.int64).min)
    newer = rows.t[last_rows] > old_last_t
    new_max = np.maximum(old_max, vmax)
    new_min = np.minimum(old_min, vmin)
    return SeriesState(
        key=series_keys,
        n=state.get("n", pos, found, 0) + count,
        total=state.get("total", pos, found, 0.0) + total,
        max_value=np.where(new_max == -big, 0, new_max),
        min_value=np.where(new_min == big, 0, new_min),
        last_t=np.where(newer, rows.t[last_rows], old_last_t),
        last_value=np.where(newer, value[last_rows], state.get("last_value", pos, found, 0)),
        zero_run=np.where(newer, run[last_rows], state.get("zero_run", pos, found, 0)),
    )
