"""How ingest lays out files: one shared file for the IMD copy and the measurements of a
batch; separate files when they differ; parts of large batches; compaction and retention
of shared files."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.mdms.vee import validate
from smame.readings import Quality, make_batch
from smame.store import IMD, MEAS
from smame.store.compaction import compact
from smame.store.layout import INGEST
from tests.conftest import JST
from tests.mdms.helpers import DAY, START, day_batch, flat_day, slot_end


def files(mdms: Mdms) -> list[tuple[str, str]]:
    return sorted(mdms.store.con.execute("SELECT path, kind FROM files").fetchall())


def on_disk(mdms: Mdms) -> set[str]:
    return {str(p.relative_to(mdms.data_dir)) for p in mdms.data_dir.rglob("*.parquet")}


def flagged_batch() -> pa.Table:
    """Two meters' day where meter 1's first slot carries CLOCK_ADJUSTED as received."""
    batch = day_batch(flat_day(20, meters=2))
    quality = np.zeros(batch.num_rows, np.uint16)
    quality[0] = Quality.CLOCK_ADJUSTED | Quality.VALIDATED  # as the meter sent it
    return batch.set_column(4, batch.schema.field("quality"), pa.array(quality))


def test_validated_batch_is_one_file_for_both_kinds(mdms: Mdms) -> None:
    batch = flagged_batch()
    mdms.ingest(batch)
    listed = files(mdms)
    paths = {p for p, _ in listed}
    assert all(p.startswith(f"{INGEST}/") for p in paths)
    assert sorted(k for _, k in listed) == sorted([IMD, MEAS] * len(paths))
    assert on_disk(mdms) == paths
    size = sum((mdms.data_dir / p).stat().st_size for p in paths)
    assert mdms.store.stored_bytes() == size
    assert mdms.store.stored_bytes(IMD) == mdms.store.stored_bytes(MEAS) == size

    raw = mdms.readings(kind=IMD, current=False)
    assert raw.num_rows == batch.num_rows
    assert "reasons" not in raw.schema.names
    assert sorted(raw.column("quality").to_pylist()) == sorted(
        batch.column("quality").to_pylist())
    measured = mdms.readings(current=False)
    assert measured.schema.names[-1] == "reasons"
    assert all(q & Quality.VALIDATED for q in measured.column("quality").to_pylist())
    point_raw = mdms.readings(1, slot_end(1), slot_end(1), channels=[140], kind=IMD)
    assert point_raw.column("quality").to_pylist() == [Quality.CLOCK_ADJUSTED
                                                         | Quality.VALIDATED]
    assert set(mdms.changes_since(0).schema.names) == set(measured.schema.names)


def test_duplicate_keys_in_a_batch_keep_separate_files(mdms: Mdms) -> None:
    t = slot_end(1)
    mdms.ingest(make_batch([1, 1, 2], t, 140, [5, 6, 7]))
    kinds = {k: p for p, k in files(mdms)}
    assert kinds[IMD].startswith(f"{IMD}/")
    assert kinds[MEAS].startswith(f"{MEAS}/")
    assert mdms.readings(kind=IMD, current=False).column("value").to_pylist() == [5, 6, 7]
    assert mdms.readings(current=False).column("value").to_pylist() == [6, 7]


def test_unvalidated_ingest_then_validation(mdms: Mdms) -> None:
    result = mdms.ingest(day_batch(flat_day(20)), validate=False)
    assert {k for _, k in files(mdms)} == {IMD}
    mdms.validate_pending()
    assert {p.split("/")[0] for p, _ in files(mdms)} == {IMD, MEAS}
    assert mdms.readings().num_rows == result.stored


def test_compaction_of_shared_files_one_kind_at_a_time(mdms: Mdms) -> None:
    mdms.ingest(flagged_batch())
    mdms.ingest(make_batch(1, slot_end(5), 140, 99))  # a revision: another shared file
    before_raw = mdms.readings(kind=IMD, current=False)
    before = mdms.readings(current=False)
    shared = {p for p, _ in files(mdms) if p.startswith(f"{INGEST}/")}

    compact(mdms.store, IMD, DAY, DAY)
    assert mdms.readings(kind=IMD, current=False).equals(before_raw)
    assert mdms.readings(current=False).equals(before)  # the shared files still serve
    assert {p for p, k in files(mdms) if k == MEAS} & shared
    assert shared & on_disk(mdms)

    compact(mdms.store, MEAS, DAY, DAY)
    assert mdms.readings(kind=IMD, current=False).equals(before_raw)
    assert mdms.readings(current=False).equals(before)
    day_files = {p for p, _ in files(mdms) if "2026-07-01" in p}
    assert not day_files & shared
    assert not on_disk(mdms) & {p for p in shared if "2026-07-01" in p}
    assert on_disk(mdms) == {p for p, _ in files(mdms)}


def test_purge_takes_a_shared_file_whole_at_the_day_boundary(mdms: Mdms,
                                                              clock: SimulatedClock) -> None:
    mdms.ingest(flagged_batch())
    raw = mdms.readings(kind=IMD, current=False)
    listed = files(mdms)
    boundary = datetime(2026, 7, 1, tzinfo=JST)
    before = raw.filter(pc.less_equal(raw.column("interval_end"), pa.scalar(
        boundary, raw.schema.field("interval_end").type)))
    assert before.num_rows == 2  # the registers at 00:00: the last slot of 30 June
    # Three years back falls at 12:00 on 1 July: 30 June goes, 1 July is kept whole.
    clock.set(datetime(2026, 7, 1, 12, 0, tzinfo=JST) + timedelta(days=3 * 365 + 1))
    kept = mdms.purge()
    assert (kept.files_removed, kept.files_rewritten, kept.rows_removed) == (2, 0, 4)
    assert mdms.readings(kind=IMD, current=False).num_rows == raw.num_rows - 2
    assert len(files(mdms)) == len(listed) - 2
    # A day later the whole of 1 July goes: its one shared file, for both kinds.
    clock.set(datetime(2026, 7, 2, 12, 0, tzinfo=JST) + timedelta(days=3 * 365 + 1))
    gone = mdms.purge()
    assert gone.files_removed == 2  # the IMD's file and the measurements' file: one file
    assert gone.files_rewritten == 0
    assert gone.rows_removed == 2 * (raw.num_rows - 2)
    assert files(mdms) == []
    assert on_disk(mdms) == set()


def big_batch(meters: int = 60) -> pa.Table:
    values = np.random.default_rng(5).integers(0, 90, (meters, 48))
    return day_batch(values, meters=list(range(1, meters + 1)))


def test_large_batch_is_validated_and_written_in_parts(tmp_path: Path, clock, monkeypatch
                                                        ) -> None:
    batch = big_batch()
    with Mdms(tmp_path / "whole", clock=clock) as whole:
        whole.ingest(batch)
        expected = whole.readings(current=False)
        expected_raw = whole.readings(current=False, kind=IMD)
    monkeypatch.setattr(validate, "PARALLEL_ROWS", 500)
    with Mdms(tmp_path / "parts", clock=clock) as parted:
        result = parted.ingest(batch)
        assert result.stored == batch.num_rows
        paths = {p for p, _ in files(parted) if "2026-07-01" in p}
        assert len(paths) >= 2
        assert all(p.startswith(f"{INGEST}/") and "-0" in p for p in paths)
        assert parted.readings(current=False).equals(expected)
        assert parted.readings(current=False, kind=IMD).equals(expected_raw)
        everything = parted.readings()
        for meter in (1, 30, 60):
            assert parted.readings(meter).equals(
                everything.filter(pc.equal(everything.column("meter_id"), meter)))
        assert parted.ingest(batch).duplicate_batch


def test_a_failing_part_leaves_nothing(mdms: Mdms, monkeypatch) -> None:
    from smame.store import measurements

    monkeypatch.setattr(validate, "PARALLEL_ROWS", 500)
    real = measurements.write_parquet

    def failing(table, path, *args, **kwargs):
        if path.name.endswith("-0001.parquet"):
            raise OSError("disk full")
        return real(table, path, *args, **kwargs)

    monkeypatch.setattr(measurements, "write_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        mdms.ingest(big_batch())
    assert not on_disk(mdms)
    assert mdms.last_version() == 0
    monkeypatch.setattr(measurements, "write_parquet", real)
    assert mdms.ingest(big_batch()).stored == big_batch().num_rows
    assert mdms.readings().num_rows == big_batch().num_rows


def test_shared_and_separate_files_read_together(mdms: Mdms) -> None:
    mdms.ingest(make_batch([1, 1], slot_end(1), 140, [6, 6]))  # separate files
    mdms.ingest(make_batch(1, slot_end(2), 140, 7, quality=Quality.CLOCK_ADJUSTED))  # shared
    raw = mdms.readings(kind=IMD, current=False)
    assert raw.column("value").to_pylist() == [6, 6, 7]
    assert raw.column("quality").to_pylist() == [0, 0, Quality.CLOCK_ADJUSTED]
    measured = mdms.readings(current=False)
    assert measured.column("value").to_pylist() == [6, 7]
    assert all(q & Quality.VALIDATED for q in measured.column("quality").to_pylist())
    assert mdms.readings(1, START, START + 86400, kind=IMD, current=False).equals(raw)


def test_a_failing_day_leaves_none_of_the_batch(mdms: Mdms, monkeypatch) -> None:
    from smame.store import measurements

    real = measurements.write_parquet

    def failing(table, path, *args, **kwargs):
        if "2026-07-02" in str(path):
            raise OSError("disk full")
        return real(table, path, *args, **kwargs)

    monkeypatch.setattr(measurements, "write_parquet", failing)
    two_days = pa.concat_tables([day_batch(flat_day(20)),
                                 day_batch(flat_day(20), day=DAY + timedelta(days=1))])
    with pytest.raises(OSError, match="disk full"):
        mdms.ingest(two_days)
    assert not list(mdms.data_dir.rglob("*.parquet"))
    assert not list(mdms.data_dir.rglob("*.tmp"))
