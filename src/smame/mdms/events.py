"""Meter events the MDMS keeps: spans when a meter was off supply or disconnected (SPEC M6, M8).

Events arrive as :data:`smame.meter.events.EVENT_SCHEMA` tables. VEE uses the spans
between POWER_DOWN and POWER_RESTORED, and between DISCONNECTED and RECONNECTED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from smame.meter.events import EVENT_SCHEMA, EventKind
from smame.store.catalog import scalar

__all__ = ["OffSpans", "insert_events", "off_spans", "outage_spans", "select_events"]

OUTAGE, DISCONNECT = 1, 2
_OPEN = {EventKind.POWER_DOWN: OUTAGE, EventKind.DISCONNECTED: DISCONNECT}
_CLOSE = {EventKind.POWER_RESTORED: OUTAGE, EventKind.RECONNECTED: DISCONNECT}
FOREVER = np.iinfo(np.int64).max // 2
_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: "no upper bound" for a timestamp


@dataclass(frozen=True)
class OffSpans:
    """Spans ``[start, end)`` in POSIX seconds when a meter was off, by kind."""

    meter_id: np.ndarray
    start: np.ndarray
    end: np.ndarray
    kind: np.ndarray  # OUTAGE or DISCONNECT

    def __len__(self) -> int:
        return int(self.meter_id.size)


def insert_events(con: duckdb.DuckDBPyConnection, events: pa.Table) -> int:
    """Store events not stored yet (idempotent); return how many were new."""
    events = events.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
    con.register("_events_in", events)
    try:
        before = scalar(con, "SELECT count(*) FROM meter_events")
        con.execute("INSERT INTO meter_events SELECT DISTINCT * FROM _events_in "
                    "EXCEPT SELECT * FROM meter_events")
        after = scalar(con, "SELECT count(*) FROM meter_events")
    finally:
        con.unregister("_events_in")
    return int(after - before)


def off_spans(con: duckdb.DuckDBPyConnection, meter_lo: int, meter_hi: int, t_lo: int,
              t_hi: int) -> OffSpans:
    """Off spans of meters in ``[meter_lo, meter_hi]`` that overlap ``[t_lo, t_hi]``."""
    return _spans(_span_events(con, meter_lo, meter_hi, t_hi), t_lo)


def _span_events(con: duckdb.DuckDBPyConnection, meter_lo: int, meter_hi: int, t_hi: int
                 ) -> list[tuple[int, int, int, str]]:
    """Opening and closing events up to ``t_hi`` (meter, time, kind, what closed it),
    restores inferred from reads (``inferred_restores``) among them."""
    kinds = [int(k) for k in (*_OPEN, *_CLOSE)]
    return con.execute(
        "SELECT meter_id, epoch(time)::BIGINT AS t, kind::INTEGER AS kind, 'event' AS why "
        "FROM meter_events WHERE meter_id BETWEEN ? AND ? AND time <= to_timestamp(?) "
        "AND list_contains(?, kind::INTEGER) "
        f"UNION ALL SELECT meter_id, epoch(time)::BIGINT, {int(EventKind.POWER_RESTORED)}, "
        "reason FROM inferred_restores WHERE meter_id BETWEEN ? AND ? "
        "AND time <= to_timestamp(?) ORDER BY meter_id, t, kind, why",
        [int(meter_lo), int(meter_hi), int(t_hi), kinds, int(meter_lo), int(meter_hi),
         int(t_hi)]).fetchall()


def _spans(rows: list[tuple[int, int, int, str]], t_lo: int, closers: list[str] | None = None
           ) -> OffSpans:
    """Spans from time-ordered events; with ``closers``, what closed each span is appended
    to it ("open" for a span still open)."""
    meters, starts, ends, span_kinds = [], [], [], []
    open_at: dict[tuple[int, int], int] = {}
    for meter, t, kind, why in rows:
        event = EventKind(kind)
        if event in _OPEN:
            open_at.setdefault((meter, _OPEN[event]), t)
        else:
            began = open_at.pop((meter, _CLOSE[event]), None)
            if began is not None and t >= t_lo:
                meters.append(meter)
                starts.append(began)
                ends.append(t)
                span_kinds.append(_CLOSE[event])
                if closers is not None:
                    closers.append(why)
    for (meter, kind), began in open_at.items():
        meters.append(meter)
        starts.append(began)
        ends.append(FOREVER)
        span_kinds.append(kind)
        if closers is not None:
            closers.append("open")
    return OffSpans(np.array(meters, np.int64), np.array(starts, np.int64),
                    np.array(ends, np.int64), np.array(span_kinds, np.int8))


def outage_spans(con: duckdb.DuckDBPyConnection, meter_ids: Sequence[int] | None,
                 lo: int | None, hi: int | None) -> pa.Table:
    """Off spans overlapping ``[lo, hi]`` (POSIX s, None unbounded) of ``meter_ids`` (all
    if None): meter_id, start, end (null while open), kind (``outage``/``disconnect``)
    and ``closed_by`` (``event``, ``inferred_energy``, ``inferred_register``,
    ``inferred_instant`` or ``open``), ordered by meter and start."""
    closers: list[str] = []
    spans = _spans(_span_events(con, -FOREVER, FOREVER, _LAST_SECOND if hi is None else hi),
                   -FOREVER if lo is None else int(lo), closers)
    keep = np.ones(len(spans), np.bool_)
    if meter_ids is not None:
        keep &= np.isin(spans.meter_id, np.asarray(list(meter_ids), np.int64))
    if lo is not None:
        keep &= spans.end >= int(lo)
    order = np.lexsort((spans.start, spans.meter_id))
    order = order[keep[order]]
    end = spans.end[order]
    return pa.table({
        "meter_id": pa.array(spans.meter_id[order], pa.int64()),
        "start": pa.array(spans.start[order], pa.int64()),
        "end": pa.array(end, pa.int64(), mask=end == FOREVER),
        "kind": pa.array(["outage" if k == OUTAGE else "disconnect"
                          for k in spans.kind[order]], pa.string()),
        "closed_by": pa.array([closers[i] for i in order], pa.string()),
    })


def select_events(con: duckdb.DuckDBPyConnection, meter_ids: Sequence[int] | None,
                  lo: int | None, hi: int | None, kinds: Sequence[int] | None = None
                  ) -> pa.Table:
    """Stored events (meter_id, time as POSIX s, kind, value, reference), time-ordered;
    ``lo``/``hi`` bound the time inclusively, ``None`` meaning unbounded (SPEC S8, S14)."""
    where, params = ["TRUE"], []
    if meter_ids is not None:
        where.append("list_contains(?, meter_id)")
        params.append([int(m) for m in meter_ids])
    if lo is not None:
        where.append("time >= to_timestamp(?)")
        params.append(int(lo))
    if hi is not None:
        where.append("time <= to_timestamp(?)")
        params.append(int(hi))
    if kinds is not None:
        where.append("list_contains(?, kind::INTEGER)")
        params.append([int(k) for k in kinds])
    result = con.sql(
        "SELECT meter_id, epoch(time)::BIGINT AS time, kind::INTEGER AS kind, value, "
        f"reference FROM meter_events WHERE {' AND '.join(where)} "
        "ORDER BY time, meter_id, kind", params=params).to_arrow_table()
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result
