"""特例計量器 (specified measuring instruments) behind main meters (SPEC S12).

An EV charger's or PV inverter's meter sends 30-minute energy through a feed (CSV or
JSON). Its values are stored like any reading, on channel 143 (forward active energy,
30-minute, 1 Wh), with source SUB_METER_FEED, and joined to the main meter through the
registry's ``sub_meters`` table. Differential metering gives main minus sub per slot.

Feed columns: ``sub_meter_id``, ``interval_end`` (ISO 8601 with offset, or POSIX
seconds) and ``energy_wh``. JSON is a list of such objects, or ``{"readings": [...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from smame.clock import epoch_seconds
from smame.mdms.files import FileFormatError, cast_column, read_csv_strings
from smame.readings import SCHEMA, Quality, Source
from smame.store.measurements import MeasurementStore
from smame.store.registry import Registry

__all__ = ["FEED_COLUMNS", "SUB_CHANNEL", "differential", "read_sub_meter_feed"]

SUB_CHANNEL = 143
FEED_COLUMNS = ("sub_meter_id", "interval_end", "energy_wh")
_TS = pa.timestamp("s", tz="UTC")
_MAIN_WH = {140: 10, 141: 100, 142: 1000, 143: 1}


def _json_columns(path: Path) -> tuple[dict[str, pa.Array], int]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise FileFormatError(path, line, f"not valid JSON ({exc})", "line") from None
    records = document.get("readings") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise FileFormatError(path, None, "JSON must be a list of readings or "
                              "{\"readings\": [...]}")
    columns: dict[str, list] = {name: [] for name in FEED_COLUMNS}
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise FileFormatError(path, number, "a reading must be a JSON object", "record")
        for name in FEED_COLUMNS:
            value = record.get(name)
            if isinstance(value, bool | dict | list):
                raise FileFormatError(path, number, f"{name} {value!r} is not valid", "record")
            columns[name].append(None if value is None else str(value))
    return {name: pa.array(values, pa.string()) for name, values in columns.items()}, 1


def read_sub_meter_feed(path: Path | str, registry: Registry | None = None) -> pa.Table:
    """A sub-meter feed file as a reading batch; malformed rows name file and row.

    With a ``registry``, sub-meters it does not know are refused too.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        columns, first, unit = *_json_columns(path), "record"
    elif path.suffix.lower() in (".csv", ".txt"):
        columns, first, unit = read_csv_strings(path), 2, "line"
    else:
        raise FileFormatError(path, None, "unknown feed type: use .csv or .json")
    missing = [name for name in FEED_COLUMNS if name not in columns]
    if missing:
        raise FileFormatError(path, None, f"missing column(s) {', '.join(missing)}")
    ids = cast_column(columns["sub_meter_id"], "sub_meter_id", pa.int64(), path, first, unit)
    ends = cast_column(columns["interval_end"], "interval_end", _TS, path, first, unit)
    energy = cast_column(columns["energy_wh"], "energy_wh", pa.int64(), path, first, unit)
    values = energy.to_numpy()
    if values.size and values.min() < 0:
        index = int(np.argmin(values >= 0))
        raise FileFormatError(path, first + index, f"energy_wh {values[index]} is negative", unit)
    if registry is not None and len(ids):
        known = registry.sub_meters().column("sub_meter_id").to_numpy()
        listed = np.isin(ids.to_numpy(), known)
        if not listed.all():
            index = int(np.argmin(listed))
            raise FileFormatError(path, first + index,
                                  f"sub-meter {ids[index].as_py()} is not registered", unit)
    n = len(ids)
    return pa.Table.from_arrays([
        ids, ends,
        pa.array(np.full(n, SUB_CHANNEL, np.uint16)),
        energy,
        pa.array(np.zeros(n, np.uint16)),
        pa.array(np.full(n, Source.SUB_METER_FEED, np.uint8)),
    ], schema=SCHEMA)


def differential(store: MeasurementStore, registry: Registry, start: datetime | int,
                 end: datetime | int, main_meter_ids: Sequence[int] | None = None) -> pa.Table:
    """Main minus sub-meters per 30-minute slot, in Wh, with consistency flags (SPEC S12).

    One row per main meter and slot where either side has a value. ``sub_above_main``
    marks slots where the sub-meters measured more than the main meter; ``misaligned``
    marks sub-meter values that do not fall on a main meter slot (off the 30-minute grid,
    or no validated main value at that time). ``net_wh`` is null for misaligned rows.
    Main meter values count when validated; sub-meter values are all shown, since VEE
    marks off-grid ones suspect and those are what this report must surface.
    """
    lo, hi = epoch_seconds(start), epoch_seconds(end)
    subs = registry.sub_meters().select(["sub_meter_id", "main_meter_id"])
    if main_meter_ids is not None:
        keep = np.isin(subs.column("main_meter_id").to_numpy(), np.asarray(main_meter_ids))
        subs = subs.filter(pa.array(keep))
    units = pa.table({"channel": pa.array(list(_MAIN_WH), pa.uint16()),
                      "wh": pa.array(list(_MAIN_WH.values()), pa.int64())})
    counted = int(Quality.VALIDATED)
    with store.reader() as con:
        relation = store.current(con, lo, hi, list(_MAIN_WH))
        con.register("_subs", subs)
        con.register("_units", units)
        try:
            table = con.sql(f"""
                WITH data AS (
                    SELECT m.meter_id, m.channel, m.interval_end, m.value * u.wh AS wh
                    FROM {relation} m JOIN _units u ON u.channel = m.channel
                    WHERE m.interval_end BETWEEN to_timestamp(?) AND to_timestamp(?)
                      AND ((m.quality & {counted}) <> 0 OR m.channel = {SUB_CHANNEL})
                ),
                sub AS (
                    SELECT s.main_meter_id AS meter_id, d.interval_end, sum(d.wh) AS sub_wh,
                           count(*) AS sub_values
                    FROM data d JOIN _subs s ON s.sub_meter_id = d.meter_id
                    WHERE d.channel = {SUB_CHANNEL} GROUP BY ALL
                ),
                main AS (
                    SELECT d.meter_id, d.interval_end, d.wh AS main_wh FROM data d
                    WHERE d.channel = 140
                      AND d.meter_id IN (SELECT main_meter_id FROM _subs)
                )
                SELECT coalesce(main.meter_id, sub.meter_id) AS main_meter_id,
                       coalesce(main.interval_end, sub.interval_end) AS interval_end,
                       main.main_wh, coalesce(sub.sub_wh, 0)::BIGINT AS sub_wh,
                       CASE WHEN main.main_wh IS NULL THEN NULL
                            ELSE main.main_wh - coalesce(sub.sub_wh, 0) END AS net_wh,
                       coalesce(sub.sub_wh, 0) > coalesce(main.main_wh, 0)
                           AND main.main_wh IS NOT NULL AS sub_above_main,
                       sub.sub_wh IS NOT NULL AND (main.main_wh IS NULL
                           OR epoch(sub.interval_end)::BIGINT % 1800 <> 0) AS misaligned
                FROM main FULL OUTER JOIN sub
                  ON main.meter_id = sub.meter_id AND main.interval_end = sub.interval_end
                ORDER BY main_meter_id, interval_end
            """, params=[lo, hi]).to_arrow_table()
        finally:
            con.unregister("_subs")
            con.unregister("_units")
    return table
