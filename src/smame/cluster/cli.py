"""``smame cluster up|down|status``: a local multi-process deployment (issue 13, item 6)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from smame.clirun import EXIT_FAILED, CliError, console, new_app

app = new_app("A local multi-process deployment: PostgreSQL, NATS, Dask, MDMS shards, "
              "head-end shards.")

Root = Annotated[Path, typer.Option("--dir", help="Directory of the deployment: its data, "
                                    "logs and cluster.json.")]
_DEFAULT_ROOT = Path("smame-cluster")


@app.command("up")
def up(
    root: Root = _DEFAULT_ROOT,
    hes: Annotated[int, typer.Option(help="Head-end shards (each with its meters).")] = 2,
    workers: Annotated[int, typer.Option(
        help="MDMS shards: each one process that ingests from the bus, serves the API and "
             "is the Dask worker of its shard.")] = 2,
    meters_per_hes: Annotated[int, typer.Option(help="Meters each head-end collects.")] = 20,
    speed: Annotated[float, typer.Option(
        help="Meters' clock: simulated seconds per second (a deployment started again "
             "keeps the clock it had).")] = 60.0,
) -> None:
    """Start every part, each once the one before is ready, and print where each listens."""
    from smame.clock import JST
    from smame.cluster.plan import CLOCK_FILE, Layout, parts, register_fleet, shard_map
    from smame.cluster.plan import write_clock as write_clock_file
    from smame.cluster.supervisor import ClusterError, postgres_part, refuse_if_running, start
    from smame.mdms.sharded import ShardedMdms
    from smame.mdms.shards import SHARD_MAP_FILE, ShardMap
    from smame.servers.postgres import LocalPostgres, PostgresError
    from smame.store.private import private_dir

    layout = Layout(hes, workers, meters_per_hes, speed)
    try:
        layout.check()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if root.exists() and not root.is_dir():
        raise CliError(f"--dir {root} is a file, not a directory")
    mdms_root = root / "mdms"
    wanted = shard_map(layout)
    if (mdms_root / SHARD_MAP_FILE).exists() and ShardMap.load(mdms_root) != wanted:
        raise CliError(f"--dir {root} holds a deployment of another shape; give the same "
                       "--hes, --workers and --meters-per-hes, or another --dir")
    try:
        refuse_if_running(root)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        root.chmod(0o711)  # PostgreSQL may run as its own account: it must pass through
        root = root.resolve()
        mdms_root = root / "mdms"
        if not (mdms_root / SHARD_MAP_FILE).exists():
            ShardedMdms.create(mdms_root, wanted).close()
        for k in range(layout.hes):  # a manifest left by the last run is not readiness
            (private_dir(root / f"hes-{k}") / "meters.json").unlink(missing_ok=True)
        server = LocalPostgres(root / "postgres").start()
        try:
            state = server.create_database("smame")
            now = datetime.now(JST).replace(second=0, microsecond=0)
            register_fleet(mdms_root, state, layout, now)
            if not (root / CLOCK_FILE).exists():  # a deployment up again keeps its time
                write_clock_file(root, layout, now, time.time())
            started = start(parts(root, layout, state), root,
                            started_before=[postgres_part(server, state)])
        except BaseException:
            server.stop()  # stopped by start() too if it got that far: then a no-op
            raise
    except (ClusterError, PostgresError) as exc:
        raise CliError(str(exc)) from None
    width = max(len(p.name) for p in started)
    for part in started:
        console.print(f"{part.name:<{width}}  pid {part.pid:<7}  {part.url}")
    console.print(f"logs in {root / 'logs'}; stop with: smame cluster down --dir {root}")


@app.command("down")
def down(root: Root = _DEFAULT_ROOT) -> None:
    """Stop every part `up` started in --dir (last started first)."""
    from smame.cluster.supervisor import ClusterError, stop

    try:
        stopped = stop(root)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    console.print(f"stopped {len(stopped)} part(s): {', '.join(stopped) or 'none running'}")


@app.command("status")
def status(root: Root = _DEFAULT_ROOT) -> None:
    """One line per part: running or not, pid, where it listens. Exit 1 if any is down."""
    from smame.cluster.supervisor import ClusterError, running

    try:
        parts = running(root)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    if not parts:
        raise CliError(f"no deployment in {root}")
    down_parts = 0
    for part in parts:
        alive = part.alive()
        down_parts += not alive
        console.print(f"{part.name}  {'running' if alive else 'DOWN'}  pid {part.pid}  "
                      f"{part.url}")
    if down_parts:
        raise typer.Exit(EXIT_FAILED)
