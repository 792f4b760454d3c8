"""``smame batch``: the MDMS batch jobs over every shard of a deployment root, on Dask.

``--scheduler tcp://host:8786`` sends the work to a running cluster; ``--local N`` starts a
cluster of N worker processes for the one job. A root that is not a sharded deployment, or
bad arguments, end with one line and exit 2 before any work; a shard whose task failed is
one line each and exit 1, the other shards' work done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from smame.clirun import EXIT_FAILED, CliError, console, new_app, print_error

if TYPE_CHECKING:
    from smame.batch.runner import ShardResults

app = new_app("Batch jobs over a sharded MDMS on a Dask cluster: settlement, re-VEE, "
              "day close, housekeeping, analyses.")
Root = Annotated[Path, typer.Option("--data", help="Deployment root (shards.json and "
                                                   "shard-kkk data directories).")]
Scheduler = Annotated[str | None, typer.Option(
    help="Dask scheduler address, e.g. tcp://10.0.0.5:8786.")]
Local = Annotated[int | None, typer.Option(
    "--local", help="Start a local cluster of this many worker processes instead.")]
Pinned = Annotated[bool, typer.Option(
    help="Run each shard's task only on the worker with resource shard-kkk (workers that "
         "own their shards' disks).")]
Now = Annotated[str | None, typer.Option(help="Treat this ISO time as now.")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for the scheduler.")]


def _fail(message: str) -> NoReturn:
    raise CliError(message)


def _root(data: Path) -> Path:
    from smame.mdms.sharded import is_sharded_root

    if not data.is_dir():
        _fail(f"--data {data} is not a directory")
    if not is_sharded_root(data):
        _fail(f"--data {data}: not a sharded deployment root (no shards.json); "
              "`smame mdms shards init` creates one")
    return data


def _cluster(scheduler: str | None, local: int | None) -> None:
    if (scheduler is None) == (local is None):
        _fail("give --scheduler ADDRESS or --local N")
    if local is not None and local < 1:
        _fail(f"--local must be at least 1, not {local}")
    if scheduler is not None and "://" not in scheduler:
        _fail(f"--scheduler {scheduler!r} is not an address like tcp://host:8786")


@dataclass(frozen=True)
class _Cluster:
    """Where a job runs: the command's cluster options."""

    scheduler: str | None
    local: int | None
    pinned: bool
    timeout: float


def _run(data: Path, cluster: _Cluster, task: Callable[..., Any], *args: Any) -> ShardResults:
    from smame.batch.cluster import connect
    from smame.batch.runner import run_per_shard

    root = _root(data)
    _cluster(cluster.scheduler, cluster.local)
    if cluster.timeout <= 0:
        _fail(f"--timeout must be > 0, not {cluster.timeout}")
    try:
        with connect(cluster.scheduler, cluster.local, cluster.timeout) as client:
            return run_per_shard(client, root, task, *args, pinned=cluster.pinned)
    except OSError as exc:  # no scheduler at the address, or it went away
        _fail(f"--scheduler {cluster.scheduler}: {exc}")


def _report_failures(done: ShardResults) -> None:
    """One line per failed shard; exit 1 when there was one."""
    for failure in done.failures:
        print_error(f"shard {failure.shard}: {failure.error}")
    if done.failures:
        raise typer.Exit(EXIT_FAILED)


def _now(text: str | None) -> float | None:
    from smame.mdms.cli import _moment

    moment = _moment(text, "--now")
    return None if moment is None else moment.timestamp()


def _day(text: str, option: str) -> date:
    from smame.mdms.cli import _day as parse

    return parse(text, option)


@app.command("settle")
def settle(
    day: Annotated[str, typer.Option("--date", help="JST day to settle, YYYY-MM-DD.")],
    data: Root, scheduler: Scheduler = None, local: Local = None, pinned: Pinned = False,
    timeout: Timeout = 30,
    minutes: Annotated[int, typer.Option(help="Slot length: 30, or 15.")] = 30,
    by: Annotated[str, typer.Option(help="retailer or group.")] = "retailer",
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
) -> None:
    """The national settlement of a day: each shard settled on the cluster, then summed
    per retailer (or balancing group) and slot (SPEC S1, S10)."""
    from smame.batch.combine import combine_settlements
    from smame.batch.tasks import settle_task
    from smame.mdms.cli import _pair, check_settle
    from smame.mdms.jobs import print_settlement, write_table

    target = check_settle(day, minutes, by, output, out)
    done = _run(data, _Cluster(scheduler, local, pinned, timeout), settle_task, target, minutes)
    if done.failures:  # a national sum without a shard would be wrong: none is printed
        _report_failures(done)
    result = combine_settlements(done.in_order())
    table = result.retailers if by == "retailer" else result.groups
    if output == "table" and out is None:
        print_settlement(console, table, "retailer_id" if by == "retailer" else "bg_id", target)
        return
    write_table(console, table, _pair(out) if out is not None else None,
                "csv" if output == "table" else output)


def _print_closes(shard: int, closes: list) -> None:
    for result in closes:
        console.print(f"shard {shard} {result.day}: {result.series:,} series, "
                      f"{result.estimated:,} estimated ({result.replaced_failed:,} replacing "
                      f"failed values, {result.scaled:,} register-scaled)")


@app.command("revee")
def revee(data: Root, scheduler: Scheduler = None, local: Local = None,
          pinned: Pinned = False, now: Now = None, timeout: Timeout = 30) -> None:
    """Close again, on every shard, the days that received data after their close."""
    from smame.batch.tasks import revee_task

    when = _now(now)
    done = _run(data, _Cluster(scheduler, local, pinned, timeout), revee_task, when)
    for shard, closes in sorted(done.results.items()):
        _print_closes(shard, closes)
    console.print(f"re-VEE: {sum(len(c) for c in done.results.values())} day(s) closed again "
                  f"on {len(done.results)} shard(s)")
    _report_failures(done)


@app.command("vee")
def vee(data: Root, scheduler: Scheduler = None, local: Local = None, pinned: Pinned = False,
        timeout: Timeout = 30,
        day: Annotated[list[str] | None, typer.Option(
            "--date", help="Day(s) to close, YYYY-MM-DD; default: every day not closed yet.")
        ] = None,
        now: Now = None,
        compact: Annotated[bool, typer.Option(help="Compact closed days into one file.")
                           ] = True) -> None:
    """Validate pending data and close days (estimate gaps and failed values) on every
    shard, as ``smame mdms vee`` does on one store."""
    from smame.batch.tasks import close_task

    days = [_day(d, "--date") for d in day or []] or None
    when = _now(now)
    done = _run(data, _Cluster(scheduler, local, pinned, timeout), close_task, when, days, compact)
    for shard, (pending, closes) in sorted(done.results.items()):
        if pending:
            console.print(f"shard {shard}: validated {len(pending)} pending batch(es)")
        _print_closes(shard, closes)
    _report_failures(done)


@app.command("housekeeping")
def housekeeping(data: Root, scheduler: Scheduler = None, local: Local = None,
                 pinned: Pinned = False, now: Now = None, timeout: Timeout = 30) -> None:
    """Every shard's timer work (validate, close, compact, purge once a day: SPEC S5), as
    JSON by shard."""
    from smame.batch.tasks import housekeeping_task

    when = _now(now)
    done = _run(data, _Cluster(scheduler, local, pinned, timeout), housekeeping_task, when)
    console.print_json(json.dumps({str(shard): {
        "validated": h.validated, "closed": [d.isoformat() for d in h.closed],
        "compacted": [d.isoformat() for d in h.compacted],
        "purge": h.purge.as_dict() if h.purge else None}
        for shard, h in sorted(done.results.items())}))
    _report_failures(done)


ANALYSES = ("outages", "voltage")


@app.command("analyze")
def analyze(
    analysis: Annotated[str, typer.Argument(help="outages or voltage.")],
    day: Annotated[str, typer.Option("--day", help="JST settlement day (YYYY-MM-DD).")],
    data: Root,
    out: Annotated[Path, typer.Option("--out", help="Directory for the report and its plots.")],
    scheduler: Scheduler = None, local: Local = None, pinned: Pinned = False,
    timeout: Timeout = 30,
) -> None:
    """A day's outages (IEEE 1366 indices) or voltage report over every shard's meters:
    each shard analysed on the cluster, then combined; the same report as
    ``smame analyze`` writes for one store."""
    from smame.analytics.grid import day_outages, day_voltage
    from smame.analytics.grid_report import write_outage_report, write_voltage_report
    from smame.batch.combine import combine_outages, combine_voltage
    from smame.batch.tasks import analyze_task

    if analysis not in ANALYSES:
        _fail(f"analysis {analysis!r}: choose {' or '.join(ANALYSES)}")
    when = _day(day, "--day")
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is not a directory")
    job = day_outages if analysis == "outages" else day_voltage
    done = _run(data, _Cluster(scheduler, local, pinned, timeout), analyze_task, when, job)
    if done.failures:
        _report_failures(done)
    if analysis == "outages":
        result = combine_outages(done.in_order())
        report = write_outage_report(out, day, result.incidents, result.area, result.feeders,
                                     result.start, result.end)
        sustained = sum(not i.momentary for i in result.incidents)
        console.print(f"wrote {report}: {sustained} sustained incidents, "
                      f"SAIDI {result.area.saidi:.3f} min, SAIFI {result.area.saifi:.4f}")
        return
    voltage = combine_voltage(done.in_order())
    report = write_voltage_report(out, day, voltage)
    console.print(f"wrote {report}: {voltage.share_out:.3%} of {voltage.values:,} values out "
                  "of band")
