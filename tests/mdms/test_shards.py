"""The MDMS shard map: every meter in exactly one shard, rows routed to their owner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smame.mdms.shards import ShardMap


@given(st.integers(1, 16), st.integers(1, 10_000), st.integers(0, 10**9))
def test_even_ranges_cover_every_meter_once(shards: int, extra: int, first: int) -> None:
    meters = shards + extra
    shard_map = ShardMap.even(shards, first, meters)
    owner = shard_map.shard_of(np.arange(first, first + meters))
    assert owner[0] == 0
    assert owner[-1] == shards - 1
    assert (np.diff(owner) >= 0).all()
    sizes = np.bincount(owner, minlength=shards)
    assert sizes.sum() == meters
    assert sizes.max() - sizes.min() <= 1


def test_split_routes_rows_to_their_owner() -> None:
    shard_map = ShardMap((100, 200, 300))
    table = pa.table({"meter_id": [150, 250, 100, 299, 199], "value": [1, 2, 3, 4, 5]})
    parts = shard_map.split(table)
    assert parts[0].column("value").to_pylist() == [1, 3, 5]
    assert parts[1].column("value").to_pylist() == [2, 4]


def test_a_meter_outside_every_range_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="meter 300 is in no shard"):
        ShardMap((100, 200, 300)).shard_of([150, 300])


def test_bounds_must_increase() -> None:
    with pytest.raises(ValueError, match="must increase"):
        ShardMap((100, 100, 300))


def test_saved_map_loads_back_and_a_bad_file_is_one_error(tmp_path: Path) -> None:
    shard_map = ShardMap.even(3, 100_000_001, 1000)
    shard_map.save(tmp_path)
    assert ShardMap.load(tmp_path) == shard_map
    (tmp_path / "shards.json").write_text("{}")
    with pytest.raises(ValueError, match="not a shard map"):
        ShardMap.load(tmp_path)
    with pytest.raises(ValueError, match="no shard map"):
        ShardMap.load(tmp_path / "nowhere")
