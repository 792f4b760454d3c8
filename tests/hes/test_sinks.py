import pyarrow.parquet as pq
import pytest

from smame.hes.sinks import MemorySink, ParquetSink
from smame.readings import BatchError, make_batch, validate_batch
from tests.conftest import jst


def test_parquet_sink_partitions_by_jst_day_and_leaves_no_temporary_files(tmp_path):
    sink = ParquetSink(tmp_path)
    end_of_day = int(jst(2026, 7, 2).timestamp())  # 24:00 of 1 July
    sink(make_batch([1, 2, 3], [end_of_day - 1800, end_of_day, end_of_day + 1800], 140,
                    [5, 6, 7]))
    first = validate_batch(pq.read_table(tmp_path / "date=2026-07-01"))
    second = validate_batch(pq.read_table(tmp_path / "date=2026-07-02"))
    assert first.column("meter_id").to_pylist() == [1, 2]
    assert second.column("meter_id").to_pylist() == [3]
    assert sink.rows == 3
    assert not list(tmp_path.rglob(".*.tmp"))


def test_sinks_refuse_what_is_not_a_reading_batch(tmp_path):
    batch = make_batch([1], 0, 140, [5]).drop_columns(["source"])
    for sink in (ParquetSink(tmp_path), MemorySink()):
        with pytest.raises(BatchError):
            sink(batch)
    assert not list(tmp_path.iterdir())
