"""Retention (SPEC S5): 30-minute and 5-minute data are kept for 3 years, then purged.

The purge removes every stored row whose interval end is older than the cutoff (now
minus the retention period, on the JST calendar), raw and validated alike, with the
version bookkeeping and meter events of that time. Whole files past the cutoff are
dropped; a file that straddles it is rewritten without its old rows. A shared ingest
file (the IMD copy and the measurements of a batch in one file) is rewritten as a shared
file again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smame.clock import JST, jst_day_start
from smame.store.layout import IMD, INGEST, NOT_RECEIVED, RECEIVED_QUALITY, as_kind
from smame.store.measurements import MeasurementStore, ts_seconds

__all__ = ["RETENTION_YEARS", "PurgeReport", "RetentionError", "purge", "retention_boundary",
           "retention_cutoff"]

RETENTION_YEARS = 3


class RetentionError(ValueError):
    """A purge that would keep less than the statutory retention period (SPEC S5)."""


@dataclass
class PurgeReport:
    """What a purge removed: files dropped or rewritten, rows and bytes, per channel.

    Files and rows are counted per store, raw (IMD) and validated alike: a shared ingest
    file, which holds both the IMD copy and the measurements of its rows, counts as the
    IMD's file and the measurements' file, and each of its rows twice. Bytes are counted
    once, as on disk.
    """

    cutoff: datetime
    files_removed: int = 0
    files_rewritten: int = 0
    rows_removed: int = 0
    bytes_removed: int = 0
    rows_by_channel: Counter = field(default_factory=Counter)
    events_removed: int = 0

    def as_dict(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(),
            "files_removed": self.files_removed,
            "files_rewritten": self.files_rewritten,
            "rows_removed": self.rows_removed,
            "bytes_removed": self.bytes_removed,
            "rows_by_channel": {str(k): v for k, v in sorted(self.rows_by_channel.items())},
            "events_removed": self.events_removed,
        }


def retention_cutoff(now: float, years: int = RETENTION_YEARS) -> datetime:
    """The same JST calendar moment ``years`` earlier (29 February falls back to the 28th)."""
    local = datetime.fromtimestamp(now, JST)
    try:
        earlier = local.replace(year=local.year - years)
    except ValueError:
        earlier = local.replace(year=local.year - years, day=28)
    return earlier.astimezone(UTC)


def retention_boundary(now: float, years: int = RETENTION_YEARS) -> datetime:
    """00:00 JST opening the settlement day of :func:`retention_cutoff`: a purge removes
    whole settlement days, those whose slots all end at or before this moment."""
    day = retention_cutoff(now, years).astimezone(JST).date()
    return datetime.fromtimestamp(jst_day_start(day), UTC)


def purge(store: MeasurementStore, now: float, years: int = RETENTION_YEARS,
          force: bool = False) -> PurgeReport:
    """Remove the settlement days before :func:`retention_boundary`; report what went.

    Less than :data:`RETENTION_YEARS` years is refused unless ``force``.
    """
    if years < 1:
        raise RetentionError(f"retention must be at least 1 year, not {years}")
    if years < RETENTION_YEARS and not force:
        raise RetentionError(f"retention of {years} year(s) is less than the {RETENTION_YEARS} "
                             "years SPEC S5 requires; force it to purge anyway")
    cutoff = retention_boundary(now, years)
    limit = int(cutoff.timestamp())  # interval ends at or before it go
    report = PurgeReport(cutoff)
    with store.write_lock:
        con = store.con
        old = con.execute("SELECT path, list(kind ORDER BY kind), any_value(version), "
                          "any_value(bytes), any_value(max_t) FROM files WHERE min_t <= ? "
                          "GROUP BY path ORDER BY path", [limit]).fetchall()
        staged = []
        retire = []
        for path, kinds, version, size, max_t in old:
            names = pq.read_schema(store.root / path).names
            table = pq.read_table(store.root / path, columns=[
                "channel", "interval_end", *([RECEIVED_QUALITY] if RECEIVED_QUALITY in names
                                             else [])])
            gone = ts_seconds(table.column("interval_end")) <= limit
            received = np.ones(gone.size, np.bool_)  # rows that are (also) the IMD copy
            if RECEIVED_QUALITY in names:
                received = table.column(RECEIVED_QUALITY).to_numpy() != NOT_RECEIVED
            channel = table.column("channel").to_numpy()
            for kind in kinds:
                which = gone & received if kind == IMD else gone
                channels, counts = np.unique(channel[which], return_counts=True)
                report.rows_by_channel.update(dict(zip(channels.tolist(), counts.tolist(),
                                                       strict=True)))
                report.rows_removed += int(which.sum())
            retire.append(path)
            if max_t <= limit:
                report.files_removed += len(kinds)
                report.bytes_removed += size
                continue
            whole = pq.read_table(store.root / path)
            kept = whole.filter(pc.greater(ts_seconds(whole.column("interval_end")), limit))
            if len(kinds) > 1:  # a shared ingest file stays one
                kind = INGEST
            else:  # (a shared file one kind has compacted away answers as the other)
                kind = kinds[0]
                kept = as_kind(kept, kind)
            infos = store.stage(kind, version, kept, name_version=store.new_version())
            staged += infos
            report.files_rewritten += len(kinds)
            report.bytes_removed += size - sum(i.bytes for i in infos)
        events = con.execute("SELECT count(*) FROM meter_events WHERE time < ?",
                             [cutoff]).fetchall()[0][0]
        report.events_removed = int(events)

        def work(c: duckdb.DuckDBPyConnection) -> None:
            c.execute("DELETE FROM superseded WHERE interval_end <= ?", [cutoff])
            c.execute("DELETE FROM meter_events WHERE time < ?", [cutoff])
            c.execute("INSERT INTO versions (version, kind, committed_at, rows_dropped, reason) "
                      "VALUES (?, 'purge', ?, ?, ?)", [store.new_version(), store.now(),
                                                       report.rows_removed,
                                                       f"retention before {cutoff.isoformat()}"])

        store.commit(staged, work, retire=retire)
    return report
