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

from smame.mdms.submeter import SUB_CHANNEL
from smame.readings import CHANNELS, Period, Quality, Quantity
from smame.store.layout import day_start
from smame.store.measurements import MeasurementStore
from smame.store.registry import Registry

__all__ = ["SPLIT_METHOD", "UNASSIGNED", "Settlement", "settle", "slot_channels"]


UNASSIGNED = "UNASSIGNED"
"""Retailer and group of meters with data but no supply contract on the day."""
SPLIT_METHOD = ("15-minute slots of 30-minute meters: the 30-minute value split evenly, "
                "the odd Wh in the first half; 30-minute slots of 15-minute meters: the "
                "sum of the two 15-minute values")


@dataclass(frozen=True)
class Settlement:
    """Sums of one day: ``retailers`` and ``groups`` tables, one row per party and slot.

    Columns: party id, ``slot`` (1..48 or 1..96), ``slot_end``, ``import_wh``,
    ``import_estimated_wh``, ``export_wh``, ``export_estimated_wh``, ``meters``,
    ``values``, ``estimated_values``, ``excluded_values`` (suspect or incomplete, not
    counted), ``estimated_share`` (estimated import / import), and ``import_converted_wh``
    / ``converted_values``: the part taken from meters of the other resolution by
    :data:`SPLIT_METHOD` (SPEC S10). Meters without a supply contract are the party
    :data:`UNASSIGNED`.
    """

    day: date
    minutes: int
    retailers: pa.Table
    groups: pa.Table
    method: str = SPLIT_METHOD


def slot_channels(minutes: int) -> dict[int, tuple[str, int]]:
    """Settlement channels of a slot length: code -> (direction, Wh per value step)."""
    period = {30: Period.MIN30, 15: Period.MIN15}.get(minutes)
    if period is None:
        raise ValueError(f"settlement slots are 30 or 15 minutes, not {minutes}")
    out = {}
    for code, info in CHANNELS.items():
        if (info.period is period and code != SUB_CHANNEL
                and info.quantity in (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT)):
            direction = "import" if info.quantity is Quantity.ACTIVE_IMPORT else "export"
            out[code] = (direction, 10 ** (info.unit_exponent + 3))
    return out


def settle(store: MeasurementStore, registry: Registry, day: date, minutes: int = 30
           ) -> Settlement:
    """Settlement sums of ``day`` for every retailer and balancing group (SPEC S1, S10).

    A mixed fleet settles whole: at 15 minutes, 30-minute meters are split into their two
    15-minute slots; at 30 minutes, meters in 15-minute mode give the sum of their two
    15-minute values (:data:`SPLIT_METHOD`); each row says how much came from such
    conversions. A meter's own resolution is used where it has it.
    """
    native = slot_channels(minutes)
    other = slot_channels(45 - minutes)
    start = day_start(day)
    assignments = registry.assignments(day).select(["meter_id", "retailer_id", "bg_id"])
    subs = registry.sub_meters().select(["sub_meter_id"])
    codes = [*native, *other]
    units = pa.table({"channel": pa.array(codes, pa.uint16()),
                      "direction": [d for d, _ in (*native.values(), *other.values())],
                      "wh": pa.array([w for _, w in (*native.values(), *other.values())],
                                     pa.int64()),
                      "native": [True] * len(native) + [False] * len(other)})
    counted = int(Quality.VALIDATED)
    suspect = int(Quality.SUSPECT)
    estimated = int(Quality.ESTIMATED)
    step = minutes * 60
    if minutes == 15:
        converted = """
            SELECT meter_id, interval_end - INTERVAL 15 MINUTE AS slot_end, direction,
                   wh - wh // 2 AS wh, est, counts, 1 AS n FROM raw WHERE NOT native
            UNION ALL
            SELECT meter_id, interval_end, direction, wh // 2, est, counts, 1 FROM raw
            WHERE NOT native"""
    else:
        converted = f"""
            SELECT meter_id, to_timestamp(ceil(epoch(interval_end) / {step}) * {step})
                       AS slot_end, direction, sum(wh)::BIGINT AS wh, bool_or(est) AS est,
                   bool_and(counts) AND count(*) = 2 AS counts, 1 AS n
            FROM raw WHERE NOT native GROUP BY ALL"""
    with store.reader() as con:
        relation = store.current(con, start + 1, start + 86400, codes)
        con.register("_assign", assignments)
        con.register("_units", units)
        con.register("_subs", subs)
        try:
            # One pass over the day: sums per retailer, group and slot. Each meter belongs to
            # one retailer on the day and has one import value per slot, so counts add up.
            per_retailer = con.sql(f"""
                WITH raw AS (
                    SELECT m.meter_id, m.interval_end, u.direction, u.native,
                           m.value * u.wh AS wh,
                           (m.quality & {estimated}) <> 0 AS est,
                           (m.quality & {counted}) <> 0 AND (m.quality & {suspect}) = 0
                               AS counts
                    FROM {relation} m
                    JOIN _units u ON u.channel = m.channel
                    WHERE m.interval_end > to_timestamp(?)
                      AND m.interval_end <= to_timestamp(?)
                      AND m.meter_id NOT IN (SELECT sub_meter_id FROM _subs)
                ),
                own AS (
                    SELECT meter_id, interval_end AS slot_end, direction, wh, est, counts,
                           FALSE AS converted FROM raw WHERE native
                ),
                other AS (SELECT * EXCLUDE (n), TRUE AS converted FROM ({converted})),
                slots AS (
                    SELECT * FROM own
                    UNION ALL
                    SELECT o.* FROM other o ANTI JOIN own n ON n.meter_id = o.meter_id
                        AND n.slot_end = o.slot_end AND n.direction = o.direction
                )
                SELECT coalesce(a.retailer_id, '{UNASSIGNED}') AS retailer_id,
                       CASE WHEN a.meter_id IS NULL THEN '{UNASSIGNED}' ELSE a.bg_id END
                           AS bg_id,
                       ((epoch(s.slot_end)::BIGINT - ?) // ?)::INTEGER AS slot,
                       s.slot_end,
                       {_SUMS}
                FROM slots s LEFT JOIN _assign a ON a.meter_id = s.meter_id
                WHERE epoch(s.slot_end)::BIGINT % ? = 0
                GROUP BY ALL
            """, params=[start, start + 86400, start, step, step]).to_arrow_table()
            con.register("_per_retailer", per_retailer)
            retailers = _rollup(con, "retailer_id")
            groups = _rollup(con, "bg_id")
            con.unregister("_per_retailer")
        finally:
            con.unregister("_assign")
            con.unregister("_units")
            con.unregister("_subs")
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
    count(*) FILTER (NOT counts) AS excluded_values,
    coalesce(sum(wh) FILTER (counts AND converted AND direction = 'import'), 0)::BIGINT
        AS import_converted_wh,
    count(*) FILTER (counts AND converted) AS converted_values
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
                   AS estimated_share,
               sum(import_converted_wh)::BIGINT AS import_converted_wh,
               sum(converted_values)::BIGINT AS converted_values
        FROM _per_retailer WHERE {party} IS NOT NULL
        GROUP BY ALL ORDER BY {party}, slot
    """).to_arrow_table()
