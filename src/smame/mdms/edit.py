"""Manual editing of measurements: a new version carrying the user and the reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from smame.clock import to_epoch
from smame.mdms.vee.reasons import Reason
from smame.readings import Quality, Source, channel_info
from smame.store.layout import MEAS
from smame.store.measurements import MeasurementStore, ts_seconds

__all__ = ["EditError", "edit_values"]

_TS = pa.timestamp("s", tz="UTC")


class EditError(ValueError):
    """An edit is refused (no user, no reason, unknown channel)."""


def _seconds(moment: datetime | int | Sequence[int]) -> np.ndarray:
    if isinstance(moment, datetime):
        return np.array([int(to_epoch(moment))], np.int64)
    return np.atleast_1d(np.asarray(moment, np.int64))


def edit_values(store: MeasurementStore, meter_id, channel, interval_end, value, user: str,
                reason: str) -> int:
    """Write edited values as a new version; the versions they replace stay stored."""
    if not user or not user.strip():
        raise EditError("an edit needs the user who makes it")
    if not reason or not reason.strip():
        raise EditError("an edit needs a reason")
    t = _seconds(interval_end)
    meters = np.atleast_1d(np.asarray(meter_id, np.int64))
    channels = np.atleast_1d(np.asarray(channel, np.uint16))
    values = np.atleast_1d(np.asarray(value, np.int64))
    n = max(t.size, meters.size, channels.size, values.size)
    t, meters, channels, values = (np.broadcast_to(a, n).copy() for a in
                                   (t, meters, channels, values))
    for code in np.unique(channels):
        channel_info(int(code))
    table = pa.table({
        "meter_id": pa.array(meters, pa.int64()),
        "interval_end": pa.array(t).view(_TS),
        "channel": pa.array(channels, pa.uint16()),
        "value": pa.array(values, pa.int64()),
        "quality": pa.array(np.full(n, Quality.EDITED | Quality.VALIDATED, np.uint16)),
        "source": pa.array(np.full(n, Source.MANUAL, np.uint8)),
        "reasons": pa.array(np.full(n, Reason.EDITED, np.uint32)),
    })
    with store.write_lock:
        con = store.con
        version = store.new_version()
        previous = _current_versions(store, con, table)
        infos = store.stage(MEAS, version, table)

        def work(c: duckdb.DuckDBPyConnection) -> None:
            c.execute("INSERT INTO versions (version, kind, committed_at, rows_new, validated, "
                      "user_name, reason) VALUES (?, 'edit', ?, ?, TRUE, ?, ?)",
                      [version, store.now(), n, user, reason])
            c.execute("INSERT INTO edits VALUES (?, ?, ?, ?)", [version, user, reason, n])
            if previous.num_rows:
                c.register("_edit_prev", previous)
                c.execute("INSERT INTO superseded SELECT meter_id, channel, interval_end, "
                          "version, ? FROM _edit_prev", [version])
                c.unregister("_edit_prev")

        store.commit(infos, work)
    return version


def _current_versions(store: MeasurementStore, con: duckdb.DuckDBPyConnection,
                      table: pa.Table) -> pa.Table:
    t = ts_seconds(table.column("interval_end"))
    paths = store.file_paths(con, MEAS, int(t.min()), int(t.max()))
    if not paths:
        return pa.table({"meter_id": [], "channel": [], "interval_end": [], "version": []})
    relation = store.scan_sql(paths, True, store.has_superseded(con))
    con.register("_edit_keys", table)
    try:
        return con.sql(f"SELECT m.meter_id, m.channel, m.interval_end, m.version FROM {relation} m"
                       " JOIN _edit_keys k ON m.meter_id = k.meter_id AND m.channel = k.channel"
                       " AND m.interval_end = k.interval_end").to_arrow_table()
    finally:
        con.unregister("_edit_keys")
