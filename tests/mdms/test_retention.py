"""Retention (3 years) and compaction."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.readings import make_batch
from smame.store import IMD
from smame.store.retention import RetentionError, retention_boundary, retention_cutoff
from tests.conftest import JST
from tests.mdms.helpers import DAY, day_batch, flat_day, slot_end


def times(table: pa.Table) -> np.ndarray:
    return table.column("interval_end").cast(pa.int64()).to_numpy()


def test_purge_removes_exactly_what_is_older_than_three_years(mdms: Mdms,
                                                              clock: SimulatedClock) -> None:
    days = [DAY + timedelta(days=k) for k in range(3)]
    batches = [day_batch(flat_day(20, meters=2), day=d) for d in days]
    for batch in batches:
        mdms.ingest(batch)
    mdms.ingest(make_batch(1, slot_end(30, days[1]), 140, 99))  # a second version
    now = datetime(2029, 7, 2, 12, 0, tzinfo=JST)
    clock.set(now)
    assert retention_cutoff(now.timestamp()) == datetime(2026, 7, 2, 12, 0, tzinfo=JST)
    # Whole settlement days go: those before 2 July 2026, whose slots end by 00:00 JST.
    cutoff = retention_boundary(now.timestamp())
    assert cutoff == datetime(2026, 7, 2, 0, 0, tzinfo=JST)
    limit = cutoff.timestamp()
    everything = mdms.readings(current=False)
    raw = mdms.readings(current=False, kind=IMD)
    expected = int((times(everything) <= limit).sum())
    assert 0 < expected < everything.num_rows

    report = mdms.purge()
    assert report.cutoff == cutoff
    assert report.rows_removed == expected + int((times(raw) <= limit).sum())
    assert report.files_removed >= 2
    assert report.files_rewritten == 0  # day partitions: a cut at 00:00 JST splits no file
    left = mdms.readings(current=False)
    assert left.num_rows == everything.num_rows - expected
    assert times(left).min() > limit
    assert times(mdms.readings(current=False, kind=IMD)).min() > limit
    kept = everything.filter(pa.array(times(everything) > limit))
    assert sorted(left.column("value").to_pylist()) == sorted(kept.column("value").to_pylist())
    assert mdms.readings(1, slot_end(30, days[1]), slot_end(30, days[1]),
                         channels=[140]).column("value").to_pylist() == [99]
    again = mdms.purge()
    assert again.rows_removed == 0
    assert again.files_removed == 0


def test_purge_keeps_everything_younger(mdms: Mdms, clock: SimulatedClock) -> None:
    mdms.ingest(day_batch(flat_day(20)))
    clock.set(datetime(2029, 6, 30, tzinfo=JST))
    assert mdms.purge().rows_removed == 0
    assert mdms.readings().num_rows == 97


def test_compaction_keeps_every_version(mdms: Mdms) -> None:
    for k in range(1, 49):
        mdms.ingest(make_batch([1, 2], slot_end(k), 140, [k, 2 * k]))
    mark = mdms.last_version()
    mdms.ingest(make_batch(1, slot_end(7), 140, 70))
    before_all = mdms.readings(current=False)
    before = mdms.readings()
    results = mdms.compact(DAY)
    assert [r.files_after for r in results] == [1, 1]
    assert results[0].files_before == 49
    assert mdms.readings().equals(before)
    assert mdms.readings(current=False).equals(before_all)
    assert mdms.changes_since(mark).column("value").to_pylist() == [70]
    files = list(mdms.data_dir.rglob("*.parquet"))
    assert [f.parent.parent.name for f in files] == ["ingest"]  # one shared file: both kinds


def test_a_compacted_day_with_estimates_is_one_shared_file(mdms: Mdms) -> None:
    from smame.store import IMD
    from tests.mdms.test_estimation import drop_slots

    mdms.ingest(drop_slots(day_batch(flat_day(20, meters=2)), [7, 8], channels=(140, 100)))
    mdms.ingest(make_batch(1, slot_end(30), 140, 26))  # a revision: a second version
    mdms.close_day(DAY)  # estimates: measurements that are not in the IMD
    mdms.edit(2, 140, slot_end(40), 21, user="sato", reason="FIELD_READ")
    raw, raw_all = mdms.readings(kind=IMD), mdms.readings(kind=IMD, current=False)
    current, every = mdms.readings(), mdms.readings(current=False)
    bytes_before = mdms.store.stored_bytes()
    results = mdms.compact(DAY)
    assert [r.files_after for r in results] == [1, 1]
    assert mdms.readings(kind=IMD).equals(raw)
    assert mdms.readings(kind=IMD, current=False).equals(raw_all)
    assert mdms.readings().equals(current)
    assert mdms.readings(current=False).equals(every)
    assert mdms.readings([1, 2], kind=IMD).equals(raw)  # the row-group (point) path too
    assert mdms.store.stored_bytes() < bytes_before
    day = [f for f in mdms.data_dir.rglob("*.parquet") if "2026-07-01" in str(f)]
    assert len(day) == 1
    assert day[0].parent.parent.name == "ingest"


def test_month_compaction(mdms: Mdms) -> None:
    for offset in range(3):
        mdms.ingest(day_batch(flat_day(10 + offset), day=DAY + timedelta(days=offset)))
    before = mdms.readings()
    results = mdms.compact(date(2026, 7, 1), date(2026, 7, 31), month=True)
    assert [r.files_after for r in results] == [1, 1]
    assert mdms.readings().equals(before)
    assert list((mdms.data_dir / "meas").glob("month=2026-07/*.parquet"))


def test_large_partitions_compact_into_meter_buckets(mdms: Mdms, monkeypatch) -> None:
    from smame.store import compaction, measurements

    monkeypatch.setattr(compaction, "BUCKET_ROWS", 100)
    monkeypatch.setattr(measurements, "ROW_GROUP_ROWS", 8)  # zone maps fine enough to split
    for k in range(1, 13):
        mdms.ingest(make_batch(np.arange(1, 41), slot_end(k), 140, k))
    before = mdms.readings()
    results = mdms.compact(DAY)
    assert results[1].files_before == 12
    assert results[1].files_after >= 3
    assert mdms.readings().equals(before)
    ranges = mdms.store.con.execute(
        "SELECT min_meter, max_meter FROM files WHERE kind = 'meas' ORDER BY min_meter"
    ).fetchall()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    for meter in (1, 17, 40):
        assert mdms.readings(meter).num_rows == 12
    assert mdms.warm() == len(ranges)  # every compacted file's footer, parsed once
    assert len(mdms.store._parquet_files) >= len(ranges)


def test_less_than_three_years_is_refused_unless_forced(mdms: Mdms, clock: SimulatedClock
                                                        ) -> None:
    mdms.ingest(day_batch(flat_day(20)))
    clock.set(datetime(2028, 7, 10, tzinfo=JST))
    with pytest.raises(RetentionError, match="less than the 3 years"):
        mdms.purge(years=1)
    assert mdms.readings().num_rows == 97
    assert mdms.purge(years=1, force=True).rows_removed > 0


def test_housekeeping_purges_once_a_jst_day(mdms: Mdms, clock: SimulatedClock) -> None:
    mdms.ingest(day_batch(flat_day(20)))
    clock.set(datetime(2029, 7, 10, 9, 0, tzinfo=JST))
    first = mdms.housekeeping()
    assert first.purge is not None
    assert first.purge.rows_removed > 0
    clock.set(datetime(2029, 7, 10, 23, 59, tzinfo=JST))
    assert mdms.housekeeping().purge is None
    clock.set(datetime(2029, 7, 11, 0, 1, tzinfo=JST))
    assert mdms.housekeeping().purge is not None


def test_housekeeping_closes_ended_days_only(tmp_path) -> None:
    clock = SimulatedClock(slot_end(48) + 3600)  # an hour into the next day
    with Mdms(tmp_path / "d", clock=clock) as mdms:
        mdms.ingest(day_batch(flat_day(20)))
        mdms.ingest(make_batch(1, slot_end(49), 140, 5))
        done = mdms.housekeeping()
        assert DAY in done.closed
        assert DAY + timedelta(days=1) not in done.closed


def test_purging_a_shared_compacted_day_counts_each_kind(mdms: Mdms, clock: SimulatedClock
                                                         ) -> None:
    from tests.mdms.test_estimation import drop_slots

    mdms.ingest(drop_slots(day_batch(flat_day(20)), [7, 8], channels=(140, 100)))
    mdms.close_day(DAY)
    imd = mdms.readings(kind=IMD, current=False)
    meas = mdms.readings(current=False)
    assert meas.num_rows == imd.num_rows + 2  # the two estimates
    mdms.compact(DAY)
    clock.set(datetime(2029, 7, 5, tzinfo=JST))
    report = mdms.purge()
    assert report.rows_removed == imd.num_rows + meas.num_rows
    assert report.rows_by_channel[140] == 46 + 48
    assert mdms.readings(current=False).num_rows == 0
