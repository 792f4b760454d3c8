"""The MDMS: ingest into the IMD, VEE, versioned measurements, and the queries on them.

:class:`Mdms` is the service object over one data directory. Every write takes the
store's write lock and commits in one catalog transaction; an acknowledged (returned)
ingest is durable and a crashed one leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from smame.clock import Clock, epoch_seconds, jst_day
from smame.mdms.close import CloseResult, close_day
from smame.mdms.edit import (
    EditApprovalRequiredError,
    EditRequest,
    approve_request,
    check_edit,
    edit_rows,
    reject_request,
    request_edit,
)
from smame.mdms.events import insert_events, off_spans, outage_spans, select_events
from smame.mdms.feed import ChangeFeed, change_feed
from smame.mdms.joint import joint_readings
from smame.mdms.parallel import POOL
from smame.mdms.restore import InferredRestores, infer_restores, record_restores
from smame.mdms.retail import retail_values
from smame.mdms.revee import queue_closed_days, queued_days
from smame.mdms.rows import batch_rows, dedupe_keys, fingerprint, rows_table
from smame.mdms.settlement import Settlement, settle
from smame.mdms.submeter import differential, read_sub_meter_feed
from smame.mdms.vee.config import VeeConfig
from smame.mdms.vee.physical import PhysicalLimits
from smame.mdms.vee.state import SeriesState
from smame.mdms.vee.validate import (
    Rows,
    Validation,
    concat_states,
    meter_parts,
    validate_rows,
)
from smame.readings import Quality, Source, validate_batch
from smame.store.catalog import scalar
from smame.store.compaction import CompactResult, compact, compact_shared
from smame.store.layout import IMD, IMD_SCHEMA, INGEST, MEAS, MEAS_SCHEMA, day_start
from smame.store.measurements import FileInfo, MeasurementStore, channels_present
from smame.store.registry import Registry
from smame.store.retention import RETENTION_YEARS, PurgeReport, purge

__all__ = ["Housekeeping", "IngestResult", "Mdms"]

_TS = pa.timestamp("s", tz="UTC")
_NOT_ACTUAL = (int(Source.ESTIMATION), int(Source.MANUAL))
POINT_QUERY_METERS = 16
"""Queries for at most this many meters read row groups directly instead of scanning."""


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did. ``version`` is None when the batch changed nothing."""

    fingerprint: str
    received: int
    stored: int  # rows written to the IMD
    unchanged: int  # rows identical to what was already received
    version: int | None = None
    duplicate_batch: bool = False
    validated: bool = False
    suspect: int = 0


@dataclass(frozen=True)
class Housekeeping:
    """What one :meth:`Mdms.housekeeping` run did."""

    validated: list[int]  # versions validated
    closed: list[date]  # days closed (or closed again from the re-VEE queue)
    compacted: list[date]
    purge: PurgeReport | None  # None: a purge already ran today


@dataclass(frozen=True)
class _Zone:
    """Bounds of a set of sorted rows (or of a superset): which files can hold their keys."""

    t_min: int
    t_max: int
    meters: tuple[int, int]
    channels: list[int]

    @classmethod
    def of(cls, rows: Rows) -> _Zone:
        if not len(rows):
            return cls(0, 0, (0, 0), [])
        return cls(int(rows.t.min()), int(rows.t.max()),
                   (int(rows.meter[0]), int(rows.meter[-1])),  # sorted by meter
                   channels_present(rows.channel))


@dataclass
class _Measured:
    infos: list[FileInfo]  # staged files: measurements, and with them the IMD copy if asked
    supersede: pa.Table | None
    state: SeriesState
    suspect: int
    restores: InferredRestores
    version: int
    zone: _Zone


class Mdms:
    """The meter data management system over the data directory ``data_dir``."""

    def __init__(self, data_dir: Path | str, clock: Clock | None = None,
                 vee: VeeConfig | None = None) -> None:
        self.store = MeasurementStore(data_dir, clock)
        self.registry = Registry.duckdb(self.store.con.cursor())
        self.vee = vee or VeeConfig()
        self._state: SeriesState | None = None

    @property
    def data_dir(self) -> Path:
        return self.store.root

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Mdms:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ ingest

    def ingest(self, batch: pa.Table, source_name: str = "", validate: bool = True
               ) -> IngestResult:
        """Store a reading batch in the IMD and, with ``validate``, its measurements.

        Idempotent: a batch already ingested, or rows identical to the newest received
        value of their key, change nothing. A different value for a stored key becomes
        a new version; the old one is kept.
        """
        batch = validate_batch(batch)
        hashing = POOL.submit(fingerprint, batch)  # hashlib releases the GIL: beside the sort
        rows = batch_rows(batch, validated=True)
        digest = hashing.result()
        received = len(rows)
        store = self.store
        with store.write_lock:
            con = store.con
            if scalar(con, "SELECT 1 FROM versions WHERE fingerprint = ?", [digest]):
                return IngestResult(digest, received, 0, received, duplicate_batch=True)
            zone = _Zone.of(rows)
            rows, unchanged = self._drop_received(con, rows, zone)
            version = store.new_version()
            if validate and len(rows):
                measured = self._measure(con, rows, version, True, zone)
                infos = measured.infos
            else:
                measured = None
                infos = store.stage(IMD, version, rows_table(rows), presorted=True)

            def work(c: duckdb.DuckDBPyConnection) -> None:
                c.execute(
                    "INSERT INTO versions (version, kind, committed_at, fingerprint, source_name,"
                    " rows_received, rows_new, rows_dropped, validated) "
                    "VALUES (?, 'ingest', ?, ?, ?, ?, ?, ?, ?)",
                    [version, store.now(), digest, source_name, received, len(rows), unchanged,
                     measured is not None or not len(rows)])
                if measured is not None:
                    self._commit_measured(c, measured)

            store.commit(infos, work)
            if measured is not None:
                self._state = self._series_state().merged(measured.state)
        return IngestResult(digest, received, len(rows), unchanged, version if len(rows) else None,
                            validated=measured is not None, suspect=measured.suspect if measured
                            else 0)

    def ingest_events(self, events: pa.Table) -> int:
        """Store meter events (outage, disconnect...) that VEE uses; idempotent."""
        with self.store.write_lock:
            return insert_events(self.store.con, events)

    def outage_spans(self, meter_ids: Sequence[int] | None = None, lo: int | None = None,
                     hi: int | None = None) -> pa.Table:
        """Outage and disconnection spans overlapping ``[lo, hi]`` (POSIX s) with what
        closed each: a restore event, a restore inferred from later reads, or still open
        (see restore.py)."""
        with self.store.reader() as con:
            return outage_spans(con, meter_ids, lo, hi)

    def warm(self) -> int:
        """Parse every measurement file's footer now rather than in the first query that
        reads it; returns the number of files."""
        with self.store.reader() as con:
            return self.store.open_files(con, MEAS)

    def events(self, meter_ids: Sequence[int] | None = None, lo: int | None = None,
               hi: int | None = None, kinds: Sequence[int] | None = None) -> pa.Table:
        """Stored meter events (outage, restore, breaker, switch, security: SPEC S8, S14)
        of ``meter_ids`` (all if None) with ``lo <= time <= hi`` (POSIX s), time-ordered."""
        with self.store.reader() as con:
            return select_events(con, meter_ids, lo, hi, kinds)

    def version_times(self, versions: Sequence[int] | np.ndarray) -> dict[int, float]:
        """When each version was committed (POSIX s, the MDMS clock): tells late data
        from timely data (SPEC S1)."""
        wanted = sorted({int(v) for v in np.asarray(versions).tolist()})
        if not wanted:
            return {}
        with self.store.reader() as con:
            rows = con.execute("SELECT version, epoch(committed_at) FROM versions "
                               "WHERE list_contains(?, version)", [wanted]).fetchall()
        return {int(v): float(t) for v, t in rows}

    def validate_pending(self) -> list[int]:
        """Validate ingested versions not validated yet, oldest first; return them."""
        store = self.store
        with store.write_lock:
            con = store.con
            pending = [r[0] for r in con.execute(
                "SELECT version FROM versions WHERE kind = 'ingest' AND NOT validated "
                "ORDER BY version").fetchall()]
            for version in pending:
                paths = [str(store.root / r[0]) for r in con.execute(
                    "SELECT path FROM files WHERE kind = ? AND version = ?",
                    [IMD, version]).fetchall()]
                rows = _read_rows(con, paths)
                measured = self._measure(con, rows, version, False, _Zone.of(rows))
                infos = measured.infos

                def work(c: duckdb.DuckDBPyConnection, m: _Measured = measured,
                         v: int = version) -> None:
                    c.execute("UPDATE versions SET validated = TRUE WHERE version = ?", [v])
                    self._commit_measured(c, m)

                store.commit(infos, work)
                self._state = self._series_state().merged(measured.state)
        return pending

    def close_day(self, day: date) -> CloseResult:
        """Estimate the day's gaps and failed values as a new version (see close.py)."""
        return close_day(self.store, self.vee, day)

    def revee_queue(self) -> list[date]:
        """Closed days that received data after they were closed, oldest first."""
        with self.store.reader() as con:
            return queued_days(con)

    def days_to_close(self) -> list[date]:
        """Days with data not closed yet, and closed days queued for re-VEE."""
        with self.store.reader() as con:
            closed = {r[0] for r in con.execute("SELECT day FROM closed_days").fetchall()}
            queued = set(queued_days(con))
        return sorted({d for d in self.store.days() if d not in closed} | queued)

    def days_to_compact(self) -> list[date]:
        """Closed days (not queued for re-VEE) with more than one file of a kind: what a
        crash between close and compaction, or late data after compaction, left."""
        with self.store.reader() as con:
            return [r[0] for r in con.execute(
                "SELECT DISTINCT f.day FROM files f JOIN closed_days c ON c.day = f.day "
                "WHERE f.day NOT IN (SELECT day FROM revee_queue) "
                "GROUP BY f.day, f.kind HAVING count(*) > 1 ORDER BY f.day").fetchall()]

    def process_revee_queue(self) -> list[CloseResult]:
        """Close every queued day again: gaps re-estimated and estimates re-balanced with
        the registers now that late data is in; each day leaves the queue with its close."""
        return [self.close_day(day) for day in self.revee_queue()]

    def edit(self, meter_id: int | Sequence[int], channel: int | Sequence[int],
             interval_end: datetime | int | Sequence[int], value: int | Sequence[int],
             user: str, reason: str, note: str = "") -> int:
        """Manual edit of values: validated like received data, ``reason`` a code of
        ``EDIT_REASONS``; a new version with the user, reason and note; returns it.
        Raises ``EditApprovalRequiredError`` (with the request id) when the edit moves more than
        ``VeeConfig.edit_approval_wh``: it then waits for :meth:`approve_edit`."""
        outcome = self.request_edit(meter_id, channel, interval_end, value, user, reason, note)
        if outcome.version is None:
            raise EditApprovalRequiredError(outcome.request_id, outcome.change_wh)
        return outcome.version

    def request_edit(self, meter_id: int | Sequence[int], channel: int | Sequence[int],
                     interval_end: datetime | int | Sequence[int], value: int | Sequence[int],
                     user: str, reason: str, note: str = "") -> EditRequest:
        """:meth:`edit` that reports a pending request instead of raising."""
        table = edit_rows(meter_id, channel, interval_end, value)
        meters = table.column("meter_id").to_numpy()
        zone = _Zone(0, 0, (int(meters.min()), int(meters.max())), [])
        check_edit(table, user, reason, self.vee, self.clock.time(), self._series_state(),
                   self._limits(zone))
        return request_edit(self.store, table, user, reason, note, self.vee.edit_approval_wh)

    def approve_edit(self, request_id: int, approver: str) -> int:
        """Apply a pending edit request; ``approver`` must not be its requester."""
        return approve_request(self.store, request_id, approver)

    def reject_edit(self, request_id: int, approver: str) -> None:
        reject_request(self.store, request_id, approver)

    def edit_requests(self, status: str | None = None) -> pa.Table:
        """Edit requests (all, or those with ``status`` pending/applied/rejected)."""
        with self.store.reader() as con:
            return con.sql("SELECT * FROM edit_requests WHERE ? IS NULL OR status = ? "
                           "ORDER BY request_id", params=[status, status]).to_arrow_table()

    def settle(self, day: date, minutes: int = 30) -> Settlement:
        """Per-slot energy per retailer and balancing group (SPEC S1, S10)."""
        return settle(self.store, self.registry, day, minutes)

    def retail(self, meter_ids: Sequence[int] | None, start: datetime | int,
               end: datetime | int) -> pa.Table:
        """6-digit retail registers and intervals derived from the 8-digit ones (SPEC S4)."""
        return retail_values(self.store, meter_ids, start, end)

    def ingest_sub_meter_feed(self, path: Path | str) -> IngestResult:
        """Ingest a 特例計量器 feed file (CSV/JSON) of registered sub-meters (SPEC S12)."""
        batch = read_sub_meter_feed(path, self.registry)
        return self.ingest(batch, source_name=str(path))

    def differential(self, start: datetime | int, end: datetime | int,
                     main_meter_ids: Sequence[int] | None = None) -> pa.Table:
        """Main meter minus its sub-meters per 30-minute slot, in Wh (SPEC S12)."""
        return differential(self.store, self.registry, start, end, main_meter_ids)

    def joint_readings(self, company_id: str, start: datetime | int, end: datetime | int
                       ) -> pa.Table:
        """A gas or water company's relayed readings with consumption (SPEC S13)."""
        return joint_readings(self.store, self.registry, company_id, start, end)

    def purge(self, years: int = RETENTION_YEARS, force: bool = False) -> PurgeReport:
        """Remove the settlement days older than the retention period (SPEC S5: 3 years,
        less refused unless ``force``); report it."""
        return purge(self.store, self.clock.time(), years, force)

    def purge_due(self) -> bool:
        """Whether no purge has run yet on the clock's JST day (the daily schedule)."""
        with self.store.reader() as con:
            last = scalar(con, "SELECT max(epoch(committed_at)) FROM versions "
                               "WHERE kind = 'purge'")
        return last is None or jst_day(float(last)) < jst_day(self.clock.time())

    def housekeeping(self, years: int = RETENTION_YEARS) -> Housekeeping:
        """What must not depend on a person, for a timer (cron, systemd) to run: validate
        pending batches, close the days that have ended and the queued ones, compact the
        closed days (a crash between close and compaction included), and purge once a
        day."""
        pending = self.validate_pending()
        now = self.clock.time()
        closed = [day for day in self.days_to_close() if day_start(day) + 86400 <= now]
        for day in closed:
            self.close_day(day)
        compacted = self.days_to_compact()
        for day in compacted:
            self.compact(day)
        report = self.purge(years) if self.purge_due() else None
        return Housekeeping(pending, closed, compacted, report)

    def compact(self, first: date, last: date | None = None, month: bool = False
                ) -> list[CompactResult]:
        """Merge the files of days ``first``..``last`` (IMD and measurements); a day whose
        raw copy is all in shared ingest files becomes one shared file (compact_shared)."""
        last = last or first
        if month:
            return [compact(self.store, kind, first, last, month) for kind in (IMD, MEAS)]
        totals = [CompactResult(kind, 0, 0, 0, 0, 0) for kind in (IMD, MEAS)]
        day = first
        while day <= last:
            done = compact_shared(self.store, day) or [
                compact(self.store, kind, day, day) for kind in (IMD, MEAS)]
            totals = [_add(a, b) for a, b in zip(totals, done, strict=True)]
            day += timedelta(days=1)
        return totals

    # ------------------------------------------------------------------ internals

    def _series_state(self) -> SeriesState:
        if self._state is None:
            self._state = SeriesState.load(self.store.con)
        return self._state

    def _limits(self, zone: _Zone) -> PhysicalLimits:
        """Physical bounds of the zone's meters; unchecked while no meter is registered."""
        if not self.registry.has_meters():
            return PhysicalLimits.unchecked()
        return PhysicalLimits.of(self.registry.physical_facts(*zone.meters))

    def _drop_received(self, con: duckdb.DuckDBPyConnection, rows: Rows, zone: _Zone
                       ) -> tuple[Rows, int]:
        """Rows not identical to the newest received value of their key; how many dropped."""
        if not len(rows):
            return rows, 0
        paths = self.store.file_paths(con, IMD, zone.t_min, zone.t_max, zone.meters,
                                      zone.channels)
        if not paths:
            return rows, 0
        keys = _keys_table(rows, rows.value, rows.quality)
        sql = (
            "SELECT k.idx FROM _keys k JOIN ("
            " SELECT meter_id, channel, interval_end, arg_max(value, version) AS value,"
            " arg_max(quality, version) AS quality"
            f" FROM {self.store.scan_sql(paths, False, False, IMD)} e"
            " WHERE interval_end BETWEEN ? AND ? GROUP BY ALL) e"
            " ON k.meter_id = e.meter_id AND k.channel = e.channel"
            " AND k.interval_end = e.interval_end"
            " WHERE k.value = e.value AND k.quality = e.quality")
        same = _query_indices(con, keys, sql, [_ts(zone.t_min), _ts(zone.t_max)])
        if not same.size:
            return rows, 0
        keep = np.ones(len(rows), np.bool_)
        keep[same] = False
        return rows.take(np.flatnonzero(keep)), int(same.size)

    def _current_meas(self, con: duckdb.DuckDBPyConnection, rows: Rows, zone: _Zone
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each row's key: whether a current measurement exists, its version, source
        and quality."""
        n = len(rows)
        found = np.zeros(n, np.bool_)
        version = np.zeros(n, np.int64)
        source = np.zeros(n, np.uint8)
        quality = np.zeros(n, np.uint16)
        paths = self.store.file_paths(con, MEAS, zone.t_min, zone.t_max, zone.meters,
                                      zone.channels)
        if not paths:
            return found, version, source, quality
        keys = _keys_table(rows)
        relation = self.store.scan_sql(paths, True, self.store.has_superseded(con))
        con.register("_keys", keys)
        try:
            table = con.sql(
                f"SELECT k.idx, m.version, m.source, m.quality FROM _keys k JOIN {relation} m "
                "ON k.meter_id = m.meter_id AND k.channel = m.channel "
                "AND k.interval_end = m.interval_end WHERE m.interval_end BETWEEN ? AND ?",
                params=[_ts(zone.t_min), _ts(zone.t_max)]).to_arrow_table()
        finally:
            con.unregister("_keys")
        table = _as_table(table)
        idx = table.column("idx").to_numpy()
        found[idx] = True
        version[idx] = table.column("version").to_numpy()
        source[idx] = table.column("source").to_numpy()
        quality[idx] = table.column("quality").to_numpy()
        return found, version, source, quality

    def _measure(self, con: duckdb.DuckDBPyConnection, rows: Rows, version: int, raw: bool,
                 zone: _Zone) -> _Measured:
        """Validate rows as measurements of ``version`` and stage their files; with ``raw``,
        stage the IMD copy of the rows as received too.

        Parts of the rows (split at meter boundaries) are validated and written on worker
        threads, each into its own file: every rule looks only within one meter's rows.
        When no key occurs twice in the rows, the received rows and the measurements are
        the same rows, and one shared file holds both (the IMD columns as received plus
        the validation outcome): one write instead of two.
        """
        received = rows
        rows, conflict = dedupe_keys(rows)
        zone = _Zone.of(rows) if len(rows) != len(received) else zone
        shared = raw and len(rows) == len(received)
        found, old_version, old_source, old_quality = self._current_meas(con, rows, zone)
        revised = found & ~np.isin(old_source, _NOT_ACTUAL)
        spans = off_spans(con, *zone.meters, zone.t_min - 86400, zone.t_max)
        state, now, store = self._series_state(), self.clock.time(), self.store
        restores = infer_restores(spans, rows.meter, rows.t, rows.channel, rows.value,
                                  rows.quality, state)
        spans = restores.apply(spans)
        limits = self._limits(zone)
        parts = meter_parts(rows.meter)

        def run(number: int) -> tuple[Validation, int, list[FileInfo]]:
            a, b = parts[number]
            part = rows.slice(a, b)
            result = validate_rows(part, state, self.vee, now, spans, conflict[a:b],
                                   revised[a:b], limits)
            suspect = int(np.count_nonzero(result.quality & np.uint16(Quality.SUSPECT)))
            table = rows_table(part, result.quality, result.reasons,
                               part.quality if shared else None)
            return result, suspect, store.stage(INGEST if shared else MEAS, version, table,
                                                presorted=True,
                                                part=None if len(parts) == 1 else number)

        jobs = [POOL.submit(run, number) for number in range(len(parts))]
        if raw and not shared:
            jobs.append(POOL.submit(store.stage, IMD, version, rows_table(received),
                                    presorted=True))
        done = _gather(store, jobs)
        infos = [i for *_, staged in done[:len(parts)] for i in staged]
        infos += [i for staged in done[len(parts):] for i in staged]
        keeps_old = np.zeros(len(rows), np.bool_)
        if found.any():
            quality = np.concatenate([r.quality for r, *_ in done[:len(parts)]])
            keeps_old[found] = self.vee.precedence.keeps_old(
                quality[found], rows.source[found], old_quality[found], old_source[found])
        return _Measured(infos, _supersede_table(rows, found, old_version, version, keeps_old),
                         concat_states([r.state for r, *_ in done[:len(parts)]]),
                         sum(suspect for _, suspect, _ in done[:len(parts)]), restores,
                         version, zone)

    def _commit_measured(self, con: duckdb.DuckDBPyConnection, measured: _Measured) -> None:
        if measured.supersede is not None and measured.supersede.num_rows:
            con.register("_sup", measured.supersede)
            try:
                con.execute("INSERT INTO superseded SELECT * FROM _sup")
            finally:
                con.unregister("_sup")
        SeriesState.persist(con, measured.state)
        record_restores(con, measured.restores, measured.version)
        queue_closed_days(con, measured.zone.t_min, measured.zone.t_max, measured.version,
                          self.store.now())

    # ------------------------------------------------------------------ queries

    def last_version(self) -> int:
        """Newest committed version (0 for an empty store): a point to ask changes since."""
        with self.store.reader() as con:
            return int(scalar(con, "SELECT coalesce(max(version), 0) FROM versions"))

    def readings(
        self,
        meter_id: int | Sequence[int] | None = None,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        channels: Sequence[int] | None = None,
        current: bool = True,
        kind: str = MEAS,
    ) -> pa.Table:
        """Stored readings (measurements by default, or ``kind=IMD`` raw receipts).

        ``start``/``end`` bound interval ends inclusively; ``current`` returns only the
        newest version of each key. Sorted by meter, channel, time (and version).
        """
        lo = None if start is None else epoch_seconds(start)
        hi = None if end is None else epoch_seconds(end)
        meters = None if meter_id is None else (
            [int(meter_id)] if isinstance(meter_id, int | np.integer) else [int(m) for m in
                                                                            meter_id])
        with self.store.reader() as con:
            superseded = self.store.has_superseded(con)
            if meters is not None and 0 < len(meters) <= POINT_QUERY_METERS:
                table = self._read_meters(con, kind, meters, lo, hi, channels,
                                          current and kind == MEAS and superseded)
            else:
                span = None if meters is None else (min(meters), max(meters))
                paths = self.store.file_paths(con, kind, lo, hi, span, channels)
                relation = self.store.scan_sql(paths, current and kind == MEAS, superseded,
                                               kind)
                where, params = _filters(meters, lo, hi, channels)
                table = con.sql(
                    f"SELECT * FROM {relation} WHERE {where} "
                    "ORDER BY meter_id, channel, interval_end, version", params=params
                ).to_arrow_table()
        schema = MEAS_SCHEMA if kind == MEAS else IMD_SCHEMA
        table = _normalise(table).select(schema.names).cast(schema) if table.num_rows else (
            schema.empty_table())
        if current and kind == IMD and table.num_rows:
            table = _newest(table)
        return table

    def _read_meters(self, con: duckdb.DuckDBPyConnection, kind: str, meters: list[int],
                     lo: int | None, hi: int | None, channels: Sequence[int] | None,
                     drop_superseded: bool) -> pa.Table:
        """A few meters' rows by the store's row-group index, sorted like a scan."""
        schema = MEAS_SCHEMA if kind == MEAS else IMD_SCHEMA
        parts = []
        for meter in sorted(set(meters)):
            part = self.store.read_meter(con, kind, meter, lo, hi, channels)
            if part.num_rows:
                parts.append(_normalise(part).select(schema.names).cast(schema))
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        if drop_superseded and table.num_rows:
            gone = con.sql(
                "SELECT meter_id, channel, interval_end, version FROM superseded "
                f"WHERE meter_id IN ({', '.join(str(int(m)) for m in meters)})"
            ).to_arrow_table()
            if gone.num_rows:
                fields = [schema.field(name) for name in gone.schema.names]
                gone = _normalise(gone).cast(pa.schema(fields))
                table = table.join(gone, ["meter_id", "channel", "interval_end", "version"],
                                   join_type="left anti")
        order = np.lexsort((table.column("version").to_numpy(),
                            table.column("interval_end").cast(pa.int64()).to_numpy(),
                            table.column("channel").to_numpy(),
                            table.column("meter_id").to_numpy()))
        if order.size and bool(np.all(order[1:] > order[:-1])):
            return table
        return table.take(pa.array(order))

    def change_feed(self, since: int, meter_ids: Sequence[int] | None = None,
                    channels: Sequence[int] | None = None, until: int | None = None
                    ) -> ChangeFeed:
        """What changed after the cursor ``since`` (a version; 0 from the start): current
        values with what each replaced (new, estimate replaced by an actual, revised,
        re-estimated, edited) and the cursor to ask from next (see feed.py)."""
        return change_feed(self.store, since, meter_ids, channels, until)

    def changes_since(self, since: int | datetime, channels: Sequence[int] | None = None
                      ) -> pa.Table:
        """Current measurements written after a version number or a moment.

        What downstream consumers poll: late actuals that replaced estimates, edits,
        revisions and new data since the version (or commit time) they last saw.
        """
        with self.store.reader() as con:
            if isinstance(since, datetime):
                since = int(scalar(con, "SELECT coalesce(max(version), 0) FROM versions "
                                        "WHERE committed_at <= ?", [since]))
            paths = [str(self.store.root / r[0]) for r in con.execute(
                "SELECT path FROM files WHERE kind = ? AND version > ? ORDER BY day, version",
                [MEAS, int(since)]).fetchall()]
            relation = self.store.scan_sql(paths, True, self.store.has_superseded(con))
            where, params = _filters(None, None, None, channels)
            table = con.sql(f"SELECT * FROM {relation} WHERE version > ? AND {where} "
                            "ORDER BY version, meter_id, channel, interval_end",
                            params=[int(since), *params]).to_arrow_table()
        return _normalise(_as_table(table))


def _add(a: CompactResult, b: CompactResult) -> CompactResult:
    return CompactResult(a.kind, a.files_before + b.files_before, a.files_after + b.files_after,
                         a.rows + b.rows, a.bytes_before + b.bytes_before,
                         a.bytes_after + b.bytes_after)


def _gather(store: MeasurementStore, jobs: list[Future]) -> list:
    """Results of finished jobs (each result, or its staged files, a list of FileInfo
    last); on any failure, delete every job's staged files and re-raise."""
    results: list = []
    error: BaseException | None = None
    for job in jobs:
        try:
            results.append(job.result())
        except BaseException as exc:
            error = error or exc
    if error is not None:
        store.discard([i for r in results for i in (r[-1] if isinstance(r, tuple) else r)])
        raise error
    return results


def _ts(seconds: int | np.integer) -> datetime:
    from smame.clock import from_epoch

    return from_epoch(int(seconds))


def _filters(meters, lo, hi, channels) -> tuple[str, list]:
    """A WHERE clause whose meter and channel lists are literal integers, so that DuckDB
    can prune Parquet row groups by their statistics."""
    where, params = ["TRUE"], []
    if meters is not None:
        where.append(f"meter_id IN ({', '.join(str(int(m)) for m in meters)})" if meters
                     else "FALSE")
    if lo is not None:
        where.append("interval_end >= ?")
        params.append(_ts(lo))
    if hi is not None:
        where.append("interval_end <= ?")
        params.append(_ts(hi))
    if channels is not None:
        where.append(f"channel IN ({', '.join(str(int(c)) for c in channels)})" if channels
                     else "FALSE")
    return " AND ".join(where), params


def _keys_table(rows: Rows, value: np.ndarray | None = None,
                quality: np.ndarray | None = None) -> pa.Table:
    columns = {
        "meter_id": pa.array(rows.meter, pa.int64()),
        "channel": pa.array(rows.channel, pa.uint16()),
        "interval_end": pa.array(rows.t, pa.int64()).view(_TS),
        "idx": pa.array(np.arange(len(rows), dtype=np.int64)),
    }
    if value is not None:
        columns["value"] = pa.array(value, pa.int64())
    if quality is not None:
        columns["quality"] = pa.array(quality, pa.uint16())
    return pa.table(columns)


def _query_indices(con: duckdb.DuckDBPyConnection, keys: pa.Table, sql: str, params: list
                   ) -> np.ndarray:
    con.register("_keys", keys)
    try:
        table = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.unregister("_keys")
    return table.column(0).to_numpy() if table.num_rows else np.empty(0, np.int64)


def _supersede_table(rows: Rows, found: np.ndarray, old_version: np.ndarray, version: int,
                     keeps_old: np.ndarray) -> pa.Table | None:
    """Superseded entries of rows whose key had a current value: the old version, or,
    where precedence keeps the old value (``keeps_old``), the new one (stored, not
    current)."""
    if not found.any():
        return None
    idx = np.flatnonzero(found)
    kept = keeps_old[idx]
    new = np.full(idx.size, version, np.int64)
    return pa.table({
        "meter_id": pa.array(rows.meter[idx], pa.int64()),
        "channel": pa.array(rows.channel[idx], pa.uint16()),
        "interval_end": pa.array(rows.t[idx], pa.int64()).view(_TS),
        "version": pa.array(np.where(kept, new, old_version[idx]), pa.int64()),
        "by_version": pa.array(np.where(kept, old_version[idx], new)),
    })


def _read_rows(con: duckdb.DuckDBPyConnection, paths: list[str]) -> Rows:
    from smame.readings import SCHEMA

    if not paths:
        return Rows(*(np.empty(0, d) for d in (np.int64, np.int64, np.uint16, np.int64,
                                                np.uint16, np.uint8)))
    relation = MeasurementStore.scan_sql(paths, False, False, IMD)
    table = con.sql(f"SELECT {', '.join(SCHEMA.names)} FROM {relation}").to_arrow_table()
    return batch_rows(_normalise(table).select(SCHEMA.names).cast(SCHEMA))


def _as_table(result: pa.Table | pa.RecordBatchReader) -> pa.Table:
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result


def _newest(table: pa.Table) -> pa.Table:
    """The newest version of each key in a table sorted by key and version."""
    m = table.column("meter_id").to_numpy()
    c = table.column("channel").to_numpy()
    t = table.column("interval_end").cast(pa.int64()).to_numpy()
    last = np.r_[(m[1:] != m[:-1]) | (c[1:] != c[:-1]) | (t[1:] != t[:-1]), True]
    return table.filter(pa.array(last))


def _normalise(table: pa.Table) -> pa.Table:
    """Interval ends as timestamp[s, UTC], whatever unit the Parquet reader produced."""
    if "interval_end" in table.schema.names:
        index = table.schema.get_field_index("interval_end")
        column = table.column(index).cast(_TS)
        table = table.set_column(index, pa.field("interval_end", _TS, nullable=False), column)
    return table
