"""The ``smame`` command."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from smame.analytics import cli as analytics_cli
from smame.api import cli as api_cli
from smame.batch import cli as batch_cli
from smame.bus import cli as bus_cli
from smame.clirun import CliError, console, new_app, run_app
from smame.clock import JST
from smame.cluster import cli as cluster_cli
from smame.dlms import cli as dlms_cli
from smame.echonet import cli as echonet_cli
from smame.fan.cli import capacity as fan_capacity
from smame.hes import cli as hes_cli
from smame.mdms import cli as mdms_cli
from smame.messages import LANGUAGES, set_language, tr

__all__ = ["CliError", "app", "main", "run_app"]

app = new_app("smame (スマメ): Japan's next-generation smart meter system.", name="smame")
fleet_app = new_app("Simulate fleets of next-generation meters.")
app.add_typer(fleet_app, name="fleet")
app.add_typer(dlms_cli.app, name="meter")
app.add_typer(echonet_cli.app, name="broute")
app.add_typer(hes_cli.app, name="hes")
app.add_typer(mdms_cli.app, name="mdms")
app.add_typer(bus_cli.app, name="bus")
app.add_typer(api_cli.api_app, name="api")
app.add_typer(api_cli.clients_app, name="clients")
app.add_typer(api_cli.consents_app, name="consents")
app.add_typer(api_cli.audit_app, name="audit")
app.command("cba")(analytics_cli.cba)
app.add_typer(analytics_cli.analyze_app, name="analyze")
app.command("capacity")(fan_capacity)
app.add_typer(cluster_cli.app, name="cluster")
app.add_typer(batch_cli.app, name="batch")



@app.callback(epilog="Exit status: 0 done; 1 ran, but some or all of it failed (e.g. a "
                     "command that failed on a meter); 2 nothing done (bad arguments, missing "
                     "or unwritable files).")
def _smame(lang: Annotated[str | None, typer.Option(
        help="Language of messages: en or ja (default: LC_ALL, LC_MESSAGES or LANG).")
        ] = None) -> None:
    """smame (スマメ): Japan's next-generation smart meter system."""
    if lang is not None and lang not in LANGUAGES:
        raise CliError(f"--lang {lang!r}: choose {' or '.join(LANGUAGES)}")
    set_language(lang)


def writable_directory(out: Path, option: str = "--out") -> Path:
    """Create ``out`` (and its parents) for output, or a one-line :class:`CliError`."""
    if out.exists() and not out.is_dir():
        raise CliError(tr("--out {out} is a file, not a directory", out=out))
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".smame-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise CliError(tr("--out {out}: cannot write: {reason}", out=out,
                          reason=exc.strerror or exc)) from None
    return out


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
        raise CliError(tr("--days must be > 0, got {days}", days=days))
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
    writable_directory(out)
    columns = (TextColumn("[bold]simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("simulate", total=meters * days * 1440)
        try:
            summary = simulate(config, days, out, shard_meters, workers,
                               lambda done: progress.advance(task, done), readings)
        except OSError as exc:
            raise CliError(tr("--out {out}: cannot write: {reason}", out=out,
                              reason=exc.strerror or exc)) from None
    energy = summary["energy_kwh"]
    console.print(tr(
        "{wrote} {rows:,} readings of {meters:,} meters × {days} day(s) in {shards} shard(s) "
        "to {out}  ({rate:.1f} M meter-minutes/s)",
        wrote=f"[green]{tr('wrote') if readings else tr('simulated')}[/]", rows=summary["rows"],
        meters=meters, days=days, shards=summary["shards"], out=out,
        rate=summary["meter_minutes_per_s"] / 1e6))
    console.print(f"import {energy['import']:,.1f} kWh, export {energy['export']:,.1f} kWh; "
                  f"events {summary['events']}")


@app.command("demo")
def demo(
    meters: Annotated[int, typer.Option(help="Meters in the demo fleet.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1440,
    console_port: Annotated[int, typer.Option(
        "--port", help="Port of the API and operator console served after the day "
                       "(0: any free port).")] = 8080,
    serve: Annotated[bool, typer.Option(
        help="Serve the API and console after the day (--no-serve: print and exit).")] = True,
    serve_for: Annotated[float | None, typer.Option(
        help="Seconds to serve the console; default until Ctrl-C.")] = None,
    network: Annotated[str, typer.Option(
        help="How the head-end reaches the meters: mesh (the multi-hop 920 MHz model) "
             "or tcp (loopback).")] = "mesh",
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
    if network not in ("mesh", "tcp"):
        raise CliError(f"--network must be mesh or tcp, not {network!r}")
    try:
        run_demo(console, meters=meters, seed=seed, speed=speed,
                 port=console_port if serve else None, serve_for=serve_for, network=network)
    except ListenError as exc:
        raise CliError(tr("{reason}; choose another port: --port N, or make demo PORT=N "
                          "(0: any free port)", reason=exc.strerror)) from exc


def main() -> None:
    run_app(app, "smame")


if __name__ == "__main__":
    # Run the importable smame.cli, not this __main__ copy: the sub-commands raise
    # smame.cli.CliError, which this copy's handler would not catch.
    from smame.cli import main as importable_main

    importable_main()
