"""``smame capacity``: the national field-network capacity plan as a Markdown report."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smame.clirun import CliError, console, err_console
from smame.fan.config import METHODS, FanConfigError, load_config, load_mix

__all__ = ["capacity"]


def _fail(message: str) -> CliError:
    return CliError(message)


def parse_methods(text: str) -> list[str]:
    """``multihop,1n,plc`` as a list; ValueError naming the first unknown method."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise ValueError("--methods: give at least one of multihop, 1n, plc")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"--methods: unknown method {m!r} (methods: {', '.join(METHODS)})")
    return list(dict.fromkeys(methods))


def capacity(
    meters: Annotated[int, typer.Option(help="Meters in the fleet.")] = 80_000_000,
    methods: Annotated[str, typer.Option(help="Comma-separated: multihop, 1n, plc.")] =
        "multihop,1n,plc",
    mix: Annotated[Path | None, typer.Option(
        help="YAML mapping of method shares, e.g. {multihop: 0.8, 1n: 0.1, plc: 0.1}.")] = None,
    config: Annotated[Path | None, typer.Option(
        help="FAN config overlaying the shipped default.yaml (see docs/fan.md).")] = None,
    sample_areas: Annotated[int | None, typer.Option(
        help="Representative areas per method (default from the config).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    out: Annotated[Path, typer.Option(help="Directory for report.md, plots, summary.json.")] =
        Path("capacity-out"),
) -> None:
    """Simulate one day of the field network for the fleet; write a Markdown report."""
    from smame.fan.national import areas_to_simulate, run_national
    from smame.fan.report import write_report

    try:
        wanted = parse_methods(methods)
        if not 1 <= meters <= 200_000_000:
            raise ValueError("--meters must be within 1–200000000")
        if sample_areas is not None and not 1 <= sample_areas <= 100_000:
            raise ValueError("--sample-areas must be within 1–100000")
        if seed is not None and not 0 <= seed < 2**32:
            raise ValueError("--seed must be within 0–4294967295")
        fleet: dict = {"meters": meters}
        if sample_areas is not None:
            fleet["sample_areas"] = sample_areas
        if seed is not None:
            fleet["seed"] = seed
        cfg = load_config(config, {"fleet": fleet})
        if mix is not None:
            cfg = load_mix(mix, cfg)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out}: exists and is not a directory")
        if not any(cfg.fleet.mix.shares()[m] > 0 for m in wanted):
            raise ValueError("the mix gives no meters to the methods asked for")
    except (FanConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None

    started = time.perf_counter()
    total = areas_to_simulate(cfg, [m for m in wanted if cfg.fleet.mix.shares()[m] > 0])
    with Progress(TextColumn("simulating areas"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task("areas", total=total)
        results = run_national(cfg, wanted, lambda: bar.advance(task))
    elapsed = time.perf_counter() - started
    command = "smame capacity " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "capacity"
    path = write_report(results, cfg, out, elapsed, command)
    console.print(f"wrote {path} ({elapsed:.1f} s)", highlight=False, soft_wrap=True)
