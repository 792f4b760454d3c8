"""``smame mdms shards``: create a sharded deployment root, ingest into it, show its map.

A root holds ``shards.json`` and one MDMS data directory per meter range (see sharded.py).
``init`` is the only command that creates one; the others refuse a directory without a
shard map, so a mistyped ``--data`` creates nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from smame.clirun import CliError, console, new_app

shards_app = new_app("A sharded MDMS: data directories by meter range.")
Root = Annotated[Path, typer.Option("--data", help="Deployment root directory.")]


def _sharded(data: Path):
    from smame.mdms.sharded import ShardedMdms, is_sharded_root

    if not is_sharded_root(data):
        raise CliError(f"--data {data}: not a sharded deployment root (no shards.json); "
                       "`smame mdms shards init` creates one")
    try:
        return ShardedMdms(data)
    except ValueError as exc:
        raise CliError(str(exc)) from None


@shards_app.command("init")
def init(
    data: Root,
    shards: Annotated[int, typer.Option(help="Number of shards.")],
    first_meter: Annotated[int, typer.Option(help="First meter id of the first shard.")],
    meters: Annotated[int, typer.Option(help="Meter ids covered, split evenly.")],
) -> None:
    """Create a deployment root of SHARDS empty stores over METERS ids from FIRST_METER."""
    from smame.mdms.sharded import ShardedMdms
    from smame.mdms.shards import ShardMap

    try:
        shard_map = ShardMap.even(shards, first_meter, meters)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if data.exists() and not data.is_dir():
        raise CliError(f"--data {data} is not a directory")
    if data.is_dir() and any(data.iterdir()):
        raise CliError(f"--data {data} is not empty; a deployment root starts empty")
    with ShardedMdms.create(data, shard_map):
        pass
    for shard in range(shard_map.shards):
        lo, hi = shard_map.range_of(shard)
        console.print(f"{ShardMap.directory(data, shard)}: meters {lo}..{hi - 1}")


@shards_app.command("show")
def show(data: Root) -> None:
    """The shard map as JSON: each shard's directory and meter-id range."""
    from smame.mdms.shards import ShardMap

    sharded = _sharded(data)
    shard_map = sharded.map
    console.print_json(json.dumps([
        {"shard": k, "directory": str(ShardMap.directory(data, k)),
         "first_meter": shard_map.range_of(k)[0], "last_meter": shard_map.range_of(k)[1] - 1}
        for k in range(shard_map.shards)]))


@shards_app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Parquet/CSV reading files or fleet "
                                                "simulation directories.")],
    data: Root,
    validate: Annotated[bool, typer.Option(help="Run VEE as data arrives.")] = True,
) -> None:
    """Ingest reading files into the shards owning their meters; every file is checked
    (formats and meter ranges) before anything is stored."""
    from smame.mdms.files import FileFormatError, read_reading_file
    from smame.mdms.seed import is_simulation_dir

    sharded = _sharded(data)
    with sharded:
        batches, simulations = [], []
        for path in paths:
            if is_simulation_dir(path):
                simulations.append(path)
                continue
            if not path.is_file():
                raise CliError(f"{path}: no such file (or not a simulation directory)")
            try:
                batch = read_reading_file(path)
                sharded.split(batch)
            except (FileFormatError, ValueError) as exc:
                raise CliError(f"{path}: {exc}") from None
            batches.append((path, batch))
        received = stored = 0
        for path, batch in batches:
            done = sharded.ingest(batch, str(path), validate)
            received, stored = received + done.received, stored + done.stored
            console.print(f"{path}: {done.received:,} rows, {done.stored:,} new, "
                          f"{len({k for k, _ in done.parts})} shard(s)")
        for directory in simulations:
            try:  # meters outside the map are found before anything is stored
                done = sharded.ingest_simulation(directory, validate)
            except ValueError as exc:
                raise CliError(f"{directory}: {exc}") from None
            received, stored = received + done.received, stored + done.stored
            console.print(f"{directory}: {done.received:,} rows, {done.stored:,} new")
    console.print(f"ingested {received:,} rows, {stored:,} stored in {data}")
