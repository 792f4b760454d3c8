"""What ``smame cluster up`` starts, and in which order (issue 13, item 6).

A local deployment under ROOT, every part its own process:

- ``postgres``: the shared state of the API processes (clients, consents, commands, rate
  limits, the two-person rule), in ``ROOT/postgres``;
- ``nats``: the bus (NATS JetStream), its stream files in ``ROOT/nats``;
- ``dask-scheduler``: batch work (``smame batch --pinned``);
- ``mdms-K``: MDMS shard K (``ROOT/mdms/shard-K``, by meter range): the one process that
  owns the shard's store; it ingests the shard's batches from the bus, serves the API and
  console for the shard's meters, runs ``smame mdms`` jobs for other processes, and is the
  Dask worker holding shard K's resource, so batch tasks for the shard run on its store;
- ``meters-K`` and ``hes-K``: head-end shard K and the emulated meters it collects over
  DLMS/COSEM (pushes and pulls, on an accelerated clock); it publishes to the bus.
"""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from smame.batch.cluster import scheduler_argv
from smame.cluster.supervisor import Part
from smame.mdms.shards import ShardMap

__all__ = ["CLOCK_FILE", "Layout", "parts", "register_fleet", "shard_map", "write_clock"]

SMAME = (sys.executable, "-m", "smame")
RUN_FOREVER_S = 10 * 365 * 86400  # a head-end runs until `cluster down`


@dataclass(frozen=True)
class Layout:
    """How many of each part, and the fleet they collect."""

    hes: int = 2
    workers: int = 2
    meters_per_hes: int = 20
    speed: float = 60.0  # simulated seconds per second on the meters' clocks
    first_meter: int = 100_000_001

    def check(self) -> None:
        if not 1 <= self.hes <= 16 or not 1 <= self.workers <= 16:
            raise ValueError("--hes and --workers must be within 1–16")
        if not 1 <= self.meters_per_hes <= 2000:
            raise ValueError("--meters-per-hes must be within 1–2000 (one TCP server each)")
        if not 1 <= self.speed <= 1440:
            raise ValueError("--speed must be within 1–1440")


def shard_map(layout: Layout) -> ShardMap:
    """The MDMS shards: ``workers`` even meter ranges over every head-end's meters."""
    return ShardMap.even(layout.workers, layout.first_meter,
                         layout.hes * layout.meters_per_hes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOCK_FILE = "clock.json"


def write_clock(root: Path, layout: Layout, now: datetime, wall: float) -> Path:
    """The deployment's one meter time (``smame.clock.clock_of``): it read ``now`` at POSIX
    wall time ``wall`` and runs at ``layout.speed``. Meters and MDMS shards all follow it,
    so no shard takes another's readings for the future."""
    path = root / CLOCK_FILE
    path.write_text(json.dumps({"start": now.isoformat(), "speed": layout.speed,
                                "wall_origin": wall}) + "\n", encoding="utf-8")
    return path


def parts(root: Path, layout: Layout, state_url: str) -> list[Part]:
    """Every process after PostgreSQL, in start order (``clock.json`` written before)."""
    nats_port, scheduler_port = free_port(), free_port()
    nats = f"nats://127.0.0.1:{nats_port}"
    scheduler = f"tcp://127.0.0.1:{scheduler_port}"
    mdms_root = root / "mdms"
    plan = [
        Part("nats", (*SMAME, "bus", "server", "--store", str(root / "nats"),
                      "--port", str(nats_port)), nats, nats_port),
        Part("dask-scheduler", tuple(scheduler_argv("127.0.0.1", scheduler_port)), scheduler,
             scheduler_port),
    ]
    for k in range(layout.workers):
        port = free_port()
        plan.append(Part(f"mdms-{k}", (
            *SMAME, "api", "serve", "--data", str(ShardMap.directory(mdms_root, k)),
            "--port", str(port), "--state", state_url, "--consume", nats, "--shard", str(k),
            "--clock", str(root / CLOCK_FILE), "--dask", scheduler),
            f"http://127.0.0.1:{port}/v1 (Dask worker of shard {k})", port))
    for k in range(layout.hes):
        hes_dir = root / f"hes-{k}"
        manifest = hes_dir / "meters.json"
        pushes, metrics = free_port(), free_port()
        first = layout.first_meter + k * layout.meters_per_hes
        plan.append(Part(f"meters-{k}", (
            *SMAME, "meter", "serve", "--meters", str(layout.meters_per_hes),
            "--first-meter-id", str(first), "--port", "0", "--demo-keys",
            "--clock", str(root / CLOCK_FILE), "--seed", str(k), "--manifest", str(manifest),
            "--push", f"127.0.0.1:{pushes}"),
            f"DLMS meters {first}..{first + layout.meters_per_hes - 1}",
            ready_file=manifest))
        plan.append(Part(f"hes-{k}", (
            *SMAME, "hes", "run", "--manifest", str(manifest), "--listen", f"127.0.0.1:{pushes}",
            "--run-for", str(RUN_FOREVER_S), "--demo-keys", "--data", str(hes_dir),
            "--publish", nats, "--shards", str(mdms_root), "--metrics-port", str(metrics)),
            f"udp://127.0.0.1:{pushes} (metrics http://127.0.0.1:{metrics}/metrics)",
            metrics))
    return plan


def register_fleet(mdms_root: Path, state_url: str, layout: Layout, now: datetime) -> int:
    """Register every head-end's meters (the fleets ``meters-K`` serve: seed K, ids from
    ``first_meter + K * meters_per_hes``) in their MDMS shard's registry and in the shared
    state's, which the API processes read; idempotent. Returns meters newly registered."""
    from smame.mdms.seed import seed_registry
    from smame.mdms.sharded import ShardedMdms
    from smame.meter import Fleet, FleetConfig
    from smame.meter.simulate import meters_table
    from smame.store.registry import Registry

    shared = Registry.postgres(state_url)
    added = 0
    try:
        with ShardedMdms(mdms_root) as sharded:
            for k in range(layout.hes):
                fleet = Fleet(FleetConfig(
                    meters=layout.meters_per_hes, start=now, seed=k,
                    first_meter_id=layout.first_meter + k * layout.meters_per_hes))
                meters, joint = meters_table(fleet), fleet.joint_meters()
                added += seed_registry(shared, meters, joint, now.date())
                sharded.seed_registry(meters, joint, now.date())
    finally:
        shared.close()
    return added
