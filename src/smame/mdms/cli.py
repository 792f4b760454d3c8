"""``smame mdms``: ingest, VEE, settlement, retention and export over a data directory.

Every command takes ``--data DIR`` (default ``./smame-data``). Only ``ingest`` creates a
store there; every other command refuses a directory that holds none, so a mistyped
``--data`` creates nothing. Bad arguments and bad input files end with one line on stderr and
exit code 2.

A command checks its arguments here, then runs its job (:mod:`smame.mdms.jobs`) at the
store's owner when ``smame api serve`` runs on the directory, else in this process
(:mod:`smame.mdms.jobwire`).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from smame.clirun import CliError, existing_store, new_app, run_app
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


def _pair(path: Path) -> list[str]:
    """A path as the user wrote it (for messages) and absolute (for whoever opens it)."""
    return [str(path), str(path.absolute())]


def _job(data: Path, name: str, params: dict, create: bool = False) -> int:
    """Run a job on the store in ``data``: at its owner (``smame api serve``) if one runs,
    else here; with ``create`` (ingest) the store may be new."""
    from smame.mdms.jobwire import run_job

    if data.exists() and not data.is_dir():
        _fail(tr("--data {data} is not a directory", data=data))
    if not create:
        existing_store(data)
    params = {**params, "data": str(data)}
    return run_job(data, name, params, lambda now: _open(data, now, create), create)


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Parquet/CSV reading files, directories "
                                                "of them, or fleet simulation directories.")],
    data: DataDir = DEFAULT_DATA,
    validate: Annotated[bool, typer.Option(help="Run VEE as data arrives.")] = True,
) -> int:
    """Ingest reading files; every file is checked before anything is stored."""
    files, simulations = _reading_files(paths)
    return _job(data, "ingest", {"files": [_pair(p) for p in files],
                                 "simulations": [_pair(p) for p in simulations],
                                 "validate": validate}, create=True)


@app.command("ingest-feed")
def ingest_feed(
    paths: Annotated[list[Path], typer.Argument(help="特例計量器 feed files (.csv or .json).")],
    data: DataDir = DEFAULT_DATA,
) -> int:
    """Ingest sub-meter (EV charger, PV inverter) feeds of registered sub-meters."""
    existing_store(data)
    for path in paths:
        if not path.is_file():
            _fail(f"{path}: no such file")
    return _job(data, "ingest-feed", {"files": [_pair(p) for p in paths]})


@app.command("vee")
def vee(
    data: DataDir = DEFAULT_DATA,
    day: Annotated[list[str] | None, typer.Option(
        "--date", help="Day(s) to close, YYYY-MM-DD; default: every day not closed yet.")
    ] = None,
    now: Annotated[str | None, typer.Option(help="Treat this ISO time as now.")] = None,
    compact: Annotated[bool, typer.Option(help="Compact closed days into one file.")] = True,
) -> int:
    """Validate pending data, then estimate gaps and failed values of whole days."""
    days = [_day(d, "--date").isoformat() for d in day or []]
    return _job(data, "vee", {"days": days, "now": _iso(_moment(now, "--now")),
                              "compact": compact})


@app.command("settle")
def settle(
    day: Annotated[str, typer.Option("--date", help="JST day to settle, YYYY-MM-DD.")],
    data: DataDir = DEFAULT_DATA,
    minutes: Annotated[int, typer.Option(help="Slot length: 30, or 15 with the soft switch.")
                       ] = 30,
    by: Annotated[str, typer.Option(help="retailer or group.")] = "retailer",
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
) -> int:
    """30-minute (or 15-minute) sums per retailer or balancing group, estimated share."""
    target = check_settle(day, minutes, by, output, out)
    return _job(data, "settle", {"day": target.isoformat(), "minutes": minutes, "by": by,
                                 "format": output, "out": None if out is None else _pair(out)})


def check_settle(day: str, minutes: int, by: str, output: str, out: Path | None) -> date:
    """The day of a settlement request whose options are all valid, else a one-line error
    (for `smame mdms settle` and `smame batch settle` alike)."""
    target = _day(day, "--date")
    if minutes not in (15, 30):
        _fail(f"--minutes must be 30 or 15, not {minutes}")
    if by not in ("retailer", "group"):
        _fail(f"--by must be retailer or group, not {by!r}")
    if output not in ("table", "csv", "json"):
        _fail(f"--format must be table, csv or json, not {output!r}")
    _check_out(out)
    return target


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


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
) -> int:
    """Remove data older than the retention period and report what was removed."""
    if years < 1:
        _fail(f"--years must be at least 1, got {years}")
    return _job(data, "purge", {"years": years, "now": _iso(_moment(now, "--now")),
                                "force": force})


@app.command("housekeeping")
def housekeeping(
    data: DataDir = DEFAULT_DATA,
    now: Annotated[str | None, typer.Option(help="Treat this ISO time as now.")] = None,
) -> int:
    """Validate, close ended and re-VEE-queued days, compact, purge once a day: for a
    timer (cron or systemd) to run, e.g. hourly."""
    return _job(data, "housekeeping", {"now": _iso(_moment(now, "--now"))})


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
) -> int:
    """Export readings (8-digit by default, or 6-digit retail values) as Parquet or CSV."""
    from smame.readings import CHANNELS

    if output not in ("parquet", "csv"):
        _fail(f"--format must be parquet or csv, not {output!r}")
    for code in channel or []:
        if code not in CHANNELS:
            _fail(f"--channel {code} is not a known channel code")
    first, last = _moment(start, "--start"), _moment(end, "--end")
    if first and last and last < first:
        _fail("--end is before --start")
    _check_out(out)
    return _job(data, "export", {"out": _pair(out), "format": output, "start": _iso(first),
                                 "end": _iso(last), "meters": meter, "channels": channel,
                                 "raw": raw, "all_versions": all_versions, "retail": retail})


def main() -> None:
    """Run this sub-app on its own, with the same error handling as ``smame``."""
    run_app(app)


if __name__ == "__main__":
    main()
