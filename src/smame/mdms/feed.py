"""The change feed: what changed since a cursor, for retailers and consented third parties.

Data users should not re-poll whole days. A cursor is a version number (0: from the
start); :func:`change_feed` returns the current values written by the versions after it,
each with what it replaced, and the cursor to ask from next time. Reading happens in one
catalog snapshot, so a batch is reported whole or not at all, and a value that lost to a
better version (precedence) is not reported: the current value did not change.

Kinds of change: ``new`` (the key had no value), ``estimate_replaced`` (an actual replaced
an estimate), ``revised`` (an actual replaced an actual), ``re_estimated`` (an estimate
replaced an estimate or a failed value), ``edited`` (a manual edit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from smame.readings import Source
from smame.store.catalog import scalar
from smame.store.layout import MEAS
from smame.store.measurements import MeasurementStore

__all__ = ["ChangeFeed", "change_feed"]


@dataclass(frozen=True)
class ChangeFeed:
    """Changes after ``since`` up to ``cursor`` (the version to pass next time)."""

    since: int
    cursor: int
    changes: pa.Table  # measurement columns + change, previous_version, previous_kind


def change_feed(store: MeasurementStore, since: int, meter_ids: Sequence[int] | None = None,
                channels: Sequence[int] | None = None, until: int | None = None
                ) -> ChangeFeed:
    """Current values of versions in ``(since, until]`` (``until`` default: the newest),
    of ``meter_ids`` and ``channels`` (all if None), with what each replaced."""
    if since < 0:
        raise ValueError(f"a change feed cursor is a version number >= 0, not {since}")
    with store.reader() as con:
        newest = int(scalar(con, "SELECT coalesce(max(version), 0) FROM versions"))
        cursor = newest if until is None else min(int(until), newest)
        table = _changes(store, con, int(since), cursor, meter_ids, channels)
    return ChangeFeed(int(since), max(cursor, int(since)), table)


def _changes(store: MeasurementStore, con: duckdb.DuckDBPyConnection, since: int, until: int,
             meter_ids: Sequence[int] | None, channels: Sequence[int] | None) -> pa.Table:
    paths = [str(store.root / r[0]) for r in con.execute(
        "SELECT DISTINCT path FROM files WHERE kind = ? AND version > ? ORDER BY path",
        [MEAS, since]).fetchall()]
    relation = store.scan_sql(paths, True, store.has_superseded(con))
    where = ["m.version > ?", "m.version <= ?"]
    if meter_ids is not None:
        where.append(f"m.meter_id IN ({', '.join(str(int(m)) for m in meter_ids) or 'NULL'})")
    if channels is not None:
        where.append(f"m.channel IN ({', '.join(str(int(c)) for c in channels) or 'NULL'})")
    actual = f"m.source NOT IN ({int(Source.ESTIMATION)}, {int(Source.MANUAL)})"
    table = con.sql(f"""
        WITH current AS (SELECT m.* FROM {relation} m WHERE {' AND '.join(where)}),
        previous AS (
            SELECT s.meter_id, s.channel, s.interval_end, s.by_version,
                   max(s.version) AS previous_version
            FROM superseded s JOIN current m ON s.meter_id = m.meter_id
             AND s.channel = m.channel AND s.interval_end = m.interval_end
             AND s.by_version = m.version AND s.version < s.by_version
            GROUP BY ALL
        )
        SELECT m.*, p.previous_version, v.kind AS previous_kind,
               CASE WHEN p.previous_version IS NULL THEN 'new'
                    WHEN m.source = {int(Source.MANUAL)} THEN 'edited'
                    WHEN {actual} AND v.kind = 'estimate' THEN 'estimate_replaced'
                    WHEN {actual} THEN 'revised'
                    ELSE 're_estimated' END AS change
        FROM current m
        LEFT JOIN previous p ON p.meter_id = m.meter_id AND p.channel = m.channel
         AND p.interval_end = m.interval_end AND p.by_version = m.version
        LEFT JOIN versions v ON v.version = p.previous_version
        ORDER BY m.version, m.meter_id, m.channel, m.interval_end
    """, params=[since, until]).to_arrow_table()
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table
