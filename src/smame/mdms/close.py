"""Closing a day: find gaps and failed values, and write estimates as a new version.

Runs after a JST day's data is in (``smame mdms vee``). Expected series are the energy
interval series (5-, 15-, 30-minute) that have data on the day or the day before. Every
slot of such a series without a current validated value, or whose value failed
validation, is estimated: linearly over short gaps, from proxy days over long ones,
as zero while the meter was off (outage or disconnection: never as consumption), and
scaled so that estimates and actuals add up to the register differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from smame.mdms.events import OUTAGE, OffSpans, off_spans
from smame.mdms.restore import infer_restores, record_restores
from smame.mdms.vee.channels import IS_ENERGY_INTERVAL, PERIOD_S, REGISTER_OF
from smame.mdms.vee.config import VeeConfig
from smame.mdms.vee.estimate import linear_fill, profile_fill, scale_to_registers
from smame.mdms.vee.reasons import Reason
from smame.mdms.vee.state import series_key, split_key
from smame.meter.profiles import is_holiday
from smame.readings import CHANNELS, Quality, Source
from smame.store.layout import MEAS, day_of, day_start, epoch_day
from smame.store.measurements import MeasurementStore, ts_seconds

__all__ = ["CloseResult", "close_day"]

_TS = pa.timestamp("s", tz="UTC")
_OFF_FLAGS = int(Quality.POWER_OUTAGE | Quality.DISCONNECTED)
_ESTIMATE_CHANNELS = [c for c in CHANNELS if IS_ENERGY_INTERVAL[c] and PERIOD_S[c] >= 300]


@dataclass(frozen=True)
class CloseResult:
    day: date
    version: int | None
    series: int
    estimated: int
    replaced_failed: int
    scaled: int
    unbalanced: int
    derived: int = 0  # 30-minute values summed from two 15-minute ones (soft switch)


def _read(store: MeasurementStore, con: duckdb.DuckDBPyConnection, lo: int, hi: int,
          channels: list[int], meters: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Current measurements with interval ends in [lo, hi] as numpy columns."""
    relation = store.current(con, lo, hi, channels)
    where = "interval_end BETWEEN to_timestamp(?) AND to_timestamp(?) AND list_contains(?, " \
            "channel::INTEGER)"
    params: list = [lo, hi, channels]
    if meters is not None:
        con.register("_close_meters", pa.table({"meter_id": meters}))
        where += " AND meter_id IN (SELECT meter_id FROM _close_meters)"
    try:
        table = con.sql(f"SELECT meter_id, interval_end, channel, value, quality, version, "
                        f"reasons FROM {relation} WHERE {where}", params=params).to_arrow_table()
    finally:
        if meters is not None:
            con.unregister("_close_meters")
    out = {name: table.column(name).to_numpy() for name in
           ("meter_id", "channel", "value", "quality", "version", "reasons")}
    out["t"] = ts_seconds(table.column("interval_end"))
    return out


def close_day(store: MeasurementStore, config: VeeConfig, day: date, now: float | None = None
              ) -> CloseResult:
    """Estimate the gaps and failed values of ``day`` and commit them as one version.

    Only slots that ended by ``now`` (default: the store's clock) are estimated.
    """
    now = store.clock.time() if now is None else now
    start = day_start(day)
    end = start + 86400
    with store.write_lock:
        con = store.con
        seen = _read(store, con, start - 86400 + 1, end, _ESTIMATE_CHANNELS)
        # Quarantined series (meter not registered) are not estimated.
        registered = (seen["reasons"] & np.uint32(Reason.NOT_REGISTERED)) == 0
        keys = np.unique(series_key(seen["meter_id"][registered],
                                    seen["channel"][registered]))
        spans = off_spans(con, int(seen["meter_id"].min()), int(seen["meter_id"].max()),
                          start, end) if keys.size else None
        restores = None
        if spans is not None and len(spans):
            restores = infer_restores(spans, seen["meter_id"], seen["t"], seen["channel"],
                                      seen["value"], seen["quality"])
            spans = restores.apply(spans)
        parts: list[pa.Table] = []
        supersede: list[pa.Table] = []
        totals = np.zeros(5, np.int64)
        version = store.new_version()
        for period in sorted({int(PERIOD_S[c]) for c in split_key(keys)[1]}):
            period_keys = keys[PERIOD_S[split_key(keys)[1]] == period]
            estimate, replaced, counts = _estimate_period(store, con, config, period_keys,
                                                          period, start, version, now,
                                                          spans)
            if estimate is not None:
                parts.append(estimate)
            if replaced is not None:
                supersede.append(replaced)
            totals += counts
        estimates = pa.concat_tables(parts) if parts else None
        infos = store.stage(MEAS, version, estimates) if estimates is not None else []

        def work(c: duckdb.DuckDBPyConnection) -> None:
            c.execute("INSERT INTO versions (version, kind, committed_at, rows_new, validated, "
                      "reason) VALUES (?, 'estimate', ?, ?, TRUE, ?)",
                      [version, store.now(), int(totals[0]), f"close {day.isoformat()}"])
            for table in supersede:
                c.register("_close_sup", table)
                c.execute("INSERT INTO superseded SELECT * FROM _close_sup")
                c.unregister("_close_sup")
            if restores is not None:
                record_restores(c, restores, version)
            c.execute("DELETE FROM revee_queue WHERE day = ? AND version < ?", [day, version])
            c.execute("DELETE FROM closed_days WHERE day = ?", [day])
            c.execute("INSERT INTO closed_days VALUES (?, ?, ?)", [day, version, store.now()])

        store.commit(infos, work)
    return CloseResult(day, version if infos else None, int(keys.size), int(totals[0]),
                       int(totals[1]), int(totals[2]), int(totals[3]), int(totals[4]))


def _estimate_period(store, con, config: VeeConfig, keys: np.ndarray, period: int, start: int,
                     version: int, now: float, spans: OffSpans
                     ) -> tuple[pa.Table | None, pa.Table | None, np.ndarray]:
    meters, channels = split_key(keys)
    n = 86400 // period
    reg_channels = sorted({int(REGISTER_OF[c]) for c in channels if REGISTER_OF[c]})
    data = _read(store, con, start, start + 86400, sorted({*map(int, channels),
                                                           *reg_channels}))
    rows = keys.size
    values = np.full((rows, n), np.nan)
    failed = np.zeros((rows, n), np.bool_)
    off_bits = np.zeros((rows, n), np.uint16)
    # A failed value, or an estimate of an earlier close, is estimated (again): a day
    # closed before late data arrived is balanced anew (the re-VEE queue).
    prior = np.zeros((rows, n), np.int64)  # version of the value an estimate replaces
    prior_q = np.zeros((rows, n), np.uint16)
    prior_r = np.zeros((rows, n), np.uint32)
    row, slot, sel = _cells(keys, data, period, start, n, offset=1)
    values[row, slot] = data["value"][sel]
    quality_in = data["quality"][sel]
    bad = (quality_in & int(Quality.SUSPECT)) > 0
    estimated_before = (quality_in & int(Quality.ESTIMATED)) > 0
    redo = bad | estimated_before
    failed[row[bad & ~estimated_before], slot[bad & ~estimated_before]] = True
    prior[row[redo], slot[redo]] = data["version"][sel][redo]
    prior_q[row[redo], slot[redo]] = quality_in[redo]
    prior_r[row[redo], slot[redo]] = data["reasons"][sel][redo]
    actual = ~estimated_before
    off_bits[row[actual], slot[actual]] = quality_in[actual] & _OFF_FLAGS
    prior_value = values.copy()
    values[prior > 0] = np.nan
    missing = np.isnan(values) & (start + (np.arange(n) + 1) * period <= now)[None, :]
    derived_table = derived_replaced = None
    if period in (900, 1800) and missing.any():
        before = missing
        missing, derived_table = _soft_switch_cover(store, con, meters, channels, period, start,
                                                    n, missing, off_bits)
        if derived_table is not None:
            derived_replaced = _replaced(meters, channels, period, start, version,
                                         *np.nonzero((prior > 0) & before & ~missing), prior)
    derived = 0 if derived_table is None else derived_table.num_rows
    if not missing.any():
        return derived_table, derived_replaced, np.array([0, 0, 0, 0, derived], np.int64)

    registers = np.full((rows, n + 1), np.nan)
    reg_keys = series_key(meters, REGISTER_OF[channels])
    reg_order = np.argsort(reg_keys, kind="stable")
    r_row, r_slot, r_sel = _cells(reg_keys[reg_order], data, period, start, n + 1, offset=0)
    registers[reg_order[r_row], r_slot] = data["value"][r_sel]

    off_bits |= _span_bits(spans, meters, period, start, n)
    off = off_bits > 0

    max_gap = config.param_table("linear_gap_max")[channels.astype(np.intp)]
    linear, by_linear = linear_fill(values, missing, max_gap)
    estimate = np.where(by_linear, linear, np.nan)
    remaining = missing & ~by_linear
    by_profile = np.zeros_like(missing)
    if remaining.any():
        need = np.flatnonzero(remaining.any(axis=1))
        proxy = _proxy(store, con, config, keys, need, period, start, n)
        present = ~missing
        present_mean = (np.where(present, values, 0.0).sum(axis=1)
                        / np.maximum(present.sum(axis=1), 1))
        filled = profile_fill(remaining, proxy, present_mean)
        estimate = np.where(remaining, filled, estimate)
        by_profile = remaining
    estimate = np.where(missing & off, 0.0, estimate)
    combined = np.where(missing, np.rint(estimate), values)
    scaled, by_scale, unbalanced = scale_to_registers(combined, missing, off, registers)

    reasons = np.where(failed, np.uint32(Reason.REPLACED_FAILED), np.uint32(Reason.GAP))
    reasons = reasons | np.where(by_linear, np.uint32(Reason.EST_LINEAR), 0).astype(np.uint32)
    reasons |= np.where(by_profile & ~off, np.uint32(Reason.EST_PROFILE), 0).astype(np.uint32)
    reasons |= np.where(missing & off, np.uint32(Reason.EST_OFF), 0).astype(np.uint32)
    reasons |= np.where(by_scale, np.uint32(Reason.EST_REGISTER_SCALED), 0).astype(np.uint32)
    reasons |= np.where(unbalanced, np.uint32(Reason.SUM_CHECK), 0).astype(np.uint32)
    quality = np.full((rows, n), int(Quality.ESTIMATED | Quality.VALIDATED), np.uint16)
    quality |= off_bits
    quality |= np.where(unbalanced, np.uint16(Quality.SUSPECT), 0).astype(np.uint16)
    quality &= np.where(unbalanced, np.uint16(~Quality.VALIDATED & 0xFFFF),
                        np.uint16(0xFFFF)).astype(np.uint16)
    final = np.maximum(scaled, 0)
    # An estimate that comes out as before is not written again.
    unchanged = ((prior > 0) & ~failed & (final == prior_value) & (reasons == prior_r)
                 & (quality == prior_q))
    cell_row, cell_slot = np.nonzero(missing & ~unchanged)
    ends = start + (cell_slot + 1) * period
    table = pa.table({
        "meter_id": pa.array(meters[cell_row], pa.int64()),
        "interval_end": pa.array(ends.astype(np.int64)).view(_TS),
        "channel": pa.array(channels[cell_row], pa.uint16()),
        "value": pa.array(final[cell_row, cell_slot].astype(np.int64)),
        "quality": pa.array(quality[cell_row, cell_slot], pa.uint16()),
        "source": pa.array(np.full(cell_row.size, Source.ESTIMATION, np.uint8)),
        "reasons": pa.array(reasons[cell_row, cell_slot], pa.uint32()),
    })
    if derived_table is not None:
        table = pa.concat_tables([table, derived_table])
    was_failed = failed[cell_row, cell_slot]
    had = prior[cell_row, cell_slot] > 0
    replaced = _replaced(meters, channels, period, start, version, cell_row[had],
                         cell_slot[had], prior)
    if derived_replaced is not None:
        replaced = derived_replaced if replaced is None else pa.concat_tables(
            [replaced, derived_replaced])
    written = np.zeros_like(missing)
    written[cell_row, cell_slot] = True
    counts = np.array([cell_row.size, int(was_failed.sum()), int((by_scale & written).sum()),
                       int((unbalanced & written).sum()), derived], np.int64)
    return table, replaced, counts


def _replaced(meters: np.ndarray, channels: np.ndarray, period: int, start: int, version: int,
              cell_row: np.ndarray, cell_slot: np.ndarray, prior: np.ndarray | None = None
              ) -> pa.Table | None:
    """Superseded entries: the prior versions of the cells the close writes."""
    if not cell_row.size or prior is None:
        return None
    return pa.table({
        "meter_id": pa.array(meters[cell_row], pa.int64()),
        "channel": pa.array(channels[cell_row], pa.uint16()),
        "interval_end": pa.array((start + (cell_slot + 1) * period).astype(np.int64)).view(_TS),
        "version": pa.array(prior[cell_row, cell_slot], pa.int64()),
        "by_version": pa.array(np.full(cell_row.size, version, np.int64)),
    })


def _soft_switch_cover(store, con, meters: np.ndarray, channels: np.ndarray, period: int,
                       start: int, n: int, missing: np.ndarray, off_bits: np.ndarray,
                       ) -> tuple[np.ndarray, pa.Table | None]:
    """The soft switch (SPEC M4, S10): a meter transmits 30- or 15-minute values, so a slot
    is a gap only when neither resolution has it.

    For 15-minute series, slots covered by a 30-minute value are not gaps. For 30-minute
    series, a slot whose two 15-minute values are both there gets their exact sum, as a
    validated value (reason DERIVED_15), not an estimate. Returns the cells still missing
    and the derived values.
    """
    partner = channels - 10 if period == 1800 else channels + 10  # 140 <-> 130, 240 <-> 230
    width = 2 * n if period == 1800 else n // 2
    other_period = period // 2 if period == 1800 else period * 2
    keys = series_key(meters, partner)
    order = np.argsort(keys, kind="stable")
    data = _read(store, con, start, start + 86400, sorted({int(c) for c in partner}))
    grid = np.full((meters.size, width), np.nan)
    row, slot, sel = _cells(keys[order], data, other_period, start, width, offset=1)
    usable = (data["quality"][sel] & int(Quality.SUSPECT)) == 0
    grid[order[row[usable]], slot[usable]] = data["value"][sel][usable]
    if period == 900:
        covered = np.repeat(~np.isnan(grid), 2, axis=1)
        return missing & ~covered, None
    sums = grid[:, 0::2] + grid[:, 1::2]
    derivable = missing & ~np.isnan(sums)
    if not derivable.any():
        return missing, None
    cell_row, cell_slot = np.nonzero(derivable)
    ends = start + (cell_slot + 1) * period
    quality = (np.uint16(Quality.VALIDATED) | off_bits[cell_row, cell_slot]).astype(np.uint16)
    table = pa.table({
        "meter_id": pa.array(meters[cell_row], pa.int64()),
        "interval_end": pa.array(ends.astype(np.int64)).view(_TS),
        "channel": pa.array(channels[cell_row], pa.uint16()),
        "value": pa.array(sums[cell_row, cell_slot].astype(np.int64)),
        "quality": pa.array(quality, pa.uint16()),
        # A derived value gives way to a 30-minute actual that arrives later, like an estimate.
        "source": pa.array(np.full(cell_row.size, Source.ESTIMATION, np.uint8)),
        "reasons": pa.array(np.full(cell_row.size, Reason.DERIVED_15, np.uint32)),
    })
    return missing & ~derivable, table


def _cells(keys: np.ndarray, data: dict[str, np.ndarray], period: int, start: int, width: int,
           offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid cells (row, column) of the data rows that belong to series ``keys``.

    Column ``k`` holds the value ending at ``start + (k + offset) * period``.
    """
    data_keys = series_key(data["meter_id"], data["channel"])
    pos = np.searchsorted(keys, data_keys)
    pos_c = np.minimum(pos, max(keys.size - 1, 0))
    rel = data["t"] - start
    column = rel // period - offset
    ok = ((keys.size > 0) & (pos < keys.size) & (keys[pos_c] == data_keys) & (rel % period == 0)
          & (column >= 0) & (column < width))
    sel = np.flatnonzero(ok)
    return pos_c[sel], column[sel], sel


def _span_bits(spans: OffSpans, meters: np.ndarray, period: int, start: int, n: int
               ) -> np.ndarray:
    """Quality flags of slots that overlap an outage or disconnection span of their meter."""
    bits = np.zeros((meters.size, n), np.uint16)
    if not len(spans):
        return bits
    ends = start + (np.arange(n) + 1) * period
    for meter, a, b, kind in zip(spans.meter_id, spans.start, spans.end, spans.kind,
                                 strict=True):
        rows = np.flatnonzero(meters == meter)
        flag = Quality.POWER_OUTAGE if kind == OUTAGE else Quality.DISCONNECTED
        if rows.size:
            bits[rows] |= np.where((ends > a) & (ends - period < b), np.uint16(flag),
                                   np.uint16(0))[None, :]
    return bits


_LOOK_BACK = 4
"""Proxy days are sought among this many times ``proxy_days`` days before the day."""


def proxy_days(day: int, candidates: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` latest of ``candidates`` (epoch days before ``day``) of the same day
    type (weekday, or weekend/holiday: ``smame.meter.profiles.is_holiday``); all of the
    latest ``count`` candidates when none has the day's type."""
    holiday = is_holiday(day_of(int(day)))
    earlier = np.sort(candidates[candidates < day])[::-1]
    same = np.array([d for d in earlier if is_holiday(day_of(int(d))) == holiday], np.int64)
    chosen = same if same.size else earlier
    return chosen[:count]


def _proxy(store, con, config: VeeConfig, keys: np.ndarray, need: np.ndarray, period: int,
           start: int, n: int) -> np.ndarray:
    """Mean of each slot over the proxy days before, for series ``need``; NaN elsewhere."""
    _, channels = split_key(keys)
    days = int(config.param_table("proxy_days")[channels.astype(np.intp)].max())
    proxy = np.full((keys.size, n), np.nan)
    if days <= 0:
        return proxy
    meters = np.unique(split_key(keys[need])[0])
    data = _read(store, con, start - _LOOK_BACK * days * 86400 + 1, start,
                 sorted({int(c) for c in channels}), meters)
    good = (data["quality"] & int(Quality.SUSPECT)) == 0
    good &= np.isin(epoch_day(data["t"]), proxy_days(epoch_day(np.array([start + 1]))[0],
                                                     np.unique(epoch_day(data["t"])), days))
    data = {k: v[good] for k, v in data.items()}
    data["t"] = start + (data["t"] - start) % 86400
    data["t"] = np.where(data["t"] == start, start + 86400, data["t"])
    row, slot, sel = _cells(keys, data, period, start, n, offset=1)
    total = np.zeros((keys.size, n))
    count = np.zeros((keys.size, n))
    np.add.at(total, (row, slot), data["value"][sel])
    np.add.at(count, (row, slot), 1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
