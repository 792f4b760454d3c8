"""Physical plausibility: the most energy a meter can register in an interval (SPEC S1).

A meter cannot pass more current than its service allows: import is bounded by the
contract current (the smart meter's breaker) or the meter's rating, export (PV, battery
behind the meter) by the meter's rating, both at the service voltage. A sub-meter is
bounded by the rating of what it measures (its kind). The bound of an interval is
``amperes × volts × interval hours × margin`` in Wh; readings above it are physically
impossible, whatever the meter's history says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from smame.clock import JST_OFFSET_S
from smame.readings import CHANNEL_QUANTITY, CHANNEL_SCALE, Quantity

__all__ = ["DEFAULT_RATED_AMPS", "DEFAULT_VOLTS", "INACTIVE_STATES", "SUB_METER_KW",
           "PhysicalLimits", "interval_limit_wh", "watts_per_amp"]

DEFAULT_RATED_AMPS = 120
"""Rated (maximum) current of a low-voltage smart meter when the registry has none, A."""
DEFAULT_VOLTS = 200
"""Service voltage when the registry has none: 単相3線 100/200 V."""
SUB_METER_KW = {"ev": 8.0, "pv": 10.0, "battery": 10.0, "heat_pump": 6.0}
"""Largest power of what a sub-meter (特例計量器) measures, by its kind, kW; others 20 kW."""
_OTHER_SUB_KW = 20.0
INACTIVE_STATES = frozenset({"inactive", "removed", "retired", "in_stock"})
"""Meter states (registry ``meters.state``) in which a meter sends no valid readings;
NULL and any other state count as active."""

_SMALL = np.iinfo(np.int64).min
_BIG = np.iinfo(np.int64).max


def _day_starts(dates: pa.ChunkedArray, default: int) -> np.ndarray:
    """POSIX seconds of 00:00 JST of each date (``default`` where null)."""
    days = dates.cast(pa.int32()).to_numpy(zero_copy_only=False)
    present = ~np.isnan(days.astype(np.float64)) if days.dtype.kind == "f" else np.ones(
        days.size, np.bool_)
    days = np.nan_to_num(days.astype(np.float64), nan=0).astype(np.int64)
    return np.where(present, days * 86400 - JST_OFFSET_S, default)


def _flags(mask: pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow column as a numpy mask, null as False."""
    return mask.fill_null(False).to_numpy().astype(np.bool_)


WH_PER_UNIT = CHANNEL_SCALE * 1000  # for energy channels: kWh per step → Wh
IS_EXPORT = CHANNEL_QUANTITY == Quantity.ACTIVE_EXPORT


def watts_per_amp(volts: np.ndarray) -> np.ndarray:
    """Most power per ampere of contract or rating for a registered service voltage, W/A:
    100 V is single-phase three-wire 100/200 V, where each of the two legs may carry the
    contract current (a 200 V load draws it on both), so 200 W/A; 200 V is three-phase
    three-wire, √3 × 200 ≈ 346 W/A."""
    return np.where(volts <= 100, 200.0, np.sqrt(3) * volts)


def interval_limit_wh(watts, period_s, margin):
    """Most energy in Wh at ``watts`` (amperes × volts) over ``period_s`` seconds, times
    ``margin`` (SPEC S1 plausibility); numbers or numpy arrays."""
    return watts * period_s / 3600.0 * margin


@dataclass(frozen=True)
class PhysicalLimits:
    """Registered meters (sorted ids) and the power that bounds each, in W.

    ``checked`` is False for a store with no registered meters at all (no master data
    loaded): then neither bounds nor the registration check apply.
    """

    meter: np.ndarray
    import_w: np.ndarray
    export_w: np.ndarray
    electric: np.ndarray  # False for joint (gas/water) meters: no electrical bound
    volts: np.ndarray | None = None  # nominal service voltage (100 or 200)
    generation: np.ndarray | None = None  # generation registered behind the meter
    first_t: np.ndarray | None = None  # POSIX s: the installation day's start
    last_t: np.ndarray | None = None  # POSIX s: the removal day's start (no data after)
    inactive: np.ndarray | None = None  # meter state says it measures nothing now
    checked: bool = True

    @classmethod
    def unchecked(cls) -> PhysicalLimits:
        e = np.empty(0, np.int64)
        return cls(e, e.astype(np.float64), e.astype(np.float64), e.astype(np.bool_),
                   checked=False)

    @classmethod
    def of(cls, facts: pa.Table) -> PhysicalLimits:
        """From :meth:`smame.store.registry.Registry.physical_facts` rows."""
        meter = facts.column("meter_id").to_numpy()
        kind = facts.column("kind")

        def column(name: str, default: float) -> np.ndarray:
            return facts.column(name).cast(pa.float64()).fill_null(default).to_numpy()

        volts = column("voltage", DEFAULT_VOLTS)
        rated = column("rated_amps", DEFAULT_RATED_AMPS)
        contract = column("contract_amps", np.inf)
        import_w = watts_per_amp(volts) * np.minimum(contract, rated)
        export_w = watts_per_amp(volts) * rated
        kinds = pa.array(list(SUB_METER_KW))
        kw = np.array([*SUB_METER_KW.values(), _OTHER_SUB_KW])
        sub_w = kw[pc.index_in(kind, value_set=kinds).fill_null(len(kinds)).to_numpy()] * 1000.0
        is_sub = ~_flags(pc.is_in(kind, value_set=pa.array(["electric", "joint"])))
        import_w = np.where(is_sub, sub_w, import_w)
        export_w = np.where(is_sub, sub_w, export_w)
        electric = _flags(pc.not_equal(kind, "joint"))
        generation = facts.column("generation").fill_null(False).to_numpy(
            zero_copy_only=False).astype(np.bool_)
        first_t = _day_starts(facts.column("installed"), _SMALL)
        last_t = _day_starts(facts.column("removed"), _BIG)
        inactive = _flags(pc.is_in(pc.utf8_lower(facts.column("state")),
                                   value_set=pa.array(sorted(INACTIVE_STATES))))
        order = np.argsort(meter, kind="stable")
        return cls(meter[order], import_w[order], export_w[order], electric[order],
                   volts[order], generation[order], first_t[order], last_t[order],
                   inactive[order])

    def at(self, name: str, pos: np.ndarray, default) -> np.ndarray:
        """Column ``name`` at ``pos`` (from :meth:`lookup`), ``default`` if not held."""
        column = getattr(self, name)
        if column is None or not column.size:
            return np.full(pos.size, default)
        return column[pos]

    def lookup(self, meters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each meter in the limits, and whether it is registered."""
        pos = np.minimum(np.searchsorted(self.meter, meters), max(self.meter.size - 1, 0))
        found = (self.meter[pos] == meters) if self.meter.size else np.zeros(meters.size,
                                                                             np.bool_)
        return pos, found
