"""``smame cba``: the seed's cost-benefit table and minimax-regret case as a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from smame.clirun import CliError, console, existing_store, new_app
from smame.yamlfile import ParameterFileError


def _fail(message: str) -> NoReturn:
    raise CliError(message)


def cba(
    out: Annotated[Path, typer.Option(help="Directory for cba.md and its plots.")],
    params: Annotated[Path | None, typer.Option(
        help="Cost-benefit parameter file (YAML); default: the seed's table.")] = None,
    regret: Annotated[Path | None, typer.Option(
        help="Minimax-regret case (YAML); default: the seed's 15-minute case.")] = None,
) -> None:
    """Recompute the seed's 10-year cost-benefit table (SPEC A1) with its sensitivity, and
    the minimax-regret choice (SPEC A2); write a Markdown report with PNG plots."""
    from smame.analytics.cba import load_parameters
    from smame.analytics.cba_report import write_report
    from smame.analytics.regret import load_case

    try:
        table = load_parameters(params)
        case = load_case(regret)
    except ParameterFileError as exc:
        _fail(str(exc))
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is not a directory")
    try:
        report = write_report(table, case, out)
    except OSError as exc:
        _fail(f"cannot write the report into {out}: {exc.strerror}")
    result = case.solve()
    console.print(f"wrote {report}; minimax regret chooses {result.choice!r}")


analyze_app = new_app("Grid analyses of a day's meter data (S8, A3).")
DataDir = Annotated[Path, typer.Option("--data", help="MDMS data directory.")]
Day = Annotated[str, typer.Option("--day", help="JST settlement day (YYYY-MM-DD).")]
Out = Annotated[Path, typer.Option("--out", help="Directory for the report and its plots.")]


def _analyse_day(data: Path, day: str, out: Path, analysis):
    """``analysis(mdms, day)`` over the MDMS in ``data``; a bad day, a missing store or a
    refused analysis is one line, with nothing created."""
    from datetime import date

    from smame.mdms import Mdms

    try:
        when = date.fromisoformat(day)
    except ValueError:
        _fail(f"--day {day!r} is not a date (YYYY-MM-DD)")
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is not a directory")
    with Mdms(existing_store(data)) as mdms:
        try:
            return analysis(mdms, when)
        except ValueError as exc:
            _fail(str(exc))


@analyze_app.command("outages")
def analyze_outages(data: DataDir, day: Day, out: Out) -> None:
    """Locate the day's outages (premise, transformer, feeder) and compute SAIDI, SAIFI,
    CAIDI and MAIFI per feeder and for the area (IEEE 1366)."""
    from smame.analytics.grid import day_outages
    from smame.analytics.grid_report import write_outage_report

    result = _analyse_day(data, day, out, day_outages)
    report = write_outage_report(out, day, result.incidents, result.area, result.feeders,
                                 result.start, result.end)
    sustained = sum(not i.momentary for i in result.incidents)
    console.print(f"wrote {report}: {sustained} sustained incidents, "
                  f"SAIDI {result.area.saidi:.3f} min, SAIFI {result.area.saifi:.4f}")


@analyze_app.command("voltage")
def analyze_voltage(data: DataDir, day: Day, out: Out) -> None:
    """The day's 5-minute voltages against 101 ± 6 V and 202 ± 20 V: events, minutes per
    transformer, worst meters and a tap recommendation per transformer."""
    from smame.analytics.grid import day_voltage
    from smame.analytics.grid_report import write_voltage_report

    result = _analyse_day(data, day, out, day_voltage)
    report = write_voltage_report(out, day, result)
    console.print(f"wrote {report}: {result.share_out:.3%} of {result.values:,} values out of "
                  "band")


@analyze_app.command("losses")
def analyze_losses(
    data: DataDir, day: Day, out: Out,
    head: Annotated[Path | None, typer.Option(
        help="CSV of feeder_id,wh: energy into each feeder that day (substation metering); "
             "adds the energy balance with its non-technical share.")] = None,
) -> None:
    """Technical losses of the modelled feeders under the day's metered loads, the energy
    balance against feeder-head energy, and the substation voltage with the least losses
    that keeps every customer in band (A3)."""
    from smame.analytics.grid import day_losses
    from smame.analytics.grid_report import write_loss_report

    head_wh = _read_head(head) if head is not None else None
    result = _analyse_day(data, day, out, lambda mdms, when: day_losses(mdms, when, head_wh))
    report = write_loss_report(out, day, result)
    shares = ", ".join(f"feeder {f} {s:.2%}" for f, s in sorted(result.technical_share.items()))
    console.print(f"wrote {report}: technical losses {shares}")


def _read_head(path: Path) -> dict[int, float]:
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        return {int(row["feeder_id"]): float(row["wh"]) for row in rows}
    except OSError as exc:
        _fail(f"--head {path}: cannot read ({exc.strerror})")
    except (KeyError, ValueError, TypeError):
        _fail(f"--head {path}: needs columns feeder_id,wh with numbers")
