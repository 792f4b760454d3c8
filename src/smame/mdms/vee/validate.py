"""Validation of a set of readings against rules, the meters' history and their events.

Input rows are sorted by meter, channel and interval end, one row per key
(:class:`Rows`, as :func:`smame.mdms.rows.batch_rows` and ``dedupe_keys`` make them).
The result is the validated quality flags, the reason bits of every row, and the
updated history of every series the rows touch. Nothing here does I/O: the caller
supplies the history (:class:`SeriesState`) and the off spans from events.

The cost is a few passes over the columns. Rows are grouped into series (meter +
channel); per-series extremes decide which series a threshold rule can hit at all, and
only those series' rows are looked at again. Rule failures are rare, so the rarer
checks run on small candidate sets, never on every row.
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
    IS_ENERGY_REGISTER,
    IS_REGISTER,
    IS_VOLTAGE,
    PERIOD_S,
    REGISTER_OF,
    VOLT_UNIT,
)
from smame.mdms.vee.config import RULE_REASONS, VeeConfig
from smame.mdms.vee.physical import IS_EXPORT, WH_PER_UNIT, PhysicalLimits, interval_limit_wh
from smame.mdms.vee.reasons import Action, Reason
from smame.mdms.vee.state import STATE_COLUMNS, SeriesState, series_key
from smame.readings import Quality
from smame.registers import REGISTER_MODULUS

__all__ = ["FAILING", "PARALLEL_ROWS", "Rows", "Validation", "meter_parts",
           "validate_parallel", "validate_rows"]

FAILING = int(Quality.SUSPECT)
PARALLEL_ROWS = 1 << 18
"""Batches larger than this are validated (and stored) in parts, one per worker thread."""

_BIG = np.iinfo(np.int64).max
_SMALL = np.iinfo(np.int64).min
_EXACT = float(2**53)


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


def meter_parts(meter: np.ndarray, parts: int = WORKERS, min_rows: int | None = None
                ) -> list[tuple[int, int]]:
    """Row ranges ``(start, stop)`` of about equal size that split sorted rows only at
    meter boundaries: one range when there are at most ``min_rows`` rows (default
    :data:`PARALLEL_ROWS`)."""
    n = int(meter.size)
    if n <= (PARALLEL_ROWS if min_rows is None else min_rows) or parts < 2:
        return [(0, n)]
    cuts = [0]
    for k in range(1, parts):
        cut = int(np.searchsorted(meter, meter[n * k // parts], side="left"))
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(n)
    return list(itertools.pairwise(cuts))


def concat_states(states: list[SeriesState]) -> SeriesState:
    """States of parts whose series are disjoint and in order, as one."""
    if len(states) == 1:
        return states[0]
    return SeriesState(**{name: np.concatenate([getattr(st, name) for st in states])
                          for name in ("key", *STATE_COLUMNS)})


def validate_parallel(
    rows: Rows,
    state: SeriesState,
    config: VeeConfig,
    now: float,
    spans: OffSpans,
    conflict: np.ndarray | None = None,
    revised: np.ndarray | None = None,
    limits: PhysicalLimits | None = None,
) -> Validation:
    """:func:`validate_rows` over parts split at meter boundaries, on worker threads.

    Every rule looks only within one meter's rows, so the parts are independent; the
    parts' series are disjoint and in order, so their states concatenate.
    """
    parts = meter_parts(rows.meter)
    if len(parts) == 1:
        return validate_rows(rows, state, config, now, spans, conflict, revised, limits)

    def run(part: tuple[int, int]) -> Validation:
        a, b = part
        return validate_rows(rows.slice(a, b), state, config, now, spans,
                             None if conflict is None else conflict[a:b],
                             None if revised is None else revised[a:b], limits)

    results = list(POOL.map(run, parts))
    return Validation(np.concatenate([r.quality for r in results]),
                      np.concatenate([r.reasons for r in results]),
                      concat_states([r.state for r in results]))


class _Marks:
    """Collects reason bits and failures of rows according to each rule's action."""

    def __init__(self, n: int, config: VeeConfig, channel: np.ndarray) -> None:
        self.reasons = np.zeros(n, np.uint32)
        self.failed = np.zeros(n, np.bool_)
        self.config = config
        self.channel = channel

    def apply(self, rule: str, mask: np.ndarray) -> None:
        """Mark the rows of ``mask`` (a boolean mask or row indices) that ``rule`` hits."""
        index = np.flatnonzero(mask) if mask.dtype == np.bool_ else mask
        if not index.size:
            return
        action = self.config.action_table(rule)[self.channel[index]]
        self.reasons[index[action > Action.OFF]] |= np.uint32(RULE_REASONS[rule])
        self.failed[index[action == Action.FAIL]] = True

    def apply_series(self, rule: str, which: np.ndarray, series: _Series
                     ) -> None:
        """Mark every row of the series ``which`` (a boolean mask over series)."""
        action = self.config.action_table(rule)[series.channel]
        for level, target in ((Action.WARN, None), (Action.FAIL, self.failed)):
            hit = which & (action >= level) if target is None else which & (action == level)
            if not hit.any():
                continue
            rows = slice(None) if hit.all() else np.repeat(hit, series.length)
            if target is None:
                self.reasons[rows] |= np.uint32(RULE_REASONS[rule])
            else:
                target[rows] = True

    def active(self, rule: str, channels: np.ndarray) -> np.ndarray:
        """Whether ``rule`` is on for each of ``channels``."""
        return self.config.action_table(rule)[channels] > Action.OFF


@dataclass
class _Series:
    """The series (meter + channel) of sorted rows: where each starts, its length..."""

    first: np.ndarray  # first row of each series
    length: np.ndarray
    last: np.ndarray  # last row
    channel: np.ndarray  # intp
    meter: np.ndarray
    key: np.ndarray  # series_key
    pos: np.ndarray  # index in the stored state
    found: np.ndarray  # whether the state has the series
    vmax: np.ndarray  # largest and smallest value of each series in the rows
    vmin: np.ndarray
    t_first: np.ndarray | None = None  # interval end of each series' first row
    grid: np.ndarray | None = None  # each series a regular grid of its period (_misaligned)

    @classmethod
    def of(cls, rows: Rows, state: SeriesState) -> _Series:
        n = len(rows)
        start = np.empty(n, np.bool_)
        start[0] = True
        np.not_equal(rows.meter[1:], rows.meter[:-1], out=start[1:])
        start[1:] |= rows.channel[1:] != rows.channel[:-1]
        first = np.flatnonzero(start)
        length = np.diff(first, append=n)
        channel = rows.channel[first].astype(np.intp)
        meter = rows.meter[first]
        key = series_key(meter, channel)
        pos, found = state.find(key)
        return cls(first, length, first + length - 1, channel, meter, key, pos, found,
                   np.maximum.reduceat(rows.value, first),
                   np.minimum.reduceat(rows.value, first), rows.t[first])

    def rows(self, which: np.ndarray) -> np.ndarray:
        """Row indices of the series ``which`` (a boolean mask or series indices)."""
        index = np.flatnonzero(which) if which.dtype == np.bool_ else which
        return _ranges(self.first[index], self.length[index])

    def of_rows(self, index: np.ndarray) -> np.ndarray:
        """Series index of each row of ``index``."""
        return np.searchsorted(self.first, index, side="right") - 1


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The integer ranges ``[start, start + length)`` concatenated."""
    total = int(lengths.sum())
    if not total:
        return np.empty(0, np.intp)
    offsets = np.cumsum(lengths) - lengths
    out = np.repeat(starts - offsets, lengths)
    out += np.arange(total)
    return out


def validate_rows(
    rows: Rows,
    state: SeriesState,
    config: VeeConfig,
    now: float,
    spans: OffSpans,
    conflict: np.ndarray | None = None,
    revised: np.ndarray | None = None,
    limits: PhysicalLimits | None = None,
) -> Validation:
    """Run every rule on ``rows`` (sorted by meter, channel, time); see ``docs/mdms.md``.

    Per-series values (history, thresholds, extremes) are computed once per series; only
    the rows of series that can trigger a rule are compared row by row, so the cost
    stays a handful of passes over the columns.
    """
    n = len(rows)
    c = rows.channel
    v, t = rows.value, rows.t
    marks = _Marks(n, config, c)
    if n == 0:
        return Validation(np.zeros(0, np.uint16), marks.reasons, SeriesState.empty())
    series = _Series.of(rows, state)

    tolerance = config.param_table("future_tolerance_s")
    late = series.rows(t[series.last] > now + tolerance.min())
    late = late[t[late] > now + tolerance.min()]
    marks.apply("future", late[t[late] > now + tolerance[c[late]]])
    off_boundary, series.grid = _misaligned(t, series)
    marks.apply("misaligned", off_boundary)
    flagged = np.flatnonzero(rows.quality)
    flags = rows.quality[flagged]
    marks.apply("clock", flagged[(flags & Quality.CLOCK_ADJUSTED) > 0])
    odd = series.rows((series.vmin < 0) | (series.vmax >= REGISTER_MODULUS))
    odd = odd[rules.out_of_range(v[odd])]
    negative = odd[v[odd] < 0]
    marks.apply("negative", negative[(IS_ENERGY_INTERVAL | IS_REGISTER)[c[negative]]])
    marks.apply("out_of_range", odd[IS_REGISTER[c[odd]]])
    if conflict is not None:
        marks.apply("duplicate_conflict", conflict)
    if revised is not None and revised.any():
        marks.reasons[revised] |= np.uint32(Reason.REVISED)

    s_channel = series.channel
    hist_n = state.get("n", series.pos, series.found, 0)
    hist_max = state.get("max_value", series.pos, series.found, 0).astype(np.float64)
    hist_mean = state.get("total", series.pos, series.found, 0.0) / np.maximum(hist_n, 1)
    has_history = hist_n >= config.param_table("min_history")[s_channel]
    _history_rule(marks, "spike", v, series, has_history,
                  config.param_table("spike_factor")[s_channel] * np.maximum(
                      hist_max, config.param_table("spike_floor")[s_channel]), above=True)
    _history_rule(marks, "high", v, series, has_history & (hist_max > 0),
                  config.param_table("high_factor")[s_channel] * hist_max, above=True)
    low_factor = config.param_table("low_factor")[s_channel]
    _history_rule(marks, "low", v, series, has_history & (low_factor > 0),
                  low_factor * hist_mean, above=False)
    if limits is not None and limits.checked:
        _physical(marks, v, series, limits)
        _registry_rules(marks, rows, series, limits)
    _statutory_voltage(marks, v, series, limits)
    _arrival(marks, t, series, state, now)

    off = flagged[(flags & (Quality.POWER_OUTAGE | Quality.DISCONNECTED)) > 0]
    if off.size:
        q = rows.quality[off]
        marks.reasons[off[(q & Quality.POWER_OUTAGE) > 0]] |= np.uint32(Reason.OUTAGE)
        marks.reasons[off[(q & Quality.DISCONNECTED) > 0]] |= np.uint32(Reason.DISCONNECTED)
    off_any = None
    if off.size:
        off_any = np.zeros(n, np.bool_)
        off_any[off] = True
    if len(spans):
        off_all = _apply_off_spans(rows, PERIOD_S[c], spans, marks)
        off_any = (marks.reasons & np.uint32(Reason.OUTAGE | Reason.DISCONNECTED)) > 0
        marks.apply("energy_while_off", off_all & IS_ENERGY_INTERVAL[c] & (v > 0))

    run = _zero_runs(marks, rows, series, state, off_any)
    _register_rules(rows, series, state, marks)

    failed = np.flatnonzero(marks.failed)
    quality = np.full(n, np.uint16(Quality.VALIDATED), np.uint16)
    keep = np.uint16(~(Quality.SUSPECT | Quality.VALIDATED) & 0xFFFF)
    quality[flagged] |= flags & keep
    quality[failed] = (rows.quality[failed] & keep) | np.uint16(Quality.SUSPECT)
    # The history learns only from values no history or bound rule raised a reason on: a
    # value that only warned must not lift the maximum the next value is compared with.
    unlearned = np.flatnonzero(marks.failed | ((marks.reasons & _UNLEARNED) > 0))
    return Validation(quality, marks.reasons, _next_state(rows, series, state, unlearned, run))


_UNLEARNED = np.uint32(Reason.SPIKE | Reason.HIGH | Reason.LOW | Reason.PHYSICAL_LIMIT
                       | Reason.NOT_REGISTERED)


def _registry_rules(marks: _Marks, rows: Rows, series: _Series, limits: PhysicalLimits
                    ) -> None:
    """Readings outside the meter's installation period or from a meter whose state is
    inactive; export from a meter with no generation registered behind it."""
    pos, found = limits.lookup(series.meter)
    if not found.any():
        return
    t, code = rows.t, series.channel
    first_t = np.where(found, limits.at("first_t", pos, _SMALL), _SMALL)
    last_t = np.where(found, limits.at("last_t", pos, _BIG), _BIG)
    outside = (t[series.first] <= first_t) | (t[series.last] > last_t)
    if outside.any():
        index = np.flatnonzero(outside)
        candidates = series.rows(index)
        lo = np.repeat(first_t[index], series.length[index])
        hi = np.repeat(last_t[index], series.length[index])
        marks.apply("outside_installation",
                    candidates[(t[candidates] <= lo) | (t[candidates] > hi)])
    inactive = found & limits.at("inactive", pos, False).astype(np.bool_)
    if inactive.any():
        marks.apply_series("outside_installation", inactive, series)
    generation = limits.at("generation", pos, True).astype(np.bool_)
    exporting = found & ~generation & IS_EXPORT[code] & IS_ENERGY_INTERVAL[code]
    _history_rule(marks, "unexpected_export", rows.value, series,
                  exporting, np.zeros(code.size), above=True)


_STATUTORY_V = {100: (95.0, 107.0), 200: (182.0, 222.0)}
"""電気事業法施行規則 第38条: 101 ± 6 V on 100 V services, 202 ± 20 V on 200 V services."""


def _statutory_voltage(marks: _Marks, value: np.ndarray, series: _Series,
                       limits: PhysicalLimits | None) -> None:
    """Voltage outside the statutory range of the service's nominal voltage (registry;
    without one, 200 V when the series reads above 150 V)."""
    code = series.channel
    voltage = IS_VOLTAGE[code]
    if not voltage.any():
        return
    scale = VOLT_UNIT[code]
    nominal = series.vmax * scale > 150.0
    if limits is not None and limits.checked:
        pos, found = limits.lookup(series.meter)
        volts = limits.at("volts", pos, 0.0)
        nominal = np.where(found & (volts > 0), volts >= 150, nominal)
    low = np.where(nominal, _STATUTORY_V[200][0], _STATUTORY_V[100][0]) / scale
    high = np.where(nominal, _STATUTORY_V[200][1], _STATUTORY_V[100][1]) / scale
    _history_rule(marks, "statutory_voltage", value, series,
                  voltage, high, above=True)
    _history_rule(marks, "statutory_voltage", value, series,
                  voltage, low, above=False)


def _arrival(marks: _Marks, t: np.ndarray, series: _Series, state: SeriesState, now: float
             ) -> None:
    """Late arrivals (ended more than ``late_after_s`` ago) and stale values (older than the
    newest value the series already has). Series wholly before the bound are marked as
    ranges; only a series that straddles it is compared row by row."""
    t_last = t[series.last]
    cutoff = now - marks.config.param_table("late_after_s")[series.channel]
    newest = state.get("last_t", series.pos, series.found, _SMALL)
    for rule, bound in (("late_arrival", cutoff), ("stale", newest)):
        whole = t_last < bound
        marks.apply_series(rule, whole, series)
        straddle = (series.t_first < bound) & ~whole
        if straddle.any():
            index = np.flatnonzero(straddle)
            candidates = series.rows(index)
            marks.apply(rule, candidates[
                t[candidates] < np.repeat(bound[index], series.length[index])])


def _physical(marks: _Marks, value: np.ndarray, series: _Series, limits: PhysicalLimits
              ) -> None:
    """Quarantine the rows of meters not registered; fail energy intervals above the
    physical bound of their meter (see physical.py)."""
    pos, found = limits.lookup(series.meter)
    if not found.all():
        marks.apply("unregistered", series.rows(~found))
    if not found.any():
        return
    code = series.channel
    energy = found & IS_ENERGY_INTERVAL[code] & limits.electric[pos]
    watts = np.where(IS_EXPORT[code], limits.export_w[pos], limits.import_w[pos])
    bound_wh = interval_limit_wh(watts, PERIOD_S[code],
                                 marks.config.param_table("physical_margin")[code])
    _history_rule(marks, "physical", value, series, energy,
                  bound_wh / np.maximum(WH_PER_UNIT[code], 1e-12), above=True)


def _history_rule(marks: _Marks, rule: str, value: np.ndarray,
                  series: _Series, applies: np.ndarray, threshold: np.ndarray, above: bool
                  ) -> None:
    """Compare values with their series' threshold where the rule is on and has history;
    only series whose extreme value crosses the threshold are looked at row by row."""
    applies = applies & marks.active(rule, series.channel)
    if not applies.any():
        return
    limit = np.where(applies, threshold, np.inf if above else -np.inf)
    hit = series.vmax > limit if above else series.vmin < limit
    if not hit.any():
        return
    index = np.flatnonzero(hit)
    candidates = series.rows(index)
    per_row = np.repeat(limit[index], series.length[index])
    values = value[candidates]
    marks.apply(rule, candidates[values > per_row if above else values < per_row])


def _zero_runs(marks: _Marks, rows: Rows, series: _Series, state: SeriesState,
               off_any: np.ndarray | None) -> np.ndarray:
    """Consecutive zero energy intervals (continuing the stored run); flag long runs.

    Returns the run length at each series' last row (for the history).
    """
    run_at_last = np.zeros(series.first.size, np.int64)
    checked = (marks.active("prolonged_zero", series.channel)
               & IS_ENERGY_INTERVAL[series.channel] & (series.vmin <= 0) & (series.vmax >= 0))
    if not checked.any():
        return run_at_last
    which = np.flatnonzero(checked)
    candidates = series.rows(which)
    zero = rows.value[candidates] == 0
    if off_any is not None:
        zero &= ~off_any[candidates]
    rows_z = candidates[zero]
    if not rows_z.size:
        return run_at_last
    of = np.repeat(which, series.length[which])[zero]  # series of each zero row
    at_first = rows_z == series.first[of]
    goes_on = np.empty(rows_z.size, np.bool_)  # the zero row before is the previous row
    goes_on[0] = False
    np.equal(rows_z[1:], rows_z[:-1] + 1, out=goes_on[1:])
    goes_on &= ~at_first
    starts = np.flatnonzero(~goes_on)
    run_id = np.cumsum(~goes_on) - 1
    run = np.arange(rows_z.size) - starts[run_id] + 1
    heads = at_first[starts]  # runs that begin at the first row of their series
    if heads.any():
        pos, found = series.pos, series.found
        continues = rows.t[series.first] > state.get("last_t", pos, found, _SMALL)
        carry = np.where(continues, state.get("zero_run", pos, found, 0), 0)
        run += np.where(heads, carry[of[starts]], 0)[run_id]
    limit = marks.config.param_table("zero_run_limit")[series.channel[of]]
    marks.apply("prolonged_zero", rows_z[run >= limit])
    at_last = rows_z == series.last[of]
    run_at_last[of[at_last]] = run[at_last]
    return run_at_last


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


def _misaligned(t: np.ndarray, series: _Series) -> tuple[np.ndarray, np.ndarray]:
    """Rows of interval channels whose end is off the period boundary; and whether each
    series is a regular grid (every step one period).

    A row exactly one period after the row before it in its series is aligned when that
    row is; so only each series' first row and the rows after an irregular step are
    divided, and a misaligned one passes its verdict on down its chain of regular steps.
    """
    n = t.size
    period = np.repeat(PERIOD_S[series.channel], series.length)
    regular = np.empty(n, np.bool_)
    regular[0] = False
    np.equal(t[1:] - t[:-1], period[1:], out=regular[1:])
    regular |= period == 0  # registers and instantaneous values: no boundary to be on
    regular[series.first] = False
    anchors = np.flatnonzero(~regular)
    grid = np.bincount(series.of_rows(anchors), minlength=series.first.size) == 1
    p = period[anchors]
    off = (p > 0) & (t[anchors] % np.maximum(p, 1) != 0)
    if not off.any():
        return np.empty(0, np.intp), grid
    chain = np.repeat(off, np.diff(anchors, append=n))
    return np.flatnonzero(chain), grid


def _register_rules(rows: Rows, series: _Series, state: SeriesState, marks: _Marks) -> None:
    """The rules that look at register readings in sequence: ``register_decrease`` and
    ``sum_check``. Each register's readings (with the stored one before the rows) are
    gathered once for both."""
    present = np.zeros(CHANNEL_CODES, np.bool_)
    present[series.channel] = True
    checked = np.flatnonzero(present & HAS_REGISTER)  # interval codes with a register
    registers = set(REGISTER_OF[checked].tolist())
    decreasing = np.flatnonzero(present & IS_ENERGY_REGISTER)
    decreasing = decreasing[marks.active("register_decrease", decreasing)]
    readings = {int(r): _Readings.of(rows, series, state, int(r))
                for r in sorted(registers | set(decreasing.tolist()))}
    for register in decreasing:
        reg = readings[int(register)]
        if reg is not None:
            marks.apply("register_decrease", reg.row[1:][reg.decrease])
    _sum_check(rows, series, marks, checked, readings)


def _sum_check(rows: Rows, series: _Series, marks: _Marks, codes: np.ndarray,
               readings: dict[int, _Readings | None]) -> None:
    """Intervals between two register readings must add up to their difference (M1).

    For each interval channel with a register, every reading of the register (and the
    last stored reading before the rows) of a meter that has that interval series is
    placed in it: the number of intervals ending at or before it. A running sum over all
    rows, read at consecutive placements, gives each segment's sum and count. Placements
    are computed from the series' start and period; in series that are not a regular
    grid (gaps) they are found by binary search.
    """
    t = rows.t
    running: np.ndarray | None = None
    marked: list[np.ndarray] = []
    for code in codes:
        reg = readings[int(REGISTER_OF[code])]
        placed = None if reg is None else _placements(t, series, reg, int(code))
        if placed is None:
            continue
        chosen, place = placed
        if running is None:
            running = np.zeros(len(rows) + 1, np.int64)
            np.cumsum(rows.value, out=running[1:])
        # Segment k runs from reading k to k + 1; of the chosen readings (whole series),
        # consecutive ones are of one series unless the segment is not checkable anyway.
        segment = slice(None) if chosen is None else chosen[:-1]
        count = place[1:] - place[:-1]
        total = running[place[1:]] - running[place[:-1]]
        expected = reg.dt[segment] // int(PERIOD_S[code])
        bad = reg.checkable[segment] & rules.segment_sum_mismatch(
            total, count, expected, reg.delta[segment])
        if bad.any():
            k = np.flatnonzero(bad)
            marked.append(_ranges(place[k], count[k]))
            ends = reg.row[(k if chosen is None else chosen[k]) + 1]
            marked.append(ends[ends >= 0])
    if marked:
        marks.apply("sum_check", np.unique(np.concatenate(marked)))


@dataclass
class _Readings:
    """A register channel's readings, each of its series preceded by the last stored
    reading when that is older; and the segments between consecutive readings."""

    series: np.ndarray  # the register's series (indices into _Series)
    count: np.ndarray  # readings per series
    offset: np.ndarray  # index of each series' first reading
    t: np.ndarray  # per reading
    row: np.ndarray  # row of each reading; -1 for a stored one
    dt: np.ndarray  # per segment (reading k to k + 1)
    delta: np.ndarray  # register difference modulo 10^8
    checkable: np.ndarray  # both readings of one meter and in range
    decrease: np.ndarray  # reading k + 1 of one meter below reading k, not a wrap

    @classmethod
    def of(cls, rows: Rows, series: _Series, state: SeriesState, register: int
           ) -> _Readings | None:
        which = np.flatnonzero(series.channel == register)
        if not which.size:
            return None
        count = series.length[which].astype(np.int64)
        pos, found = series.pos[which], series.found[which]
        prior_t = state.get("last_t", pos, found, 0)
        prior = found & (prior_t < rows.t[series.first[which]])
        # One gather of the rows, each series starting a row early where a stored reading
        # goes first (that slot is then overwritten): no array is copied to insert it.
        count += prior
        row = _ranges(series.first[which] - prior, count)
        offset = np.cumsum(count) - count
        t, value = rows.t[row], rows.value[row]
        if prior.any():
            at = offset[prior]
            t[at] = prior_t[prior]
            value[at] = state.get("last_value", pos, found, 0)[prior]
            row[at] = -1
        if t.size < 2:
            return None
        same = np.ones(t.size - 1, np.bool_)
        same[offset[1:] - 1] = False  # from one meter's last reading to the next's first
        valid = (value >= 0) & (value < REGISTER_MODULUS)
        delta = value[1:] - value[:-1]
        down = same & (delta < 0)
        down &= (value[:-1] >= 0) & (value[1:] >= 0)
        wrap = (value[:-1] >= REGISTER_MODULUS * 9 // 10) & (value[1:] < REGISTER_MODULUS // 10)
        down &= ~wrap
        delta += np.where(delta < 0, REGISTER_MODULUS, 0)
        checkable = same & valid[1:] & valid[:-1]
        return cls(which, count, offset, t, row, t[1:] - t[:-1], delta, checkable, down)


def _placements(t: np.ndarray, series: _Series, reg: _Readings, code: int
                ) -> tuple[np.ndarray | None, np.ndarray] | None:
    """The readings of meters that have an interval series ``code`` (None: all of them)
    and for each, the row just after the intervals of that series that end at or before
    it (the reading's place in the interval series); None if no meter has one.

    In a series that is a regular grid the place follows from its first time and period;
    in others (gaps) it is found by binary search.
    """
    interval = np.flatnonzero(series.channel == code)
    if not interval.size:
        return None
    meters = series.meter[interval]
    register_meters = series.meter[reg.series]
    k = np.minimum(np.searchsorted(meters, register_meters), interval.size - 1)
    has = meters[k] == register_meters
    if not has.any():
        return None
    chosen = None
    count, reading_t = reg.count, reg.t
    matched = interval[k]
    if not has.all():
        chosen = _ranges(reg.offset[has], count[has])
        count, reading_t, matched = count[has], reading_t[chosen], matched[has]
    start = np.repeat(series.first[matched], count)
    length = np.repeat(series.length[matched], count)
    place = reading_t - np.repeat(t[series.first[matched]], count)
    place //= int(PERIOD_S[code])
    place += 1
    np.clip(place, 0, length, out=place)
    place += start
    grid = series.grid[matched] if series.grid is not None else np.zeros(matched.size,
                                                                            np.bool_)
    if not grid.all():
        irregular = np.flatnonzero(np.repeat(~grid, count))
        place[irregular] = _search(t, start[irregular], length[irregular],
                                   reading_t[irregular])
    return chosen, place


def _search(t: np.ndarray, start: np.ndarray, length: np.ndarray, q: np.ndarray
            ) -> np.ndarray:
    """For each query, ``start`` + the number of ``t[start:start + length]`` (sorted) that
    are at or before ``q``: a binary search per query, all queries at once."""
    lo = start.copy()
    hi = start + length
    while True:
        open_ = lo < hi
        if not open_.any():
            return lo
        mid = (lo + hi) // 2
        le = open_ & (t[np.minimum(mid, t.size - 1)] <= q)
        lo = np.where(le, mid + 1, lo)
        hi = np.where(open_ & ~le, mid, hi)


def _next_state(rows: Rows, series: _Series, state: SeriesState, failed: np.ndarray,
                run_at_last: np.ndarray) -> SeriesState:
    """History after these rows: stats over values that passed, newest value, zero run."""
    value = rows.value
    first, length, last = series.first, series.length, series.last
    count = length.astype(np.int64)
    vmax, vmin = series.vmax.copy(), series.vmin.copy()
    bound = max(abs(float(vmax.max())), abs(float(vmin.min())))
    if bound * float(length.max()) < _EXACT:
        # Integer sums below 2^53 are exact in float64: the same as summing floats.
        total = np.add.reduceat(value, first).astype(np.float64)
    else:
        total = None
    if failed.size:
        of = series.of_rows(failed)
        count -= np.bincount(of, minlength=first.size)
        hit = np.unique(of)
        index = series.rows(hit)
        good = ~np.isin(index, failed, assume_unique=True)
        sub_first = np.cumsum(series.length[hit]) - series.length[hit]
        values = value[index]
        vmax[hit] = np.maximum.reduceat(np.where(good, values, -_BIG), sub_first)
        vmin[hit] = np.minimum.reduceat(np.where(good, values, _BIG), sub_first)
        if total is not None:
            total[hit] = np.add.reduceat(np.where(good, values, 0), sub_first).astype(
                np.float64)
    if total is None:
        passed = np.ones(value.size, np.bool_)
        passed[failed] = False
        total = np.add.reduceat(np.where(passed, value, 0).astype(np.float64), first)
    pos, found = series.pos, series.found
    old_max = state.get("max_value", pos, found, -_BIG)
    old_min = state.get("min_value", pos, found, _BIG)
    old_last_t = state.get("last_t", pos, found, _SMALL)
    newer = rows.t[last] > old_last_t
    new_max = np.maximum(old_max, vmax)
    new_min = np.minimum(old_min, vmin)
    return SeriesState(
        key=series.key,
        n=state.get("n", pos, found, 0) + count,
        total=state.get("total", pos, found, 0.0) + total,
        max_value=np.where(new_max == -_BIG, 0, new_max),
        min_value=np.where(new_min == _BIG, 0, new_min),
        last_t=np.where(newer, rows.t[last], old_last_t),
        last_value=np.where(newer, value[last], state.get("last_value", pos, found, 0)),
        zero_run=np.where(newer, run_at_last, state.get("zero_run", pos, found, 0)),
    )
