"""30-minute (and 15-minute) energy per retailer and per balancing group (SPEC S1, S10).

The input to 計画値同時同量 and imbalance settlement: for each slot of a JST day, forward
and reverse active energy summed over the meters each retailer supplies that day, and
over each balancing group. Only validated or estimated values count (a SUSPECT value
that has not been replaced is left out and counted as such); each sum says how much of
it is estimated. Energies are in Wh (integers), whatever the meters' register unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from smame.readings import CHANNELS, Period, Quality, Quantity
from smame.store.layout import day_start
from smame.store.measurements import MeasurementStore
from smame.store.registry import Registry

__all__ = ["Settlement", "settle", "slot_channels"]


@dataclass(frozen=True)
class Settlement:
    """Sums of one day: ``retailers`` and ``groups`` tables, one row per party and slot.

    Columns: party id, ``slot`` (1..48 or 1..96), ``slot_end``, ``import_wh``,
    ``import_estimated_wh``, ``export_wh``, ``export_estimated_wh``, ``meters``,
    ``values``, ``estimated_values``, ``excluded_values`` (suspect, not counted) and
    ``estimated_share`` (estimated import / import).
    """

    day: date
    minutes: int
    retailers: pa.Table
    groups: pa.Table


def slot_channels(minutes: int) -> dict[int, tuple[str, int]]:
    """Settlement channels of a slot length: code -> (direction, Wh per value step)."""
    period = {30: Period.MIN30, 15: Period.MIN15}.get(minutes)
    if period is None:
        raise ValueError(f"settlement slots are 30 or 15 minutes, not {minutes}")
    out = {}
    for code, info in CHANNELS.items():
        if info.period is period and info.quantity in (Quantity.ACTIVE_IMPORT,
                                                       Quantity.ACTIVE_EXPORT):
            direction = "import" if info.quantity is Quantity.ACTIVE_IMPORT else "export"
            out[code] = (direction, 10 ** (info.unit_exponent + 3))
    return out


def settle(store: MeasurementStore, registry: Registry, day: date, minutes: int = 30
           ) -> Settlement:
    """Settlement sums of ``day`` for every retailer and balancing group."""
    channels = slot_channels(minutes)
    start = day_start(day)
    assignments = registry.assignments(day).select(["meter_id", "retailer_id", "bg_id"])
    units = pa.table({"channel": pa.array(list(channels), pa.uint16()),
                      "direction": [d for d, _ in channels.values()],
                      "wh": pa.array([w for _, w in channels.values()], pa.int64())})
    counted = int(Quality.VALIDATED)
    suspect = int(Quality.SUSPECT)
    estimated = int(Quality.ESTIMATED)
    with store.reader() as con:
        relation = store.current(con, start + 1, start + 86400, list(channels))
        con.register("_assign", assignments)
        con.register("_units", units)
        try:
            # One pass over the day: sums per retailer, group and slot. Each meter belongs to
            # one retailer on the day and has one import value per slot, so counts add up.
            per_retailer = con.sql(f"""
                WITH slots AS (
                    SELECT a.retailer_id, a.bg_id, m.interval_end, u.direction,
                           m.value * u.wh AS wh,
                           (m.quality & {estimated}) <> 0 AS est,
                           (m.quality & {counted}) <> 0 AND (m.quality & {suspect}) = 0
                               AS counts
                    FROM {relation} m
                    JOIN _units u ON u.channel = m.channel
                    JOIN _assign a ON a.meter_id = m.meter_id
                    WHERE m.interval_end > to_timestamp(?)
                      AND m.interval_end <= to_timestamp(?)
                )
                SELECT retailer_id, bg_id,
                       ((epoch(interval_end)::BIGINT - ?) // ?)::INTEGER AS slot,
                       interval_end AS slot_end,
                       {_SUMS}
                FROM slots
                WHERE epoch(interval_end)::BIGINT % ? = 0
                GROUP BY ALL
            """, params=[start, start + 86400, start, minutes * 60, minutes * 60]
            ).to_arrow_table()
            con.register("_per_retailer", per_retailer)
            retailers = _rollup(con, "retailer_id")
            groups = _rollup(con, "bg_id")
            con.unregister("_per_retailer")
        finally:
            con.unregister("_assign")
            con.unregister("_units")
    return Settlement(day, minutes, retailers, groups)


_SUMS = """
    coalesce(sum(wh) FILTER (counts AND direction = 'import'), 0)::BIGINT AS import_wh,
    coalesce(sum(wh) FILTER (counts AND est AND direction = 'import'), 0)::BIGINT
        AS import_estimated_wh,
    coalesce(sum(wh) FILTER (counts AND direction = 'export'), 0)::BIGINT AS export_wh,
    coalesce(sum(wh) FILTER (counts AND est AND direction = 'export'), 0)::BIGINT
        AS export_estimated_wh,
    count(*) FILTER (counts AND direction = 'import') AS meters,
    count(*) FILTER (counts) AS "values",
    count(*) FILTER (counts AND est) AS estimated_values,
    count(*) FILTER (NOT counts) AS excluded_values
"""


def _rollup(con, party: str) -> pa.Table:
    """Sums per ``party`` (retailer or balancing group) and slot from the one-pass sums."""
    return con.sql(f"""
        SELECT {party}, slot, slot_end,
               sum(import_wh)::BIGINT AS import_wh,
               sum(import_estimated_wh)::BIGINT AS import_estimated_wh,
               sum(export_wh)::BIGINT AS export_wh,
               sum(export_estimated_wh)::BIGINT AS export_estimated_wh,
               sum(meters)::BIGINT AS meters,
               sum("values")::BIGINT AS "values",
               sum(estimated_values)::BIGINT AS estimated_values,
               sum(excluded_values)::BIGINT AS excluded_values,
               CASE WHEN sum(import_wh) > 0
                    THEN sum(import_estimated_wh) / sum(import_wh) ELSE 0.0 END
                   AS estimated_share
        FROM _per_retailer WHERE {party} IS NOT NULL
        GROUP BY ALL ORDER BY {party}, slot
    """).to_arrow_table()
