"""Fixtures of the batch tests: one simulated fleet, ingested into one store and into a
sharded root, and a local Dask cluster of worker processes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

from smame.clock import JST, SimulatedClock
from smame.mdms import Mdms
from smame.mdms.seed import ingest_simulation
from smame.mdms.sharded import ShardedMdms
from smame.mdms.shards import ShardMap
from smame.meter import FleetConfig, OutputConfig
from smame.meter.simulate import simulate
from smame.store.layout import day_start

FIRST = date(2026, 7, 1)
DAYS = 2
NOW = day_start(FIRST) + (DAYS + 1) * 86400 + 3600  # 01:00 JST after the last day


@dataclass(frozen=True)
class Stores:
    """The same fleet's data in one store (``single``) and in a sharded root (``root``)."""

    single: Path
    root: Path
    shard_map: ShardMap


@pytest.fixture(scope="session")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet")
    config = FleetConfig(meters=240, start=datetime.combine(FIRST, datetime.min.time(), JST),
                         seed=3, retention=None, transformer_outages_per_year=150,
                         output=OutputConfig(five_minute_share=0.3))
    simulate(config, DAYS, out)
    return out


def transformer_split(fleet: Path) -> ShardMap:
    """Two shards split at the transformer boundary nearest the middle of the fleet (so no
    transformer spans shards), covering joint and sub-meter hosts alike."""
    meters = pa.concat_tables([pq.read_table(p) for p in sorted((fleet / "meters").glob("*"))])
    ids = meters.column("meter_id").to_numpy()
    transformer = meters.column("transformer").to_numpy()
    changes = np.flatnonzero(np.diff(transformer)) + 1
    cut = int(changes[np.argmin(np.abs(changes - ids.size // 2))])
    return ShardMap((int(ids[0]), int(ids[cut]), int(ids[-1]) + 1))


def build_stores(base: Path, fleet: Path) -> Stores:
    clock = SimulatedClock(NOW)
    shard_map = transformer_split(fleet)
    with Mdms(base / "single", clock=clock) as mdms:
        ingest_simulation(mdms, fleet)
    with ShardedMdms.create(base / "root", shard_map, clock=clock) as sharded:
        sharded.ingest_simulation(fleet)
    return Stores(base / "single", base / "root", shard_map)


@pytest.fixture(scope="session")
def ingested(tmp_path_factory: pytest.TempPathFactory, fleet_dir: Path) -> Stores:
    """Stores as ingested; copy before changing them (see ``fresh``)."""
    return build_stores(tmp_path_factory.mktemp("stores"), fleet_dir)


@pytest.fixture
def fresh(tmp_path: Path, ingested: Stores) -> Stores:
    """A private copy of the ingested stores, for tests that change them."""
    shutil.copytree(ingested.single, tmp_path / "single")
    shutil.copytree(ingested.root, tmp_path / "root")
    return Stores(tmp_path / "single", tmp_path / "root", ingested.shard_map)


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def days() -> list[date]:
    return [FIRST + timedelta(days=k) for k in range(DAYS)]
