import numpy as np
import pyarrow as pa
import pytest

from smame.readings import (
    CHANNELS,
    SCHEMA,
    BatchError,
    Period,
    Quality,
    Quantity,
    channel_code,
    channel_info,
    concat_batches,
    make_batch,
    validate_batch,
)


def test_channel_codes_spell_quantity_period_and_resolution():
    assert channel_code(Quantity.ACTIVE_IMPORT, Period.MIN30) == 140
    assert channel_code(Quantity.ACTIVE_EXPORT, Period.REGISTER) == 200
    assert channel_code(Quantity.ACTIVE_IMPORT, Period.MIN30, -1) == 141
    assert channel_code(Quantity.VOLTAGE, Period.MIN5) == 420
    with pytest.raises(BatchError):
        channel_code(Quantity.VOLTAGE, Period.MIN30)
    with pytest.raises(BatchError):
        channel_code(Quantity.ACTIVE_IMPORT, Period.MIN30, -7)


def test_reading_types_follow_iec_61968_9():
    info = channel_info(140)
    fields = info.reading_type.code.split(".")
    assert len(fields) == 18
    # 30-minute (5), delta data (4), forward (1), electricity (1), energy (12), ×10 Wh
    assert info.reading_type.code == "0.0.5.4.1.1.12.0.0.0.0.0.0.0.0.1.72.0"
    assert channel_info(100).reading_type.accumulation == 1  # bulk quantity: a register
    assert channel_info(240).reading_type.flow_direction == 19  # reverse
    assert channel_info(420).reading_type.code.endswith(".-1.29.0")  # 0.1 V
    assert channel_info(140).unit == "0.01 kWh"
    codes = {c.reading_type.code for c in CHANNELS.values()}
    assert len(codes) == len(CHANNELS)
    with pytest.raises(BatchError, match="unknown channel 999"):
        channel_info(999)


def test_make_batch_broadcasts_and_validates():
    batch = make_batch([1, 2, 3], 1_782_864_000, 140, [10, 20, 30], Quality.ESTIMATED)
    assert batch.schema.equals(SCHEMA)
    assert batch.column("quality").to_pylist() == [2, 2, 2]
    assert batch.column("interval_end").type == pa.timestamp("s", tz="UTC")
    ends = np.array(["2026-07-01T00:30"], dtype="datetime64[m]")
    assert make_batch([7], ends, 140, [1]).column("interval_end").cast(pa.int64())[0].as_py() == (
        1_782_865_800)
    with pytest.raises(BatchError, match="unknown channel 7"):
        make_batch([1], 0, 7, [1])


def test_validate_batch_names_what_is_wrong():
    good = make_batch([1], 0, 140, [5])
    assert validate_batch(good) is not None
    with pytest.raises(BatchError, match="columns"):
        validate_batch(good.drop_columns(["source"]))
    wrong_type = good.set_column(3, "value", pa.array([5.0]))
    with pytest.raises(BatchError, match="value is double"):
        validate_batch(wrong_type)
    with_null = good.set_column(3, "value", pa.array([None], pa.int64()))
    with pytest.raises(BatchError, match="null"):
        validate_batch(with_null)
    with pytest.raises(BatchError, match=r"pyarrow\.Table"):
        validate_batch({"meter_id": [1]})
    both = concat_batches([good, make_batch([2], 0, 240, [3])])
    assert both.num_rows == 2
    assert concat_batches([]).num_rows == 0


def test_parquet_millisecond_timestamps_come_back_as_seconds(tmp_path):
    import pyarrow.parquet as pq

    batch = make_batch([1, 2], [1_782_864_000, 1_782_865_800], 140, [5, 6])
    pq.write_table(batch, tmp_path / "b.parquet")
    again = validate_batch(pq.read_table(tmp_path / "b.parquet"))
    assert again.equals(batch)
    fractional = batch.set_column(
        1, "interval_end", pa.array([1_782_864_000_500, 0], pa.timestamp("ms", tz="UTC")))
    with pytest.raises(BatchError, match="fractions"):
        validate_batch(fractional)


def test_the_documented_channel_table_is_the_code_table():
    from pathlib import Path

    from smame.readings import channel_table_markdown

    doc = (Path(__file__).parents[1] / "docs" / "readings.md").read_text()
    assert channel_table_markdown() in doc
