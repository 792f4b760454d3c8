"""What the analyses read from the MDMS: topology, events and interval energy of a span."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from smame.clock import jst_day, jst_day_start
from smame.mdms import Mdms
from smame.meter.events import EventKind
from smame.readings import CHANNEL_MINUTES, CHANNEL_QUANTITY, Quantity
from smame.store.registry import Registry

__all__ = ["DayInputs", "day_inputs", "energy_channels", "energy_intervals", "span_inputs",
           "topology_table"]

OUTAGE_EVENT_KINDS = (
    EventKind.LAST_GASP, EventKind.POWER_DOWN, EventKind.POWER_RESTORED,
    EventKind.DISCONNECTED, EventKind.RECONNECTED, EventKind.BREAKER_TRIP,
    EventKind.BREAKER_RECLOSE, EventKind.BREAKER_LOCKOUT, EventKind.BREAKER_RESET,
)


def topology_table(registry: Registry) -> pa.Table:
    """Every electricity meter with its transformer, feeder and service voltage."""
    meters = registry.table("meters").select(["meter_id", "sp_id"])
    points = registry.table("service_points").select(["sp_id", "transformer_id", "voltage"])
    transformers = registry.table("transformers").select(["transformer_id", "feeder_id"])
    joined = meters.join(points, "sp_id").join(transformers, "transformer_id")
    joined = joined.sort_by("meter_id")
    return pa.table({
        "meter_id": joined.column("meter_id").cast(pa.int64()),
        "transformer": joined.column("transformer_id").cast(pa.int64()),
        "feeder": joined.column("feeder_id").cast(pa.int64()),
        "service_voltage": joined.column("voltage").cast(pa.int16()),
    })


_IS_ENERGY = (np.isin(CHANNEL_QUANTITY, (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT))
              & np.isin(CHANNEL_MINUTES, (5, 15, 30)))


def energy_channels() -> list[int]:
    """Channel codes of interval active energy, import and export, 5 to 30 minutes."""
    return np.flatnonzero(_IS_ENERGY).tolist()


_SLOT_KEY = 10**7  # meter id × this + 5-minute slot number (mod this): one int64 per interval


def _suspects(meter: np.ndarray, end: np.ndarray, value: np.ndarray, coarse: np.ndarray,
              events: pa.Table) -> np.ndarray:
    """Meters that may have lost supply: those with events, and those with a 15- or
    30-minute interval where no channel has energy (import zero while exporting is no
    evidence, nor is a finer zero alone)."""
    key = meter[coarse] * _SLOT_KEY + (end[coarse] // 300) % _SLOT_KEY
    order = np.argsort(key)
    key, live = key[order], value[coarse][order] != 0
    if key.size:
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        dead = key[starts][~np.logical_or.reduceat(live, starts)]
    else:
        dead = key
    return np.union1d(dead // _SLOT_KEY, events.column("meter_id").to_numpy())


def _member(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``np.isin`` for ids spanning a modest range, by a lookup table."""
    if not values.size or not members.size:
        return np.zeros(values.size, np.bool_)
    low = int(min(values.min(), members.min()))
    table = np.zeros(int(max(values.max(), members.max())) - low + 1, np.bool_)
    table[members - low] = True
    return table[values - low]


def energy_intervals(readings: pa.Table, events: pa.Table | None = None) -> pa.Table:
    """Import plus export per meter and interval (``meter_id``, ``interval_start``,
    ``interval_end`` in POSIX s, ``energy`` in the channels' units): what the outage analysis
    needs to tell an interval with supply from one without.

    With ``events``, only meters that may have lost supply are kept (:func:`_suspects`), so a
    national day's quiet majority costs one vectorised pass."""
    minutes = CHANNEL_MINUTES
    channel = readings.column("channel").to_numpy()
    selected = _IS_ENERGY[channel]
    meter = readings.column("meter_id").to_numpy()
    end = readings.column("interval_end").cast(pa.int64()).to_numpy()
    value = readings.column("value").to_numpy()
    if events is not None:
        suspects = _suspects(meter, end, value, selected & (minutes[channel] >= 15), events)
        selected &= _member(meter, suspects)
    table = pa.table({"meter_id": meter[selected],
                      "interval_start": end[selected] - 60 * minutes[channel[selected]],
                      "interval_end": end[selected], "energy": value[selected]})
    summed = table.group_by(["meter_id", "interval_start", "interval_end"]).aggregate(
        [("energy", "sum")])
    return summed.rename_columns(["meter_id", "interval_start", "interval_end", "energy"]
                                 ).sort_by([("meter_id", "ascending"),
                                            ("interval_start", "ascending")])


@dataclass(frozen=True, slots=True)
class DayInputs:
    day: date
    """The JST day ``start`` falls on."""
    start: int
    end: int
    topology: pa.Table
    events: pa.Table
    readings: pa.Table


def span_inputs(mdms: Mdms, start: int, end: int, channels: list[int]) -> DayInputs:
    """The topology, the outage and switch events in ``[start, end]`` and the readings of
    ``channels`` of intervals ending in ``(start, end]`` (POSIX s)."""
    topology = topology_table(mdms.registry)
    events = mdms.events(lo=start, hi=end, kinds=[int(k) for k in OUTAGE_EVENT_KINDS])
    readings = mdms.readings(start=start + 1, end=end, channels=channels)
    return DayInputs(jst_day(start), start, end, topology, events, readings)


def day_inputs(mdms: Mdms, day: date, channels: list[int]) -> DayInputs:
    """One JST settlement day's topology, events and readings of ``channels``."""
    start = jst_day_start(day)
    return span_inputs(mdms, start, start + 86400, channels)
