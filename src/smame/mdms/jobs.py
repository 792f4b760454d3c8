"""The work of each ``smame mdms`` command over an open store, wherever it runs.

A job runs in the command's own process (which then holds the store lock) or in the
store owner's (``smame api serve``), handed over by :mod:`smame.mdms.jobwire`. Either way
it is the same function, printing to the :class:`~rich.console.Console` it is given, so a
command prints the same lines and exits the same way. Parameters are JSON values, checked
by the command before the job is submitted: times as ISO text, and each path as a pair
(as the user wrote it, for messages and source names; absolute, to open).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from smame.clirun import CliError
from smame.messages import tr

if TYPE_CHECKING:
    from smame.mdms.service import Mdms

__all__ = ["JOBS", "READ_ONLY", "Job", "JobContext"]


@dataclass
class JobContext:
    """What a job runs with: its output, and the store (opened on first use)."""

    out: Console
    store: Callable[[datetime | None], Mdms]  # now (None: the store's own clock) -> Mdms


Job = Callable[[dict[str, Any], JobContext], int | None]


def _now(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def ingest(params: dict[str, Any], job: JobContext) -> None:
    """Ingest reading files and simulation directories; every file is checked first."""
    from smame.mdms.files import FileFormatError, read_reading_file
    from smame.mdms.seed import ingest_simulation

    out, validate = job.out, bool(params["validate"])
    batches = []
    for name, path in params["files"]:
        try:
            batches.append((name, read_reading_file(Path(path))))
        except FileFormatError as exc:
            raise CliError(str(exc)) from None
    mdms = job.store(None)
    stored = received = 0
    for name, batch in batches:
        result = mdms.ingest(batch, source_name=name, validate=validate)
        stored += result.stored
        received += result.received
        note = " (already ingested)" if result.duplicate_batch else ""
        out.print(f"{name}: {result.received:,} rows, {result.stored:,} new{note}")
    for directory, path in params["simulations"]:
        seeded = ingest_simulation(mdms, Path(path), validate)
        got = sum(b.received for b in seeded.batches)
        stored += seeded.rows_stored
        received += got
        out.print(f"{directory}: {seeded.meters_registered:,} meters registered, "
                  f"{seeded.events:,} events, {got:,} rows, {seeded.rows_stored:,} new")
    out.print(tr("ingested {received:,} rows, {stored:,} stored in {data}",
                 received=received, stored=stored, data=params["data"]))


def ingest_feed(params: dict[str, Any], job: JobContext) -> None:
    """Ingest sub-meter feeds of registered sub-meters."""
    from smame.mdms.files import FileFormatError
    from smame.mdms.submeter import read_sub_meter_feed

    mdms = job.store(None)
    batches = []
    for name, path in params["files"]:
        try:
            batches.append((name, read_sub_meter_feed(Path(path), mdms.registry)))
        except FileFormatError as exc:
            raise CliError(str(exc)) from None
    for name, batch in batches:
        result = mdms.ingest(batch, source_name=name)
        job.out.print(f"{name}: {result.received:,} rows, {result.stored:,} new")


def vee(params: dict[str, Any], job: JobContext) -> None:
    """Validate pending data, then close (estimate) days and compact them."""
    out, compact = job.out, bool(params["compact"])
    mdms = job.store(_now(params["now"]))
    pending = mdms.validate_pending()
    if pending:
        out.print(f"validated {len(pending)} pending batch(es)")
    days = [date.fromisoformat(d) for d in params["days"]]
    if not days:  # days not closed, and closed days that received late data
        days = mdms.days_to_close()
    for target in days:
        result = mdms.close_day(target)
        out.print(f"{target}: {result.series:,} series, {result.estimated:,} estimated "
                  f"({result.replaced_failed:,} replacing failed values, "
                  f"{result.scaled:,} register-scaled)")
        if compact:
            mdms.compact(target)
    if compact:  # closed days a crash (or late data) left uncompacted
        for target in mdms.days_to_compact():
            mdms.compact(target)


def settle(params: dict[str, Any], job: JobContext) -> None:
    """Settlement sums of a day per retailer or balancing group."""
    target = date.fromisoformat(params["day"])
    result = job.store(None).settle(target, int(params["minutes"]))
    by, output, out = params["by"], params["format"], params["out"]
    table = result.retailers if by == "retailer" else result.groups
    if output == "table" and out is None:
        print_settlement(job.out, table, "retailer_id" if by == "retailer" else "bg_id",
                         target)
        return
    write_table(job.out, table, out, "csv" if output == "table" else output)


def purge(params: dict[str, Any], job: JobContext) -> None:
    """Remove data older than the retention period."""
    from smame.store.retention import RetentionError

    mdms = job.store(_now(params["now"]))
    try:
        report = mdms.purge(int(params["years"]), bool(params["force"]))
    except RetentionError as exc:
        raise CliError(str(exc)) from None
    job.out.print_json(json.dumps(report.as_dict()))


def housekeeping(params: dict[str, Any], job: JobContext) -> None:
    """Validate, close, compact and purge as a timer would."""
    done = job.store(_now(params["now"])).housekeeping()
    job.out.print_json(json.dumps({
        "validated": done.validated, "closed": [d.isoformat() for d in done.closed],
        "compacted": [d.isoformat() for d in done.compacted],
        "purge": done.purge.as_dict() if done.purge else None}))


def export(params: dict[str, Any], job: JobContext) -> None:
    """Readings (or 6-digit retail values) to a Parquet or CSV file."""
    from smame.store import IMD, MEAS

    mdms = job.store(None)
    first, last = _now(params["start"]), _now(params["end"])
    if params["retail"]:
        table = mdms.retail(params["meters"], first or 0, last or 2**40)
    else:
        table = mdms.readings(params["meters"], first, last, params["channels"],
                              current=not params["all_versions"],
                              kind=IMD if params["raw"] else MEAS)
    write_table(job.out, table, params["out"], params["format"])


JOBS: dict[str, Job] = {"ingest": ingest, "ingest-feed": ingest_feed, "vee": vee,
                        "settle": settle, "purge": purge, "housekeeping": housekeeping,
                        "export": export}
READ_ONLY = frozenset({"settle", "export"})
"""Jobs that only read: an owner runs them at once, beside a writing job."""


def print_settlement(out: Console, table: pa.Table, party: str, day: date) -> None:
    view = Table(title=f"settlement {day.isoformat()} by {party}")
    for name in (party, "slots", "import kWh", "estimated kWh", "export kWh", "excluded"):
        view.add_column(name, justify="right")
    rows: dict[str, list[int]] = {}
    for row in table.to_pylist():
        acc = rows.setdefault(row[party], [0, 0, 0, 0, 0])
        acc[0] += 1
        acc[1] += row["import_wh"]
        acc[2] += row["import_estimated_wh"]
        acc[3] += row["export_wh"]
        acc[4] += row["excluded_values"]
    for key, (slots, imp, est, exp, excluded) in sorted(rows.items()):
        view.add_row(key, str(slots), f"{imp / 1000:,.1f}", f"{est / 1000:,.1f}",
                     f"{exp / 1000:,.1f}", str(excluded))
    out.print(view)


def write_table(out: Console, table: pa.Table, target: list[str] | None, fmt: str) -> None:
    """``table`` as ``fmt`` to the file ``target`` (shown, absolute), or to ``out``."""
    if target is None:
        if fmt == "parquet":
            raise CliError("--format parquet needs --out FILE")
        out.file.write(_text(table, fmt))
        out.file.flush()
        return
    shown, path = target[0], Path(target[1])
    try:
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        elif fmt == "csv":
            pcsv.write_csv(table, path)
        else:
            path.write_text(_text(table, fmt))
    except OSError as exc:
        raise CliError(tr("--out {out}: cannot write: {reason}", out=shown,
                          reason=exc.strerror or exc)) from None
    out.print(f"wrote {table.num_rows:,} rows to {shown}")


def _text(table: pa.Table, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(table.to_pylist(), default=str, ensure_ascii=False) + "\n"
    sink = pa.BufferOutputStream()
    pcsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes().decode()
