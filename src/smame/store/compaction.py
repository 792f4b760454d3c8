"""Compaction: many small files of a day or month become few, sorted, every version kept.

Streaming ingest writes one file per batch; queries want few, large, sorted files.
Compaction rewrites a partition's files and swaps them in the catalog in one
transaction; the old files are deleted once no reader uses them. A large partition
(a month of a national fleet) is written as several files, each holding a range of
meters of at most :data:`BUCKET_ROWS` rows, read through the row-group index: memory
stays bounded, and one meter's month is still in one file.

A shared ingest file (IMD and measurements in one file) is compacted into each kind's
file with that kind's columns; it leaves the kind's catalog entries, and is deleted once
neither kind names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smame.store.layout import (
    IMD,
    INGEST,
    KINDS,
    MEAS,
    NOT_RECEIVED,
    RECEIVED_QUALITY,
    as_kind,
    is_shared,
)
from smame.store.measurements import MeasurementStore

__all__ = ["BUCKET_ROWS", "CompactResult", "compact", "compact_shared"]

BUCKET_ROWS = 1 << 24
"""Most rows of one compacted file (about 0.7 GB in memory while it is built)."""


@dataclass(frozen=True)
class CompactResult:
    kind: str
    files_before: int
    files_after: int
    rows: int
    bytes_before: int
    bytes_after: int


def compact(store: MeasurementStore, kind: str, first: date, last: date, month: bool = False
            ) -> CompactResult:
    """Merge all ``kind`` files of days ``first``..``last`` into one file per day
    (or, with ``month``, one file for the range, which must lie within one month)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if month and (first.year, first.month) != (last.year, last.month):
        raise ValueError("a month compaction covers days of one month")
    with store.write_lock:
        rows = store.con.execute(
            "SELECT path, version, bytes, rows, day FROM files WHERE kind = ? "
            "AND day BETWEEN ? AND ? ORDER BY day, version", [kind, first, last]).fetchall()
        groups: dict[date, list[tuple]] = {}
        for row in rows:
            groups.setdefault(first if month else row[4], []).append(row)
        before = after = total_rows = bytes_before = bytes_after = 0
        for files in groups.values():
            before += len(files)
            bytes_before += sum(f[2] for f in files)
            total_rows += sum(f[3] for f in files)
            if len(files) < 2:
                after += len(files)
                bytes_after += sum(f[2] for f in files)
                continue
            newest = max(f[1] for f in files)
            paths = [f[0] for f in files]
            buckets = _meter_buckets(store.con, paths, sum(f[3] for f in files))
            infos = []
            try:
                for number, (lo, hi) in enumerate(buckets):
                    if len(buckets) == 1:
                        parts = [pq.read_table(store.root / p) for p in paths]
                    else:
                        parts = [store.read_meter_range(p, lo, hi) for p in paths]
                    parts = [as_kind(t, kind) for t in parts if t.num_rows]
                    if not parts:
                        continue
                    table = pa.concat_tables(parts, promote_options="default")
                    del parts
                    infos += store.stage(kind, newest, table, compacted=True, month=month,
                                         part=None if len(buckets) == 1 else number)
            except BaseException:
                store.discard(infos)
                raise
            store.commit(infos, _nothing, retire=paths, retire_kind=kind)
            after += len(infos)
            bytes_after += sum(i.bytes for i in infos)
    return CompactResult(kind, before, after, total_rows, bytes_before, bytes_after)


def _meter_buckets(con: duckdb.DuckDBPyConnection, paths: list[str], rows: int
                   ) -> list[tuple[int, int]]:
    """Meter ranges (inclusive) that split ``rows`` rows of ``paths`` into buckets of at most
    about :data:`BUCKET_ROWS`, from the row-group zone maps."""
    full = (-(2**63), 2**63 - 1)
    if rows <= BUCKET_ROWS:
        return [full]
    groups = con.execute(
        "SELECT min_meter, sum(rows) FROM row_groups WHERE list_contains(?, path) "
        "GROUP BY min_meter ORDER BY min_meter", [paths]).fetchall()
    cuts: list[int] = []
    filled = 0
    for meter, count in groups:
        if filled + count > BUCKET_ROWS and filled and (not cuts or meter > cuts[-1]):
            cuts.append(int(meter))
            filled = 0
        filled += int(count)
    bounds = [full[0], *cuts, full[1] + 1]
    return [(bounds[k], bounds[k + 1] - 1) for k in range(len(bounds) - 1)]


def _nothing(con: duckdb.DuckDBPyConnection) -> None:
    return None


def compact_shared(store: MeasurementStore, day: date) -> list[CompactResult] | None:
    """Compact a day whose IMD files are all shared ingest files into one shared file:
    the measurements with, beside them, the received quality of the rows that are the
    IMD copy (:data:`NOT_RECEIVED` on estimates and edits), listed under both kinds.

    The store then holds the day's raw copy and its measurements in one file, as ingest
    does, instead of two. Returns None when the day does not qualify (an IMD file that
    is not shared, a month-sized day, nothing to merge), for :func:`compact` to do.
    """
    with store.write_lock:
        rows = store.con.execute(
            "SELECT path, kind, version, bytes, rows FROM files WHERE day = ? "
            "ORDER BY version, path", [day]).fetchall()
        imd = {r[0] for r in rows if r[1] == IMD}
        meas = [r for r in rows if r[1] == MEAS]
        paths = [r[0] for r in meas]
        if (not imd or not imd <= set(paths) or not all(is_shared(p) for p in imd)
                or len(paths) < 2 or sum(r[4] for r in meas) > BUCKET_ROWS):
            return None
        parts = []
        for path in paths:
            table = pq.read_table(store.root / path)
            if RECEIVED_QUALITY not in table.schema.names:
                table = table.append_column(
                    pa.field(RECEIVED_QUALITY, pa.uint16()),
                    pa.array(np.full(table.num_rows, NOT_RECEIVED, np.uint16)))
            parts.append(table.select(_SHARED_COLUMNS))
        table = pa.concat_tables(parts, promote_options="default")
        newest = max(r[2] for r in meas)
        infos = store.stage(INGEST, newest, table, compacted=True)
        store.commit(infos, _nothing, retire=paths)
        after = sum(i.bytes for i in infos)
        before = [len(imd), len(paths)]
        sizes = {r[0]: r[3] for r in rows}
        imd_rows = sum(r[4] for r in rows if r[1] == IMD)
        return [CompactResult(IMD, before[0], len(infos), imd_rows,
                              sum(sizes[p] for p in imd), after),
                CompactResult(MEAS, before[1], len(infos), table.num_rows,
                              sum(r[3] for r in meas), after)]


_SHARED_COLUMNS = ["meter_id", "interval_end", "channel", "value", "quality", "source",
                   "reasons", RECEIVED_QUALITY, "version"]
