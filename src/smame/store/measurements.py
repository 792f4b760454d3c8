"""The measurement store: immutable Parquet files named by a DuckDB catalog.

One writer at a time (a lock), any number of readers. A writer stages files, then
commits them with its catalog rows in one DuckDB transaction; only then are they part
of the store. Readers take a :meth:`MeasurementStore.reader` snapshot: a catalog
transaction whose file list stays readable until the reader closes, because files that
compaction or retention retire are only deleted once no reader is open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smame.clock import Clock, WallClock
from smame.store.catalog import connect, scalar
from smame.store.layout import (
    COMPACT_ROW_GROUP_ROWS,
    DIRECTORIES,
    IMD,
    INGEST,
    MEAS,
    NOT_RECEIVED,
    ROW_GROUP_ROWS,
    RowGroup,
    as_kind,
    day_of,
    epoch_day,
    file_name,
    fsync_dir,
    is_shared,
    partition_dir,
    row_groups,
    write_parquet,
)

__all__ = ["FileInfo", "MeasurementStore", "channels_present", "sort_readings", "ts_seconds"]


def ts_seconds(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp column as int64 POSIX seconds."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_timestamp(column.type) and column.type.unit != "s":
        column = column.cast(pa.timestamp("s", tz="UTC"))
    return column.view(pa.int64()).to_numpy(zero_copy_only=False) if pa.types.is_timestamp(
        column.type) else column.to_numpy(zero_copy_only=False).astype(np.int64)


def channels_present(channel: np.ndarray) -> list[int]:
    """The distinct channel codes of a uint16 column, ascending (no sort).

    Every value starts a run of equal values, at the first row or just after a change;
    sorted readings change channel only at series starts, so only those are looked up.
    """
    if not channel.size:
        return []
    present = np.zeros(1 << 16, np.bool_)
    present[channel[np.flatnonzero(channel[1:] != channel[:-1]) + 1]] = True
    present[channel[0]] = True
    return np.flatnonzero(present).tolist()


def sort_readings(meter: np.ndarray, channel: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row order by meter, channel, interval end (stable: equal keys keep their order).

    The three columns are packed into one int64 key when their spans fit (offsets from
    the smallest meter and time, as few bits as each needs), and the key is sorted with
    a stable sort that runs in linear time over input already in order and merges the
    runs of input in another order (e.g. by time, then meter).
    """
    if meter.size == 0:
        return np.empty(0, np.intp)
    m0, t0 = int(meter.min()), int(t.min())
    t_bits = (int(t.max()) - t0).bit_length()
    c_bits = int(channel.max()).bit_length()
    if (int(meter.max()) - m0).bit_length() + c_bits + t_bits <= 63:
        key = np.subtract(meter, m0, dtype=np.int64)
        key <<= c_bits + t_bits
        part = channel.astype(np.int64)
        part <<= t_bits
        key |= part
        np.subtract(t, t0, out=part)
        key |= part
        return np.argsort(key, kind="stable")
    return np.lexsort((t, channel, meter))


@dataclass(frozen=True)
class FileInfo:
    """One staged or committed file and the zone map the catalog keeps of it."""

    path: str  # relative to the data directory
    kind: str
    day: date
    version: int
    rows: int
    bytes: int
    min_t: int
    max_t: int
    min_meter: int
    max_meter: int
    channels: list[int] = field(default_factory=list)
    groups: list[RowGroup] = field(default_factory=list)

    def catalog_rows(self) -> list[tuple]:
        """Its catalog ``files`` rows: one, or one per kind for a shared ingest file."""
        return [(self.path, kind, self.day, self.version, self.rows, self.bytes, self.min_t,
                 self.max_t, self.min_meter, self.max_meter, self.channels)
                for kind in ((IMD, MEAS) if self.kind == INGEST else (self.kind,))]


_FILES_SCHEMA = pa.schema([
    ("path", pa.string()), ("kind", pa.string()), ("day", pa.date32()),
    ("version", pa.int64()), ("rows", pa.int64()), ("bytes", pa.int64()),
    ("min_t", pa.int64()), ("max_t", pa.int64()), ("min_meter", pa.int64()),
    ("max_meter", pa.int64()), ("channels", pa.list_(pa.uint16())),
])
_FILE_COLUMNS = _FILES_SCHEMA.names

_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smame-read")
"""Reads the row groups of a point query side by side (Parquet decoding releases the GIL)."""


def _unlink(paths: list[Path]) -> None:
    """Delete retired files, and their partition directories once empty."""
    for path in paths:
        path.unlink(missing_ok=True)
    for directory in {p.parent for p in paths}:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _no_fault(step: str) -> None:
    return None


class MeasurementStore:
    """IMD and measurement files under ``root``, with their catalog."""

    def __init__(self, root: Path | str, clock: Clock | None = None) -> None:
        self.root = Path(root)
        self.clock = clock or WallClock()
        self.con = connect(self.root)
        self.write_lock = threading.RLock()
        self._readers = 0
        self._reader_lock = threading.Lock()
        self._doomed: list[Path] = []
        self._parquet_files: dict[str, pq.ParquetFile] = {}
        self._generation = 0  # commits by this process: caches key on it
        self._superseded: tuple[int, bool] | None = None
        self.fault: Callable[[str], None] = _no_fault
        """Called at each step of a commit ("staged", "in_transaction", "committed"):
        crash tests kill the process there."""
        self._recover()
        self._last_version = int(scalar(self.con, "SELECT coalesce(max(version), 0) FROM versions"))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self.con.close()

    def _recover(self) -> None:
        """Remove files no committed catalog row names: debris of an interrupted write."""
        known = {row[0] for row in self.con.execute("SELECT path FROM files").fetchall()}
        for kind in DIRECTORIES:
            base = self.root / kind
            if not base.exists():
                continue
            for path in base.rglob("*"):
                if path.is_file() and str(path.relative_to(self.root)) not in known:
                    path.unlink()
            for directory in sorted([*base.glob("date=*"), *base.glob("month=*")]):
                if directory.is_dir() and not any(directory.iterdir()):
                    directory.rmdir()

    # ------------------------------------------------------------------ versions

    def new_version(self) -> int:
        """Reserve the next version number (call with :attr:`write_lock` held)."""
        self._last_version += 1
        return self._last_version

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    # ------------------------------------------------------------------ writing

    def stage(self, kind: str, version: int, table: pa.Table, compacted: bool = False,
              presorted: bool = False, month: bool = False, name_version: int | None = None,
              part: int | None = None) -> list[FileInfo]:
        """Write ``table`` as files of ``version``, one per JST day, sorted for compression.

        ``table`` has the kind's schema without the version column (``kind`` may be
        :data:`INGEST`: a shared file, committed as both IMD and measurement file); nothing
        is visible until :meth:`commit`. ``presorted`` skips sorting rows already in that order;
        ``month`` writes one file for a whole month (compaction); ``name_version`` names
        the file by another version than the one the catalog records for it; ``part``
        numbers one of several files of the same version and partition.
        """
        if table.num_rows == 0:
            return []
        meter = table.column("meter_id").to_numpy()
        channel = table.column("channel").to_numpy()
        t = ts_seconds(table.column("interval_end"))
        t_min, t_max = int(t.min()), int(t.max())
        first, last = (int(d) for d in epoch_day(np.array([t_min, t_max])))
        if month:
            first = last = (day_of(first).replace(day=1) - day_of(0)).days
        if "version" not in table.schema.names:
            table = table.append_column(
                pa.field("version", pa.int64(), nullable=False),
                pa.array(np.full(table.num_rows, version, np.int64)))
        if first == last:
            # The common case: one day, often already sorted; views, no index arrays.
            order = None if presorted else sort_readings(meter, channel, t)
            if order is not None and bool(np.all(order[1:] > order[:-1])):
                order = None
            parts = [(first, order)]
        else:
            days = epoch_day(t)
            parts = []
            for d in np.unique(days):
                rows = np.flatnonzero(days == d)
                parts.append((int(d), rows if presorted else rows[
                    sort_readings(meter[rows], channel[rows], t[rows])]))
        infos: list[FileInfo] = []
        try:
            for day_number, order in parts:
                infos.append(self._stage_part(kind, version, table, meter, channel, t, order,
                                              day_of(day_number), compacted, month,
                                              name_version, part))
        except BaseException:
            self.discard(infos)  # what this call wrote: the caller never sees it
            raise
        return infos

    def _stage_part(self, kind: str, version: int, table: pa.Table, meter: np.ndarray,
                    channel: np.ndarray, t: np.ndarray, order: np.ndarray | None, day: date,
                    compacted: bool, month: bool, name_version: int | None,
                    part: int | None) -> FileInfo:
        """Write one day's file of :meth:`stage` (``order``: its rows, sorted; None: all)."""
        if order is None:
            piece, m, c, tt = table, meter, channel, t
        else:
            piece = table.take(pa.array(order))
            m, c, tt = meter[order], channel[order], t[order]
        directory = partition_dir(self.root, kind, day, month)
        path = directory / file_name(version if name_version is None else name_version,
                                     compacted, part)
        group_rows = COMPACT_ROW_GROUP_ROWS if compacted else ROW_GROUP_ROWS
        size = write_parquet(piece, path, group_rows, small=compacted)
        return FileInfo(
            str(path.relative_to(self.root)), kind, day, version, int(m.size), size,
            int(tt.min()), int(tt.max()), int(m.min()), int(m.max()),
            channels_present(c), row_groups(m, tt, group_rows))

    def discard(self, infos: Sequence[FileInfo]) -> None:
        """Delete staged files that will not be committed."""
        for info in infos:
            (self.root / info.path).unlink(missing_ok=True)

    def commit(
        self,
        infos: Sequence[FileInfo],
        work: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        retire: Sequence[str] = (),
        retire_kind: str | None = None,
    ) -> None:
        """Make staged files part of the store, with ``work``'s catalog changes, atomically.

        ``retire`` names committed files to drop from the catalog in the same transaction
        (compaction, retention): from ``retire_kind``'s files only, when given (a shared
        ingest file stays in the other kind). Files no kind names any more are deleted
        from disk once no reader needs them. On any failure the transaction is rolled
        back and the staged files deleted.
        """
        for directory in {(self.root / i.path).parent for i in infos}:
            fsync_dir(directory)
        self.fault("staged")
        con = self.con
        try:
            con.execute("BEGIN TRANSACTION")
            gone: list[str] = []
            if infos:
                rows = [row for i in infos for row in i.catalog_rows()]
                con.register("_files", pa.table(
                    dict(zip(_FILE_COLUMNS, map(list, zip(*rows, strict=True)), strict=True)),
                    schema=_FILES_SCHEMA))
                con.execute("INSERT INTO files SELECT * FROM _files")
                con.unregister("_files")
                groups = [(i.path, *g) for i in infos for g in i.groups]
                if groups:
                    con.register("_groups", pa.table(
                        dict(zip(("path", "rg", "rows", "min_meter", "max_meter", "min_t",
                                  "max_t"), map(list, zip(*groups, strict=True)), strict=True))))
                    con.execute("INSERT INTO row_groups SELECT * FROM _groups")
                    con.unregister("_groups")
            if retire:
                if retire_kind is None:
                    con.execute("DELETE FROM files WHERE list_contains(?, path)",
                                [list(retire)])
                else:
                    con.execute("DELETE FROM files WHERE list_contains(?, path) AND kind = ?",
                                [list(retire), retire_kind])
                named = {r[0] for r in con.execute(
                    "SELECT DISTINCT path FROM files WHERE list_contains(?, path)",
                    [list(retire)]).fetchall()}
                gone = [p for p in retire if p not in named]
                if gone:
                    con.execute("DELETE FROM row_groups WHERE list_contains(?, path)", [gone])
            if work is not None:
                work(con)
            self.fault("in_transaction")
            con.execute("COMMIT")
            self._generation += 1
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            self.discard(infos)
            raise
        self.fault("committed")
        if gone:
            self._delete_when_unread([self.root / p for p in gone])

    def _delete_when_unread(self, paths: list[Path]) -> None:
        for path in paths:
            self._parquet_files.pop(str(path), None)
        with self._reader_lock:
            self._doomed.extend(paths)
            if self._readers:
                return
            doomed, self._doomed = self._doomed, []
        _unlink(doomed)

    # ------------------------------------------------------------------ reading

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A consistent snapshot: a catalog transaction whose files stay on disk."""
        with self._reader_lock:
            self._readers += 1
        cursor = self.con.cursor()
        try:
            cursor.execute("BEGIN TRANSACTION")
            yield cursor
        finally:
            with contextlib.suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
            cursor.close()
            with self._reader_lock:
                self._readers -= 1
                doomed = [] if self._readers else self._doomed
                if not self._readers:
                    self._doomed = []
            _unlink(doomed)

    def file_paths(
        self,
        con: duckdb.DuckDBPyConnection,
        kind: str,
        start: int | None = None,
        end: int | None = None,
        meters: tuple[int, int] | None = None,
        channels: Sequence[int] | None = None,
    ) -> list[str]:
        """Absolute paths of committed files that may hold rows in the given ranges.

        ``start``/``end`` bound interval ends in POSIX seconds, inclusive.
        """
        sql = ["SELECT path FROM files WHERE kind = ?"]
        params: list = [kind]
        if start is not None:
            sql.append("AND max_t >= ?")
            params.append(int(start))
        if end is not None:
            sql.append("AND min_t <= ?")
            params.append(int(end))
        if meters is not None:
            sql.append("AND max_meter >= ? AND min_meter <= ?")
            params += [int(meters[0]), int(meters[1])]
        if channels is not None:
            sql.append("AND len(list_intersect(channels, ?::USMALLINT[])) > 0")
            params.append([int(c) for c in channels])
        sql.append("ORDER BY day, version")
        rows = con.execute(" ".join(sql), params).fetchall()
        return [str(self.root / r[0]) for r in rows]

    def current(self, con: duckdb.DuckDBPyConnection, start: int | None, end: int | None,
                channels: Sequence[int] | None = None) -> str:
        """SQL relation of the current measurements (superseded versions dropped) in the
        files that may hold interval ends in [``start``, ``end``] of ``channels``."""
        paths = self.file_paths(con, MEAS, start, end, None, channels)
        return self.scan_sql(paths, True, self.has_superseded(con))

    def read_meter(self, con: duckdb.DuckDBPyConnection, kind: str, meter_id: int,
                   start: int | None, end: int | None, channels: Sequence[int] | None
                   ) -> pa.Table:
        """All stored rows of one meter, read from just the row groups that hold them.

        The point query of the store: the catalog's row-group zone map names the groups,
        and Parquet footers stay parsed in memory, so one meter's year is a dozen small
        reads rather than a scan.
        """
        sql = ("SELECT path, rg FROM row_groups WHERE min_meter <= ? AND max_meter >= ? "
               "AND (starts_with(path, ?) OR starts_with(path, ?))")
        params: list = [int(meter_id), int(meter_id), f"{kind}/", f"{INGEST}/"]
        if start is not None:
            sql += " AND max_t >= ?"
            params.append(int(start))
        if end is not None:
            sql += " AND min_t <= ?"
            params.append(int(end))
        located: dict[str, list[int]] = {}
        for path, group in con.execute(sql, params).fetchall():
            located.setdefault(path, []).append(group)
        wanted = None if channels is None else pa.array(list(channels), pa.uint16())

        def read(item: tuple[str, list[int]]) -> pa.Table:
            handle = self._parquet_file(str(self.root / item[0]))
            part = as_kind(handle.read_row_groups(item[1], use_threads=False), kind)
            mask = pc.equal(part.column("meter_id"), meter_id)
            if wanted is not None:
                mask = pc.and_(mask, pc.is_in(part.column("channel"), wanted))
            return part.filter(mask)

        items = sorted(located.items())
        parts = list(_READERS.map(read, items)) if len(items) > 1 else [read(i) for i in items]
        if not parts:
            return pa.table({})
        table = pa.concat_tables(parts, promote_options="default")
        seconds = ts_seconds(table.column("interval_end"))
        keep = np.ones(seconds.size, np.bool_)
        if start is not None:
            keep &= seconds >= start
        if end is not None:
            keep &= seconds <= end
        return table if keep.all() else table.filter(pa.array(keep))

    def read_meter_range(self, path: str, lo: int, hi: int) -> pa.Table:
        """Rows of meters ``lo``..``hi`` of one committed file, by its row-group index
        (all the file's columns: see :func:`as_kind`)."""
        with self.reader() as cursor:  # never the writers' connection: it may be busy
            groups = [r[0] for r in cursor.execute(
                "SELECT rg FROM row_groups WHERE path = ? AND max_meter >= ? AND min_meter <= ? "
                "ORDER BY rg", [path, int(lo), int(hi)]).fetchall()]
        if not groups:
            return pa.table({})
        part = self._parquet_file(str(self.root / path)).read_row_groups(groups)
        meters = part.column("meter_id")
        return part.filter(pc.and_(pc.greater_equal(meters, lo), pc.less_equal(meters, hi)))

    def open_files(self, con: duckdb.DuckDBPyConnection, kind: str) -> int:
        """Open every committed ``kind`` file once, parsing its footer: what a running
        service holds after its first queries, so no point query pays for it. Returns how
        many files are open (a month of 100,000 meters is 18 files of about 1,000 row
        groups; their footers take about 1 kB per row group)."""
        paths = [r[0] for r in con.execute(
            "SELECT DISTINCT path FROM files WHERE kind = ?", [kind]).fetchall()]
        for path in paths:
            self._parquet_file(str(self.root / path))
        return len(paths)

    def _parquet_file(self, path: str) -> pq.ParquetFile:
        handle = self._parquet_files.get(path)
        if handle is None:
            handle = self._parquet_files[path] = pq.ParquetFile(path, pre_buffer=False)
        return handle

    def has_superseded(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether any version has been superseded (else "current" needs no anti-join)."""
        if self._superseded is None or (not self._superseded[1]
                                        and self._superseded[0] != self._generation):
            self._superseded = (self._generation,
                                bool(scalar(con, "SELECT count(*) > 0 FROM superseded")))
        return self._superseded[1]

    @staticmethod
    def scan_sql(paths: Sequence[str], current: bool, superseded: bool, kind: str = MEAS
                 ) -> str:
        """SQL of a relation over ``kind`` files ``paths``; ``current`` drops superseded
        versions. Shared ingest files answer with ``kind``'s columns (:func:`as_kind`)."""
        if not paths:
            return ("(SELECT NULL::BIGINT AS meter_id, NULL::TIMESTAMPTZ AS interval_end, "
                    "NULL::USMALLINT AS channel, NULL::BIGINT AS value, "
                    "NULL::USMALLINT AS quality, NULL::UTINYINT AS source, "
                    "NULL::BIGINT AS version, NULL::UINTEGER AS reasons WHERE FALSE)")
        files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        relation = f"read_parquet([{files}], union_by_name = true, hive_partitioning = false)"
        if any(is_shared(p) for p in paths):
            relation = (f"(SELECT * EXCLUDE (received_quality) FROM {relation})" if kind == MEAS
                        else "(SELECT * EXCLUDE (reasons, received_quality) REPLACE "
                        f"(coalesce(received_quality, quality) AS quality) FROM {relation} "
                        f"WHERE coalesce(received_quality, 0) <> {NOT_RECEIVED})")
        if current and superseded:
            return (f"(SELECT m.* FROM {relation} m ANTI JOIN superseded s "
                    "ON m.meter_id = s.meter_id AND m.channel = s.channel "
                    "AND m.interval_end = s.interval_end AND m.version = s.version)")
        return relation

    def stored_bytes(self, kind: str | None = None) -> int:
        """Bytes of the files of ``kind`` (a shared ingest file counts for both kinds), or
        of all files (each once)."""
        sql = "SELECT coalesce(sum(bytes), 0) FROM (SELECT DISTINCT path, bytes FROM files"
        with self.reader() as cursor:
            if kind:
                return int(scalar(cursor, sql + " WHERE kind = ?)", [kind]))
            return int(scalar(cursor, sql + ")"))

    def days(self, kind: str = MEAS) -> list[date]:
        with self.reader() as cursor:
            rows = cursor.execute(
                "SELECT DISTINCT day FROM files WHERE kind = ? ORDER BY day", [kind]).fetchall()
        return [r[0] for r in rows]


