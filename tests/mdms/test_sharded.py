"""A sharded MDMS root: rows routed to the shard owning their meter, and a meter's readings
the same from the sharded root as from one store with the same data (issue 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from smame.cli import app
from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.mdms.sharded import ShardedMdms, owner_meter_ids
from smame.mdms.shards import ShardMap
from smame.store import IMD
from tests.mdms.helpers import START, day_batch

METERS = [101, 150, 199, 200, 260, 299]
MAP = ShardMap((100, 200, 300))


def _values(meters: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 90, (meters, 48))


@pytest.fixture
def both(tmp_path: Path):
    clock = SimulatedClock(START + 3 * 86400)
    single = Mdms(tmp_path / "single", clock=clock)
    sharded = ShardedMdms.create(tmp_path / "root", MAP, clock=clock)
    batch = day_batch(_values(len(METERS)), METERS)
    single.ingest(batch)
    sharded.ingest(batch)
    yield single, sharded
    single.close()
    sharded.close()


def test_a_meters_readings_are_the_same_as_from_one_store(both) -> None:
    single, sharded = both
    for meter in METERS:
        assert sharded.readings(meter).equals(single.readings(meter))
        assert sharded.readings(meter).num_rows == 49 + 48  # registers at 0..48, 48 values
    across = [150, 260, 101]
    assert sharded.readings(across, channels=[140]).equals(
        single.readings(across, channels=[140]))


def test_rows_are_stored_only_in_the_shard_owning_their_meter(both) -> None:
    _, sharded = both
    for shard in range(MAP.shards):
        stored = sharded.shard(shard).readings(None).column("meter_id").to_numpy()
        lo, hi = MAP.range_of(shard)
        assert stored.size
        assert ((stored >= lo) & (stored < hi)).all()
    total = sum(sharded.shard(k).readings(None).num_rows for k in range(MAP.shards))
    assert total == len(METERS) * (48 + 49)


def test_a_revised_value_becomes_a_new_version_in_its_shard_as_in_one_store(both) -> None:
    single, sharded = both
    revised = day_batch(_values(len(METERS), seed=2), METERS)
    alone = single.ingest(revised)
    again = sharded.ingest(revised)
    assert again.stored == alone.stored > len(METERS) * 40  # values and registers revised
    for meter in (150, 260):
        assert sharded.readings(meter, current=False, kind=IMD).equals(
            single.readings(meter, current=False, kind=IMD))
        assert sharded.readings(meter).equals(single.readings(meter))


def test_ingesting_a_batch_again_changes_nothing(both) -> None:
    _, sharded = both
    again = sharded.ingest(day_batch(_values(len(METERS)), METERS))
    assert again.stored == 0
    assert all(result.duplicate_batch for _, result in again.parts)


def test_a_meter_of_no_shard_stores_nothing(both) -> None:
    _, sharded = both
    before = [sharded.shard(k).last_version() for k in range(MAP.shards)]
    with pytest.raises(ValueError, match="meter 300 is in no shard"):
        sharded.ingest(day_batch(_values(2), [150, 300]))
    assert [sharded.shard(k).last_version() for k in range(MAP.shards)] == before


def test_joint_and_sub_meters_live_with_their_host() -> None:
    hosts = owner_meter_ids([150, 5_000_000_150, 6_000_000_260, 7_000_000_101,
                             8_000_000_299])
    assert hosts.tolist() == [150, 150, 260, 101, 299]


def test_a_root_is_created_once(tmp_path: Path) -> None:
    ShardedMdms.create(tmp_path / "root", MAP).close()
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == [
        "shard-000", "shard-001", "shards.json"]
    with pytest.raises(ValueError, match="already has a shard map"):
        ShardedMdms.create(tmp_path / "root", MAP)
    Mdms(tmp_path / "plain").close()
    with pytest.raises(ValueError, match="unsharded MDMS store"):
        ShardedMdms.create(tmp_path / "plain", MAP)


def test_cli_init_ingest_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    root = tmp_path / "root"
    made = runner.invoke(app, ["mdms", "shards", "init", "--data", str(root), "--shards", "2",
                               "--first-meter", "100", "--meters", "200"])
    assert made.exit_code == 0, made.output
    assert "meters 100..199" in made.output
    assert "meters 200..299" in made.output
    reading_file = tmp_path / "day.parquet"
    import pyarrow.parquet as pq

    pq.write_table(day_batch(_values(len(METERS)), METERS), reading_file)
    done = runner.invoke(app, ["mdms", "shards", "ingest", str(reading_file), "--data",
                               str(root)])
    assert done.exit_code == 0, done.output
    assert "2 shard(s)" in done.output
    shown = runner.invoke(app, ["mdms", "shards", "show", "--data", str(root)])
    assert '"first_meter": 200' in shown.output
    with ShardedMdms(root) as sharded:
        assert sharded.readings(260, channels=[140]).num_rows == 48


def test_cli_refuses_without_creating_anything(tmp_path: Path) -> None:
    runner = CliRunner()
    typo = tmp_path / "no-such-root"
    shown = runner.invoke(app, ["mdms", "shards", "show", "--data", str(typo)])
    assert shown.exit_code == 2
    assert "not a sharded deployment root" in shown.output
    assert not typo.exists()
    bad = runner.invoke(app, ["mdms", "shards", "init", "--data", str(typo), "--shards", "3",
                              "--first-meter", "1", "--meters", "2"])
    assert bad.exit_code == 2
    assert "cannot split 2 meters into 3 shards" in bad.output
    assert not typo.exists()
    root = tmp_path / "root"
    runner.invoke(app, ["mdms", "shards", "init", "--data", str(root), "--shards", "2",
                        "--first-meter", "100", "--meters", "200"])
    outside = tmp_path / "outside.parquet"
    import pyarrow.parquet as pq

    pq.write_table(day_batch(_values(2), [150, 300]), outside)
    refused = runner.invoke(app, ["mdms", "shards", "ingest", str(outside), "--data",
                                  str(root)])
    assert refused.exit_code == 2
    assert "meter 300 is in no shard" in refused.output
    with ShardedMdms(root) as sharded:
        assert sharded.shard(0).last_version() == 0


def test_split_keeps_every_row_once() -> None:
    table = pa.table({"meter_id": [5_000_000_150, 150, 299, 7_000_000_200]})
    sharded_map = ShardMap((100, 200, 300))
    owner = owner_meter_ids(table.column("meter_id").to_numpy())
    parts = sharded_map.split(table.append_column("o", pa.array(owner)), "o")
    assert sorted(parts[0].column("meter_id").to_pylist()) == [150, 5_000_000_150]
    assert sorted(parts[1].column("meter_id").to_pylist()) == [299, 7_000_000_200]


def test_a_simulation_with_meters_outside_the_map_stores_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    fleet = tmp_path / "fleet"
    simulated = runner.invoke(app, ["fleet", "simulate", "--meters", "20", "--out",
                                    str(fleet)])
    assert simulated.exit_code == 0, simulated.output
    root = tmp_path / "root"
    runner.invoke(app, ["mdms", "shards", "init", "--data", str(root), "--shards", "2",
                        "--first-meter", "100000001", "--meters", "10"])
    refused = runner.invoke(app, ["mdms", "shards", "ingest", str(fleet), "--data",
                                  str(root)])
    assert refused.exit_code == 2
    assert "meter 100000011 is in no shard" in refused.output
    with ShardedMdms(root) as sharded:
        assert [sharded.shard(k).last_version() for k in (0, 1)] == [0, 0]
        assert not sharded.shard(0).registry.has_meters()
