"""Restoration inferred from later good reads when a restore notification was lost (SPEC M6).

An outage span opens at POWER_DOWN and closes at POWER_RESTORED. Restore notifications
are routinely lost on mesh networks; a span left open would mark every later value as
recorded while off and have day close estimate the meter's consumption as zero for
ever. A meter without supply measures nothing, so a later read that shows supply closes
the span, with the kind of evidence as its reason code:

* ``inferred_energy``: an energy interval wholly after the span's start with energy > 0
  (and no outage or disconnection flag); supply was back by the interval's start at the
  latest that the data can tell, so the span closes there.
* ``inferred_register``: an energy register that advanced past its value at or before
  the span's start; the span closes at that reading.
* ``inferred_instant``: an instantaneous voltage, power or current read that is not
  zero; the span closes at that read.

The earliest evidence wins. Only outage spans are closed this way: energy through an
open switch is a tamper indicator, not proof that a reconnection notice was lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from smame.mdms.events import FOREVER, OUTAGE, OffSpans
from smame.mdms.vee.channels import IS_ENERGY_INTERVAL, IS_ENERGY_REGISTER, PERIOD_S
from smame.mdms.vee.state import SeriesState, series_key
from smame.readings import CHANNELS, Period, Quality, Quantity

__all__ = ["CLOSED_BY_EVENT", "INFERRED_ENERGY", "INFERRED_INSTANT", "INFERRED_REGISTER",
           "InferredRestores", "infer_restores", "record_restores"]

CLOSED_BY_EVENT = "event"
INFERRED_ENERGY = "inferred_energy"
INFERRED_REGISTER = "inferred_register"
INFERRED_INSTANT = "inferred_instant"

_IS_INSTANT_SUPPLY = np.zeros(max(CHANNELS) + 1, np.bool_)
for _code, _info in CHANNELS.items():
    _IS_INSTANT_SUPPLY[_code] = _info.period is Period.INSTANT and _info.quantity in (
        Quantity.VOLTAGE, Quantity.ACTIVE_POWER, Quantity.CURRENT_L1, Quantity.CURRENT_L2)
_OFF_FLAGS = int(Quality.POWER_OUTAGE | Quality.DISCONNECTED)


@dataclass(frozen=True)
class InferredRestores:
    """Open outage spans closed by evidence: meter, span start, close time (POSIX s), why."""

    meter_id: np.ndarray
    outage_start: np.ndarray
    time: np.ndarray
    reason: list[str]

    def __len__(self) -> int:
        return int(self.meter_id.size)

    def apply(self, spans: OffSpans) -> OffSpans:
        """``spans`` with the open outage spans these restores close, closed."""
        if not len(self):
            return spans
        end = spans.end.copy()
        for meter, began, at in zip(self.meter_id, self.outage_start, self.time, strict=True):
            hit = ((spans.meter_id == meter) & (spans.start == began) & (spans.kind == OUTAGE)
                   & (spans.end == FOREVER))
            end[hit] = at
        return OffSpans(spans.meter_id, spans.start, end, spans.kind)

    def table(self, version: int) -> pa.Table:
        ts = pa.timestamp("s", tz="UTC")
        return pa.table({
            "meter_id": pa.array(self.meter_id, pa.int64()),
            "time": pa.array(self.time, pa.int64()).view(ts),
            "outage_start": pa.array(self.outage_start, pa.int64()).view(ts),
            "reason": pa.array(self.reason, pa.string()),
            "version": pa.array(np.full(len(self), version, np.int64)),
        })


def infer_restores(spans: OffSpans, meter: np.ndarray, t: np.ndarray, channel: np.ndarray,
                   value: np.ndarray, quality: np.ndarray, state: SeriesState | None = None
                   ) -> InferredRestores:
    """Closes of the open outage spans in ``spans`` that the reads show (see module doc).

    Reads are aligned arrays in any order; times POSIX seconds. ``state`` gives the last
    stored register value of a series, the baseline when no register read of the rows is
    at or before the span's start.
    """
    meters, starts, times, reasons = [], [], [], []
    is_open = (spans.kind == OUTAGE) & (spans.end == FOREVER)
    if not is_open.any():
        return InferredRestores(np.empty(0, np.int64), np.empty(0, np.int64),
                                np.empty(0, np.int64), [])
    order = None if bool(np.all(meter[1:] >= meter[:-1])) else np.argsort(meter, kind="stable")
    by_meter = meter if order is None else meter[order]
    for m, began in zip(spans.meter_id[is_open], spans.start[is_open], strict=True):
        lo, hi = np.searchsorted(by_meter, [m, m + 1])
        if lo == hi:
            continue
        mine = slice(lo, hi) if order is None else order[lo:hi]
        code = channel[mine].astype(np.intp)
        found = _earliest(int(began), t[mine], code, value[mine], quality[mine], int(m), state)
        if found is not None:
            meters.append(int(m))
            starts.append(int(began))
            times.append(found[0])
            reasons.append(found[1])
    return InferredRestores(np.array(meters, np.int64), np.array(starts, np.int64),
                            np.array(times, np.int64), reasons)


def _earliest(began: int, t: np.ndarray, code: np.ndarray, value: np.ndarray,
              quality: np.ndarray, meter: int, state: SeriesState | None
              ) -> tuple[int, str] | None:
    """Earliest evidence of supply after ``began`` among one meter's reads."""
    clean = (quality & _OFF_FLAGS) == 0
    candidates: list[tuple[int, str]] = []
    period = PERIOD_S[code]
    energy = IS_ENERGY_INTERVAL[code] & clean & (value > 0) & (t - period >= began)
    if energy.any():
        candidates.append((int((t - period)[energy].min()), INFERRED_ENERGY))
    instant = _IS_INSTANT_SUPPLY[code] & clean & (value != 0) & (t > began)
    if instant.any():
        candidates.append((int(t[instant].min()), INFERRED_INSTANT))
    for register in np.unique(code[IS_ENERGY_REGISTER[code]]):
        at = _register_advance(began, t[code == register], value[code == register], meter,
                               int(register), state)
        if at is not None:
            candidates.append((at, INFERRED_REGISTER))
    return min(candidates) if candidates else None


def _register_advance(began: int, t: np.ndarray, value: np.ndarray, meter: int,
                      register: int, state: SeriesState | None) -> int | None:
    """Time of the first reading after ``began`` that differs from the register's value
    at or before ``began``; None without such a baseline or advance."""
    order = np.argsort(t, kind="stable")
    t, value = t[order], value[order]
    before = np.flatnonzero(t <= began)
    if before.size:
        baseline = int(value[before[-1]])
    elif state is not None:
        pos, found = state.find(series_key(np.array([meter]), np.array([register])))
        if not found[0] or state.last_t[pos[0]] > began:
            return None
        baseline = int(state.last_value[pos[0]])
    else:
        return None
    after = np.flatnonzero((t > began) & (value != baseline))
    return int(t[after[0]]) if after.size else None


def record_restores(con: duckdb.DuckDBPyConnection, restores: InferredRestores, version: int
                    ) -> None:
    """Store inferred restores (inside the caller's transaction)."""
    if not len(restores):
        return
    con.register("_restores", restores.table(version))
    try:
        con.execute("INSERT INTO inferred_restores SELECT * FROM _restores")
    finally:
        con.unregister("_restores")
