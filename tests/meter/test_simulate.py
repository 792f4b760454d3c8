"""National-scale runs: shards with their own meters, run in parallel processes."""

import json

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from smame.meter import FleetConfig
from smame.meter.simulate import shard_configs, simulate
from smame.readings import validate_batch
from tests.conftest import jst


def test_shards_partition_the_meter_ids():
    config = FleetConfig(meters=1003, start=jst(2026, 7, 1), seed=2)
    shards = shard_configs(config, 250)
    assert [s.meters for s in shards] == [201, 201, 201, 200, 200]
    assert [s.shard for s in shards] == [0, 1, 2, 3, 4]
    ids = np.concatenate([np.arange(s.first_meter_id, s.first_meter_id + s.meters)
                          for s in shards])
    assert np.array_equal(ids, np.arange(config.first_meter_id, config.first_meter_id + 1003))
    with pytest.raises(ValueError, match="shard size"):
        shard_configs(config, 0)


def test_a_sharded_fleet_in_two_processes_writes_every_meter_once(tmp_path):
    config = FleetConfig(meters=400, start=jst(2026, 7, 1), seed=2, retention=None)
    summary = simulate(config, 1, tmp_path, shard_meters=200, workers=2)
    assert summary["shards"] == 2
    assert summary["workers"] == 2
    table = validate_batch(pq.read_table(tmp_path / "readings" / "date=2026-07-01"))
    assert sorted((tmp_path / "readings" / "date=2026-07-01").iterdir())[0].name == (
        "part-0000.parquet")
    assert table.num_rows == summary["rows"]
    thirty = table.filter(pc.equal(table.column("channel"), 140))
    ids, counts = np.unique(thirty.column("meter_id").to_numpy(), return_counts=True)
    assert len(ids) == 400
    assert (counts == 48).all()
    meters = pq.read_table(tmp_path / "meters")
    assert sorted(meters.column("meter_id").to_pylist()) == ids.tolist()
    # Shards are different households under the same weather.
    assert json.loads((tmp_path / "summary.json").read_text())["energy_kwh"]["import"] > 0


def test_without_readings_only_the_summary_events_and_meters_are_written(tmp_path):
    config = FleetConfig(meters=200, start=jst(2026, 7, 1), seed=2, retention=None)
    summary = simulate(config, 1, tmp_path, write_readings=False)
    assert summary["rows"] > 200 * 48
    assert not (tmp_path / "readings").exists()
    assert (tmp_path / "events" / "date=2026-07-01" / "part-0000.parquet").exists()
    assert pq.read_table(tmp_path / "meters").num_rows == 200
