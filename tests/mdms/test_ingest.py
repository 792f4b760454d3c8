"""Idempotent, versioned ingest; changes since; late actuals; manual edits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from smame.mdms import Mdms, Reason
from smame.mdms.edit import EditError
from smame.readings import BatchError, Quality, Source, make_batch
from smame.store.layout import IMD
from tests.mdms.helpers import DAY, day_batch, flat_day, slot_end


def test_same_batch_twice_changes_nothing(mdms: Mdms) -> None:
    batch = day_batch(flat_day(20, meters=3))
    first = mdms.ingest(batch)
    files = sorted(p.name for p in mdms.data_dir.rglob("*.parquet"))
    version = mdms.last_version()
    again = mdms.ingest(batch)
    assert first.stored == batch.num_rows
    assert first.version == 1
    assert again.duplicate_batch
    assert again.stored == 0
    assert again.version is None
    assert mdms.last_version() == version
    assert sorted(p.name for p in mdms.data_dir.rglob("*.parquet")) == files
    assert mdms.readings(current=False).num_rows == batch.num_rows


def test_rows_already_received_are_dropped(mdms: Mdms) -> None:
    batch = day_batch(flat_day(20, meters=2))
    mdms.ingest(batch)
    reordered = batch.take(pa.array(np.arange(batch.num_rows)[::-1]))
    result = mdms.ingest(reordered)
    assert not result.duplicate_batch
    assert result.stored == 0
    assert result.unchanged == batch.num_rows
    assert result.version is None
    assert mdms.readings(current=False).num_rows == batch.num_rows


def test_different_value_becomes_new_version_and_old_is_kept(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20)))
    t = slot_end(10)
    result = mdms.ingest(make_batch(1, t, 140, 25))
    assert result.stored == 1
    assert result.version == 2
    current = mdms.readings(1, t, t, channels=[140])
    assert current.column("value").to_pylist() == [25]
    assert current.column("version").to_pylist() == [2]
    assert Reason.REVISED & current.column("reasons")[0].as_py()
    history = mdms.readings(1, t, t, channels=[140], current=False)
    assert history.column("value").to_pylist() == [20, 25]
    raw = mdms.readings(1, t, t, channels=[140], current=False, kind=IMD)
    assert raw.column("value").to_pylist() == [20, 25]


def test_imd_keeps_raw_quality_as_received(mdms: Mdms) -> None:
    batch = make_batch([1, 1], [slot_end(1)] * 2, [140, 100], [10, -5],
                       quality=Quality.CLOCK_ADJUSTED)
    mdms.ingest(batch)
    raw = mdms.readings(kind=IMD)
    assert set(raw.column("quality").to_pylist()) == {int(Quality.CLOCK_ADJUSTED)}
    validated = mdms.readings()
    assert any(q & Quality.SUSPECT for q in validated.column("quality").to_pylist())


def test_invalid_batch_is_refused_whole(mdms: Mdms) -> None:
    batch = make_batch([1, 2], [slot_end(1)] * 2, 140, [1, 2])
    broken = batch.set_column(0, "meter_id", pa.array([1, None], pa.int64()))
    with pytest.raises(BatchError):
        mdms.ingest(broken)
    assert mdms.last_version() == 0
    assert not list(mdms.data_dir.rglob("*.parquet"))


def test_changes_since_version_and_time(mdms: Mdms, clock) -> None:
    mdms.ingest(day_batch(flat_day(20, meters=2)))
    mark = mdms.last_version()
    moment = clock.now()
    clock.advance(60)
    mdms.ingest(make_batch([2, 2], [slot_end(3), slot_end(4)], 140, [30, 31]))
    changes = mdms.changes_since(mark)
    assert changes.num_rows == 2
    assert changes.column("meter_id").to_pylist() == [2, 2]
    assert changes.column("value").to_pylist() == [30, 31]
    assert mdms.changes_since(moment).num_rows == 2
    assert mdms.changes_since(mdms.last_version()).num_rows == 0


def test_late_actual_replaces_estimate(mdms: Mdms) -> None:
    values = flat_day(20)
    batch = day_batch(values)
    t = slot_end(20)
    keep = ~((batch.column("interval_end").cast(pa.int64()).to_numpy() == t)
             & (batch.column("channel").to_numpy() == 140))
    mdms.ingest(batch.filter(pa.array(keep)))
    closed = mdms.close_day(DAY)
    assert closed.estimated == 1
    estimate = mdms.readings(1, t, t, channels=[140])
    assert estimate.column("source").to_pylist() == [Source.ESTIMATION]
    assert estimate.column("value").to_pylist() == [20]
    mark = mdms.last_version()
    mdms.ingest(make_batch(1, t, 140, 20, source=Source.PULL))
    actual = mdms.readings(1, t, t, channels=[140])
    assert actual.column("source").to_pylist() == [Source.PULL]
    assert not actual.column("quality")[0].as_py() & Quality.ESTIMATED
    changed = mdms.changes_since(mark)
    assert changed.num_rows == 1
    assert changed.column("source").to_pylist() == [Source.PULL]
    assert mdms.readings(1, t, t, channels=[140], current=False).num_rows == 2


def test_manual_edit_is_a_version_with_user_and_reason(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20)))
    t = slot_end(5)
    version = mdms.edit(1, 140, t, 99, user="sato", reason="METER_EXCHANGE",
                        note="meter swap correction")
    current = mdms.readings(1, t, t, channels=[140])
    assert current.column("value").to_pylist() == [99]
    assert current.column("source").to_pylist() == [Source.MANUAL]
    assert current.column("quality")[0].as_py() & Quality.EDITED
    row = mdms.store.con.execute("SELECT user_name, reason, note FROM edits WHERE version = ?",
                                 [version]).fetchall()
    assert row == [("sato", "METER_EXCHANGE", "meter swap correction")]
    assert mdms.readings(1, t, t, channels=[140], current=False).num_rows == 2
    with pytest.raises(EditError):
        mdms.edit(1, 140, t, 1, user="", reason="FIELD_READ")
    with pytest.raises(EditError):
        mdms.edit(1, 140, t, 1, user="sato", reason=" ")


def test_validation_can_run_after_ingest(mdms: Mdms) -> None:
    result = mdms.ingest(day_batch(flat_day(20)), validate=False)
    assert not result.validated
    assert mdms.readings().num_rows == 0
    assert mdms.readings(kind=IMD).num_rows == result.stored
    assert mdms.validate_pending() == [result.version]
    validated = mdms.readings()
    assert validated.num_rows == result.stored
    assert all(q & Quality.VALIDATED for q in validated.column("quality").to_pylist())
    assert mdms.validate_pending() == []


def test_data_survives_reopening(mdms: Mdms, clock) -> None:
    mdms.ingest(day_batch(flat_day(20, meters=2)))
    root = mdms.data_dir
    mdms.close()
    with Mdms(root, clock=clock) as again:
        assert again.readings().num_rows == 2 * 48 * 2 + 2
        assert again.ingest(day_batch(flat_day(20, meters=2))).stored == 0
