"""The ``smame`` command."""

from __future__ import annotations

import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from smame.api import cli as api_cli
from smame.clock import JST
from smame.dlms import cli as dlms_cli
from smame.echonet import cli as echonet_cli
from smame.fan.cli import capacity as fan_capacity
from smame.hes import cli as hes_cli
from smame.mdms import cli as mdms_cli

app = typer.Typer(
    name="smame",
    help="smame (スマメ): Japan's next-generation smart meter system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
fleet_app = typer.Typer(help="Simulate fleets of next-generation meters.", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")
app.add_typer(dlms_cli.app, name="meter")
app.add_typer(echonet_cli.app, name="broute")
app.add_typer(hes_cli.app, name="hes")
app.add_typer(mdms_cli.app, name="mdms")
app.add_typer(api_cli.api_app, name="api")
app.add_typer(api_cli.clients_app, name="clients")
app.add_typer(api_cli.consents_app, name="consents")
app.add_typer(api_cli.audit_app, name="audit")
app.command("capacity")(fan_capacity)

console = Console()
err_console = Console(stderr=True)


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"--start {text!r} is not a date (YYYY-MM-DD)") from None


def jst_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), JST)


@fleet_app.command("simulate")
def fleet_simulate(
    meters: Annotated[int, typer.Option(help="Number of meters.")] = 1000,
    days: Annotated[int, typer.Option(help="Number of JST days to simulate.")] = 1,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (JST).")] = "2026-07-01",
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 0,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("fleet-out"),
    pv_share: Annotated[float, typer.Option(help="Share of homes with PV.")] = 0.15,
    ev_share: Annotated[float, typer.Option(help="Share of homes with an EV charger.")] = 0.06,
    five_minute_share: Annotated[
        float, typer.Option(help="Share of meters whose 5-minute values are written.")
    ] = 0.13,
    one_minute: Annotated[bool, typer.Option(help="Also write every 1-minute value.")] = False,
    workers: Annotated[int, typer.Option(help="Processes simulating shards in parallel.")] = 1,
    shard_meters: Annotated[
        int, typer.Option(help="Meters per shard; larger fleets are simulated shard by shard.")
    ] = 2_000_000,
    readings: Annotated[
        bool, typer.Option(help="Write the readings (--no-readings: summary and events only).")
    ] = True,
) -> None:
    """Simulate a fleet and write its reading batches as Parquet, with summary.json."""
    from smame.meter import FleetConfig, OutputConfig
    from smame.meter.simulate import simulate

    if days <= 0:
        raise CliError(f"--days must be > 0, got {days}")
    if workers <= 0 or shard_meters <= 0:
        raise CliError("--workers and --shard-meters must be > 0")
    try:
        config = FleetConfig(
            meters=meters,
            start=jst_midnight(parse_day(start)),
            seed=seed,
            pv_share=pv_share,
            ev_share=ev_share,
            retention=None,  # batches stream to Parquet; the meters need not keep history
            output=OutputConfig(five_minute_share=five_minute_share, one_minute=one_minute),
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    columns = (TextColumn("[bold]simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("simulate", total=meters * days * 1440)
        summary = simulate(config, days, out, shard_meters, workers,
                           lambda done: progress.advance(task, done), readings)
    energy = summary["energy_kwh"]
    console.print(
        f"[green]{'wrote' if readings else 'simulated'}[/] {summary['rows']:,} readings of "
        f"{meters:,} meters × {days} day(s) "
        f"in {summary['shards']} shard(s) to {out}  "
        f"({summary['meter_minutes_per_s'] / 1e6:.1f} M meter-minutes/s)"
    )
    console.print(f"import {energy['import']:,.1f} kWh, export {energy['export']:,.1f} kWh; "
                  f"events {summary['events']}")


@app.command("demo")
def demo(
    meters: Annotated[int, typer.Option(help="Meters in the demo fleet.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 2880,
    console_port: Annotated[int, typer.Option(
        "--port", help="Port of the API and operator console served after the day "
                       "(0: any free port).")] = 8080,
    serve: Annotated[bool, typer.Option(
        help="Serve the API and console after the day (--no-serve: print and exit).")] = True,
    serve_for: Annotated[float | None, typer.Option(
        help="Seconds to serve the console; default until Ctrl-C.")] = None,
) -> None:
    """Run the system on a small fleet for a simulated day and print what happened."""
    from smame.api.live import ListenError
    from smame.demo import run_demo

    if meters < 60:
        raise CliError("the demo needs at least 60 meters (it commands 40 of them)")
    if not 1 <= speed <= 20_000:
        raise CliError("--speed must be within 1–20000")
    if serve_for is not None and serve_for <= 0:
        raise CliError("--serve-for must be > 0")
    if not 0 <= console_port <= 65535:
        raise CliError("--port must be within 0–65535")
    try:
        run_demo(console, meters=meters, seed=seed, speed=speed,
                 port=console_port if serve else None, serve_for=serve_for)
    except ListenError as exc:
        raise CliError(exc.strerror) from exc


def run_app(typer_app: typer.Typer) -> None:
    """Run a Typer app with user errors (:class:`CliError`) as one line and exit code 2."""
    try:
        typer_app()
    except CliError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(2)


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
