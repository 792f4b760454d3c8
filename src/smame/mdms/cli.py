"""``smame mdms``: ingest, VEE, settlement, retention and export over a data directory.

Every command takes ``--data DIR`` (default ``./smame-data``). Only ``ingest`` creates a
store there; every other command refuses a directory that holds none, so a mistyped
``--data`` creates nothing. Bad arguments and bad input files end with one line on stderr and
exit code 2.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import typer
from rich.table import Table

from smame.clirun import CliError, console, existing_store, new_app, run_app
from smame.mdms.shards_cli import shards_app
from smame.messages import tr

app = new_app("Meter data management: ingest, VEE, settlement, retention, export.")
app.add_typer(shards_app, name="shards")
DataDir = Annotated[Path, typer.Option("--data", help="Data directory of the store.")]
DEFAULT_DATA = Path("smame-data")


def _fail(message: str) -> NoReturn:
    raise CliError(message)


def _open(data: Path, now: datetime | None = None, create: bool = False):
    """The store in ``data``; only ``create`` (ingest) may make a new one."""
    from smame.clock import SimulatedClock, WallClock
    from smame.mdms import Mdms

    if data.exists() and not data.is_dir():
        _fail(tr("--data {data} is not a directory", data=data))
    if not create:
        existing_store(data)
    clock = SimulatedClock(now) if now else WallClock()
    try:
        return Mdms(data, clock=clock)
    except Exception as exc:  # a locked or damaged catalog: say which and why
        _fail(f"cannot open data directory {data}: {exc}")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(tr("{option} {text!r} is not a date (YYYY-MM-DD)", option=option, text=text))


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(tr("{option} {text!r} is not an ISO 8601 time", option=option, text=text))
    if moment.tzinfo is None:
        _fail(tr("{option} {text!r} needs a UTC offset, e.g. +09:00", option=option,
                 text=text))
    return moment


def _reading_files(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Split arguments into reading files and simulation directories."""
    from smame.mdms.seed import is_simulation_dir

    files: list[Path] = []
    simulations: list[Path] = []
    for path in paths:
        if not path.exists():
            _fail(tr("{path}: no such file or directory", path=path))
        if path.is_dir():
            if is_simulation_dir(path):
                simulations.append(path)
                continue
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".csv"))
            if not found:
                _fail(f"{path}: no .parquet or .csv files in it")
            files += found
        else:
            files.append(path)
    return files, simulations


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Parquet/CSV reading files, directories "
                                                "of them, or fleet simulation directories.")],
    data: DataDir = DEFAULT_DATA,
    validate: Annotated[bool, typer.Option(help="Run VEE as data arrives.")] = True,
) -> None:
    """Ingest reading files; every file is checked before anything is stored."""
    from smame.mdms.files import FileFormatError, read_reading_file
    from smame.mdms.seed import ingest_simulation

    files, simulations = _reading_files(paths)
    batches = []
    for path in files:
        try:
            batches.append((path, read_reading_file(path)))
        except FileFormatError as exc:
            _fail(str(exc))
    mdms = _open(data, create=True)
    with mdms:
        stored = received = 0
        for path, batch in batches:
            result = mdms.ingest(batch, source_name=str(path), validate=validate)
            stored += result.stored
            received += result.received
            note = " (already ingested)" if result.duplicate_batch else ""
            console.print(f"{path}: {result.received:,} rows, {result.stored:,} new{note}")
        for directory in simulations:
            seeded = ingest_simulation(mdms, directory, validate)
            got = sum(b.received for b in seeded.batches)
            stored += seeded.rows_stored
            received += got
            console.print(f"{directory}: {seeded.meters_registered:,} meters registered, "
                          f"{seeded.events:,} events, {got:,} rows, "
                          f"{seeded.rows_stored:,} new")
    console.print(tr("ingested {received:,} rows, {stored:,} stored in {data}",
                     received=received, stored=stored, data=data))


@app.command("ingest-feed")
def ingest_feed(
    paths: Annotated[list[Path], typer.Argument(help="特例計量器 feed files (.csv or .json).")],
    data: DataDir = DEFAULT_DATA,
) -> None:
    """Ingest sub-meter (EV charger, PV inverter) feeds of registered sub-meters."""
    from smame.mdms.files import FileFormatError
    from smame.mdms.submeter import read_sub_meter_feed

    with _open(data) as mdms:
        batches = []
        for path in paths:
            if not path.is_file():
                _fail(f"{path}: no such file")
            try:
                batches.append((path, read_sub_meter_feed(path, mdms.registry)))
            except FileFormatError as exc:
                _fail(str(exc))
        for path, batch in batches:
            result = mdms.ingest(batch, source_name=str(path))
            console.print(f"{path}: {result.received:,} rows, {result.stored:,} new")


@app.command("vee")
def vee(
    data: DataDir = DEFAULT_DATA,
    day: Annotated[list[str] | None, typer.Option(
        "--date", help="Day(s) to close, YYYY-MM-DD; default: every day not closed yet.")
    ] = None,
    now: Annotated[str | None, typer.Option(help="Treat this ISO time as now.")] = None,
    compact: Annotated[bool, typer.Option(help="Compact closed days into one file.")] = True,
) -> None:
    """Validate pending data, then estimate gaps and failed values of whole days."""
    days = [_day(d, "--date") for d in day or []]
    with _open(data, _moment(now, "--now")) as mdms:
        pending = mdms.validate_pending()
        if pending:
            console.print(f"validated {len(pending)} pending batch(es)")
        if not days:  # days not closed, and closed days that received late data
            days = mdms.days_to_close()
        for target in days:
            result = mdms.close_day(target)
            console.print(f"{target}: {result.series:,} series, {result.estimated:,} estimated "
                          f"({result.replaced_failed:,} replacing failed values, "
                          f"{result.scaled:,} register-scaled)")
            if compact:
                mdms.compact(target)
        if compact:  # closed days a crash (or late data) left uncompacted
            for target in mdms.days_to_compact():
                mdms.compact(target)


@app.command("settle")
def settle(
    day: Annotated[str, typer.Option("--date", help="JST day to settle, YYYY-MM-DD.")],
    data: DataDir = DEFAULT_DATA,
    minutes: Annotated[int, typer.Option(help="Slot length: 30, or 15 with the soft switch.")
                       ] = 30,
    by: Annotated[str, typer.Option(help="retailer or group.")] = "retailer",
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
) -> None:
    """30-minute (or 15-minute) sums per retailer or balancing group, estimated share."""
    target = _day(day, "--date")
    if minutes not in (15, 30):
        _fail(f"--minutes must be 30 or 15, not {minutes}")
    if by not in ("retailer", "group"):
        _fail(f"--by must be retailer or group, not {by!r}")
    if output not in ("table", "csv", "json"):
        _fail(f"--format must be table, csv or json, not {output!r}")
    _check_out(out)
    with _open(data) as mdms:
        result = mdms.settle(target, minutes)
    table = result.retailers if by == "retailer" else result.groups
    if output == "table" and out is None:
        _print_settlement(table, "retailer_id" if by == "retailer" else "bg_id", target)
        return
    _write(table, out, "csv" if output == "table" else output)


def _print_settlement(table: pa.Table, party: str, day: date) -> None:
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
    console.print(view)


def _write(table: pa.Table, out: Path | None, fmt: str) -> None:
    if out is None:
        if fmt == "parquet":
            _fail("--format parquet needs --out FILE")
        sys.stdout.write(_text(table, fmt))
        return
    try:
        if fmt == "parquet":
            pq.write_table(table, out, compression="zstd")
        elif fmt == "csv":
            pcsv.write_csv(table, out)
        else:
            out.write_text(_text(table, fmt))
    except OSError as exc:
        _fail(tr("--out {out}: cannot write: {reason}", out=out, reason=exc.strerror or exc))
    console.print(f"wrote {table.num_rows:,} rows to {out}")


def _text(table: pa.Table, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(table.to_pylist(), default=str, ensure_ascii=False) + "\n"
    sink = pa.BufferOutputStream()
    pcsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes().decode()


def _check_out(out: Path | None) -> None:
    """Refuse an ``--out`` that cannot be written before any work is done."""
    if out is None:
        return
    if out.is_dir():
        _fail(f"--out {out} is a directory, not a file")
    if not out.parent.is_dir():
        _fail(f"--out {out}: directory {out.parent} does not exist")


@app.command("purge")
def purge(
    data: DataDir = DEFAULT_DATA,
    years: Annotated[int, typer.Option(help="Retention in years (SPEC S5: 3).")] = 3,
    now: Annotated[str | None, typer.Option(help="Treat this ISO time as now.")] = None,
    force: Annotated[bool, typer.Option(help="Allow less than the 3 years of SPEC S5.")
                     ] = False,
) -> None:
    """Remove data older than the retention period and report what was removed."""
    from smame.store.retention import RetentionError

    if years < 1:
        _fail(f"--years must be at least 1, got {years}")
    with _open(data, _moment(now, "--now")) as mdms:
        try:
            report = mdms.purge(years, force)
        except RetentionError as exc:
            _fail(str(exc))
    console.print_json(json.dumps(report.as_dict()))


@app.command("housekeeping")
def housekeeping(
    data: DataDir = DEFAULT_DATA,
    now: Annotated[str | None, typer.Option(help="Treat this ISO time as now.")] = None,
) -> None:
    """Validate, close ended and re-VEE-queued days, compact, purge once a day: for a
    timer (cron or systemd) to run, e.g. hourly."""
    with _open(data, _moment(now, "--now")) as mdms:
        done = mdms.housekeeping()
    console.print_json(json.dumps({
        "validated": done.validated, "closed": [d.isoformat() for d in done.closed],
        "compacted": [d.isoformat() for d in done.compacted],
        "purge": done.purge.as_dict() if done.purge else None}))


@app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Output file.")],
    data: DataDir = DEFAULT_DATA,
    output: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    start: Annotated[str | None, typer.Option(help="First interval end, ISO 8601.")] = None,
    end: Annotated[str | None, typer.Option(help="Last interval end, ISO 8601.")] = None,
    meter: Annotated[list[int] | None, typer.Option(help="Meter id (repeatable).")] = None,
    channel: Annotated[list[int] | None, typer.Option(help="Channel code (repeatable).")
                       ] = None,
    raw: Annotated[bool, typer.Option(help="Export the IMD (raw, as received).")] = False,
    all_versions: Annotated[bool, typer.Option(help="Every version, not just current.")
                            ] = False,
    retail: Annotated[bool, typer.Option(help="6-digit retail registers and intervals.")
                      ] = False,
) -> None:
    """Export readings (8-digit by default, or 6-digit retail values) as Parquet or CSV."""
    from smame.readings import CHANNELS
    from smame.store import IMD, MEAS

    if output not in ("parquet", "csv"):
        _fail(f"--format must be parquet or csv, not {output!r}")
    for code in channel or []:
        if code not in CHANNELS:
            _fail(f"--channel {code} is not a known channel code")
    first, last = _moment(start, "--start"), _moment(end, "--end")
    if first and last and last < first:
        _fail("--end is before --start")
    _check_out(out)
    with _open(data) as mdms:
        if retail:
            table = mdms.retail(meter, first or 0, last or 2**40)
        else:
            table = mdms.readings(meter, first, last, channel, current=not all_versions,
                                  kind=IMD if raw else MEAS)
    _write(table, out, output)


def main() -> None:
    """Run this sub-app on its own, with the same error handling as ``smame``."""
    run_app(app)


if __name__ == "__main__":
    main()
