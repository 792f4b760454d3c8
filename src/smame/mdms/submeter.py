"""特例計量器 (specified measuring instruments) behind main meters (SPEC S12).

An EV charger's, PV inverter's or battery's meter sends 30-minute energy through a feed
(CSV or JSON). Its values are stored like any reading, on channel 143 (forward active
energy, 30-minute, 1 Wh) or 243 (reverse), with source SUB_METER_FEED, and joined to
the main meter through the registry's ``sub_meters`` table.

Differential metering handles what is behind the meter by its direction: a load (EV
charger, heat pump; a battery charging, forward) is consumption the main meter's import
includes; generation (PV forward, a battery discharging, reverse) is energy the main
meter never saw except as export. The premises' other consumption is therefore
``main import − main export + generation − sub-metered consumption``, in Wh.

Feed columns: ``sub_meter_id``, ``interval_end`` (ISO 8601 with offset, or POSIX
seconds), ``energy_wh`` and optionally ``direction`` (``forward``, the default, or
``reverse``). JSON is a list of such objects, or ``{"readings": [...]}``.
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

__all__ = ["FEED_COLUMNS", "GENERATION_KINDS", "STORAGE_KINDS", "SUB_CHANNEL",
           "SUB_CHANNEL_REVERSE", "differential", "read_sub_meter_feed"]

SUB_CHANNEL = 143
SUB_CHANNEL_REVERSE = 243
FEED_COLUMNS = ("sub_meter_id", "interval_end", "energy_wh")
GENERATION_KINDS = frozenset({"pv", "fuel_cell", "wind"})
"""Sub-meter kinds whose forward energy is generation behind the meter."""
STORAGE_KINDS = frozenset({"battery", "v2h"})
"""Sub-meter kinds that charge (forward: consumption) and discharge (reverse: generation)."""
_TS = pa.timestamp("s", tz="UTC")
_IMPORT_WH = {140: 10, 141: 100, 142: 1000}
_EXPORT_WH = {240: 10, 241: 100, 242: 1000}
_MAIN_WH = {**_IMPORT_WH, **_EXPORT_WH, SUB_CHANNEL: 1, SUB_CHANNEL_REVERSE: 1}


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
    names = (*FEED_COLUMNS, "direction")
    columns: dict[str, list] = {name: [] for name in names}
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise FileFormatError(path, number, "a reading must be a JSON object", "record")
        for name in names:
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
    channel = np.full(n, SUB_CHANNEL, np.uint16)
    if "direction" in columns:
        direction = [d.strip().lower() if d else "forward" for d in
                     columns["direction"].to_pylist()]
        for number, word in enumerate(direction):
            if word not in ("forward", "reverse"):
                raise FileFormatError(path, first + number, f"direction {word!r} is not "
                                      "forward or reverse", unit)
        channel[np.array([d == "reverse" for d in direction], np.bool_)] = SUB_CHANNEL_REVERSE
    return pa.Table.from_arrays([
        ids, ends,
        pa.array(channel),
        energy,
        pa.array(np.zeros(n, np.uint16)),
        pa.array(np.full(n, Source.SUB_METER_FEED, np.uint8)),
    ], schema=SCHEMA)


def differential(store: MeasurementStore, registry: Registry, start: datetime | int,
                 end: datetime | int, main_meter_ids: Sequence[int] | None = None) -> pa.Table:
    """Per main meter and 30-minute slot, what is behind the meter, in Wh (SPEC S12).

    Columns (integers in Wh): ``main_wh`` (main import), ``main_export_wh``, ``sub_wh``
    (sub-metered consumption: loads, batteries charging), ``sub_generation_wh`` (PV,
    batteries discharging), ``net_wh`` = main import − main export + generation −
    sub-metered consumption (the premises' other consumption; null without a main
    value); flags ``sub_above_main`` (sub-metered consumption above what import and
    generation can supply), ``export_above_generation`` (the main meter exported more
    than the generation behind it) and ``misaligned`` (sub values off the 30-minute grid
    or without a validated main value). Sub-meter values are all shown, since VEE marks
    off-grid ones suspect and those are what this report must surface.
    """
    lo, hi = epoch_seconds(start), epoch_seconds(end)
    subs = registry.sub_meters().select(["sub_meter_id", "main_meter_id", "kind"])
    if main_meter_ids is not None:
        keep = np.isin(subs.column("main_meter_id").to_numpy(), np.asarray(main_meter_ids))
        subs = subs.filter(pa.array(keep))
    kinds = subs.column("kind").to_pylist()
    subs = subs.append_column("generates", pa.array([k in GENERATION_KINDS for k in kinds],
                                                    pa.bool_()))
    subs = subs.append_column("stores", pa.array([k in STORAGE_KINDS for k in kinds],
                                                 pa.bool_()))
    units = pa.table({"channel": pa.array(list(_MAIN_WH), pa.uint16()),
                      "wh": pa.array(list(_MAIN_WH.values()), pa.int64())})
    counted = int(Quality.VALIDATED)
    imports = ", ".join(map(str, _IMPORT_WH))
    exports = ", ".join(map(str, _EXPORT_WH))
    sub_channels = f"{SUB_CHANNEL}, {SUB_CHANNEL_REVERSE}"
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
                      AND ((m.quality & {counted}) <> 0 OR m.channel IN ({sub_channels}))
                ),
                sub AS (
                    SELECT s.main_meter_id AS meter_id, d.interval_end,
                           sum(d.wh) FILTER (WHERE (d.channel = {SUB_CHANNEL} AND s.generates)
                               OR (d.channel = {SUB_CHANNEL_REVERSE} AND s.stores)) AS gen_wh,
                           sum(d.wh) FILTER (WHERE NOT ((d.channel = {SUB_CHANNEL}
                               AND s.generates) OR (d.channel = {SUB_CHANNEL_REVERSE}
                               AND s.stores))) AS use_wh,
                           bool_or(s.generates OR s.stores) AS has_generation
                    FROM data d JOIN _subs s ON s.sub_meter_id = d.meter_id
                    WHERE d.channel IN ({sub_channels}) GROUP BY ALL
                ),
                main AS (
                    SELECT d.meter_id, d.interval_end,
                           sum(d.wh) FILTER (WHERE d.channel IN ({imports})) AS main_wh,
                           coalesce(sum(d.wh) FILTER (WHERE d.channel IN ({exports})), 0)
                               AS main_export_wh
                    FROM data d
                    WHERE d.channel NOT IN ({sub_channels})
                      AND d.meter_id IN (SELECT main_meter_id FROM _subs)
                    GROUP BY ALL HAVING main_wh IS NOT NULL
                ),
                joined AS (
                    SELECT coalesce(main.meter_id, sub.meter_id) AS main_meter_id,
                           coalesce(main.interval_end, sub.interval_end) AS interval_end,
                           main.main_wh::BIGINT AS main_wh,
                           coalesce(main.main_export_wh, 0)::BIGINT AS main_export_wh,
                           coalesce(sub.use_wh, 0)::BIGINT AS sub_wh,
                           coalesce(sub.gen_wh, 0)::BIGINT AS sub_generation_wh,
                           coalesce(sub.has_generation, FALSE) AS has_generation,
                           sub.meter_id IS NOT NULL AS has_sub
                    FROM main FULL OUTER JOIN sub
                      ON main.meter_id = sub.meter_id AND main.interval_end = sub.interval_end
                )
                SELECT main_meter_id, interval_end, main_wh, main_export_wh, sub_wh,
                       sub_generation_wh,
                       CASE WHEN main_wh IS NULL THEN NULL
                            ELSE main_wh - main_export_wh + sub_generation_wh - sub_wh
                       END::BIGINT AS net_wh,
                       main_wh IS NOT NULL AND sub_wh > main_wh + sub_generation_wh
                           AS sub_above_main,
                       main_wh IS NOT NULL AND has_generation
                           AND main_export_wh > sub_generation_wh AS export_above_generation,
                       has_sub AND (main_wh IS NULL
                           OR epoch(interval_end)::BIGINT % 1800 <> 0) AS misaligned
                FROM joined ORDER BY main_meter_id, interval_end
            """, params=[lo, hi]).to_arrow_table()
        finally:
            con.unregister("_subs")
            con.unregister("_units")
    return table
