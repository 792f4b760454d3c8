"""What the analyses read from the MDMS: topology, events and interval energy of a span."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from smame.clock import jst_day_start
from smame.mdms import Mdms
from smame.meter.events import EventKind
from smame.readings import CHANNELS, Period, Quantity
from smame.store.registry import Registry

__all__ = ["DayInputs", "day_inputs", "energy_channels", "energy_intervals", "topology_table"]

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


def energy_channels() -> list[int]:
    """Channel codes of interval active energy, import and export, 5 to 30 minutes."""
    return sorted(code for code, info in CHANNELS.items()
                  if info.quantity in (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT)
                  and info.period in (Period.MIN5, Period.MIN15, Period.MIN30))


def energy_intervals(readings: pa.Table) -> pa.Table:
    """Import plus export per meter and interval (``meter_id``, ``interval_start``,
    ``interval_end`` in POSIX s, ``energy`` in the channels' units): what the outage analysis
    needs to tell an interval with supply from one without."""
    rows = readings.filter(pc.is_in(readings.column("channel"),
                                    pa.array(energy_channels(), pa.uint16())))
    minutes = np.zeros(max(CHANNELS) + 1, np.int64)
    for code, info in CHANNELS.items():
        minutes[code] = info.period.minutes
    end = rows.column("interval_end").cast(pa.int64()).to_numpy()
    start = end - 60 * minutes[rows.column("channel").to_numpy()]
    table = pa.table({"meter_id": rows.column("meter_id"), "interval_start": start,
                      "interval_end": end, "energy": rows.column("value")})
    summed = table.group_by(["meter_id", "interval_start", "interval_end"]).aggregate(
        [("energy", "sum")])
    return summed.rename_columns(["meter_id", "interval_start", "interval_end", "energy"]
                                 ).sort_by([("meter_id", "ascending"),
                                            ("interval_start", "ascending")])


@dataclass(frozen=True, slots=True)
class DayInputs:
    day: date
    start: int
    end: int
    topology: pa.Table
    events: pa.Table
    readings: pa.Table


def day_inputs(mdms: Mdms, day: date, channels: list[int]) -> DayInputs:
    """One JST settlement day's topology, events and readings of ``channels``."""
    start = jst_day_start(day)
    end = start + 86400
    topology = topology_table(mdms.registry)
    events = mdms.events(lo=start, hi=end, kinds=[int(k) for k in OUTAGE_EVENT_KINDS])
    readings = mdms.readings(start=start + 1, end=end, channels=channels)
    return DayInputs(day, start, end, topology, events, readings)
