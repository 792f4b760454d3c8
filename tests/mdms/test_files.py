"""Parsers of external input files, tested with generated content (hypothesis)."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smame.mdms.files import FileFormatError, read_reading_file
from smame.mdms.submeter import read_sub_meter_feed
from smame.readings import CHANNELS, SCHEMA

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
channels = st.sampled_from(sorted(CHANNELS))
times = st.integers(946_684_800, 4_102_444_800)
offsets = st.sampled_from([0, 9 * 60, -5 * 60, 5 * 60 + 30])
row = st.tuples(st.integers(0, 2**62), times, channels, st.integers(-(2**62), 2**62),
                st.integers(0, 65535), st.integers(0, 255), offsets)


def _iso(t: int, offset_min: int) -> str:
    zone = timezone(timedelta(minutes=offset_min))
    return datetime.fromtimestamp(t, UTC).astimezone(zone).isoformat()


def _write(text: str, suffix: str = ".csv") -> Path:
    directory = Path(tempfile.mkdtemp())
    path = directory / f"input{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


def _read_or_refuse(reader, path: Path):
    """The table ``reader`` made of ``path``; or, refused, check the error names the file."""
    try:
        table = reader(path)
    except FileFormatError as exc:
        refusal = str(exc)
    else:
        assert table.schema.equals(SCHEMA)
        return table
    assert refusal.startswith(str(path))
    return None


@SETTINGS
@given(st.lists(row, min_size=1, max_size=30), st.booleans())
def test_valid_csv_round_trips(rows, epoch_times) -> None:
    lines = ["meter_id,interval_end,channel,value,quality,source"]
    for meter, t, channel, value, quality, source, offset in rows:
        when = str(t) if epoch_times else _iso(t, offset)
        lines.append(f"{meter},{when},{channel},{value},{quality},{source}")
    table = read_reading_file(_write("\n".join(lines) + "\n"))
    assert table.schema.equals(SCHEMA)
    assert table.column("meter_id").to_pylist() == [r[0] for r in rows]
    assert table.column("interval_end").cast(pa.int64()).to_pylist() == [r[1] for r in rows]
    assert table.column("value").to_pylist() == [r[3] for r in rows]
    assert table.column("source").to_pylist() == [r[5] for r in rows]


@SETTINGS
@given(st.lists(row, min_size=1, max_size=20), st.data())
def test_one_bad_cell_names_its_line(rows, data) -> None:
    lines = ["meter_id,interval_end,channel,value,quality,source"]
    for meter, t, channel, value, quality, source, offset in rows:
        lines.append(f"{meter},{_iso(t, offset)},{channel},{value},{quality},{source}")
    bad_row = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.integers(0, 5))
    garbage = data.draw(st.sampled_from(["x", "", "1.5e3", "99999999999999999999", "-",
                                         "2026-07-01T00:00:00"]))
    cells = lines[bad_row + 1].split(",")
    if column == 1 and garbage == "99999999999999999999":
        garbage = "soon"
    if column in (4, 5) and garbage == "-":
        garbage = "70000"
    cells[column] = garbage
    lines[bad_row + 1] = ",".join(cells)
    path = _write("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError) as caught:
        read_reading_file(path)
    assert str(caught.value).startswith(f"{path}: line {bad_row + 2}: ")


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_cleanly_or_parsed(text) -> None:
    _read_or_refuse(read_reading_file, _write(text))


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_as_parquet_are_refused(content) -> None:
    directory = Path(tempfile.mkdtemp())
    path = directory / "x.parquet"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=r"x\.parquet"):
        read_reading_file(path)


@SETTINGS
@given(st.integers(1, 40), st.data())
def test_parquet_null_names_its_row(count, data) -> None:
    row_index = data.draw(st.integers(0, count - 1))
    name = data.draw(st.sampled_from(["meter_id", "interval_end", "channel", "value"]))
    columns = {
        "meter_id": np.arange(count, dtype=np.int64),
        "interval_end": np.full(count, 1_782_000_000, np.int64),
        "channel": np.full(count, 140, np.uint16),
        "value": np.ones(count, np.int64),
    }
    arrays = {k: pa.array(v, mask=(np.arange(count) == row_index) if k == name else None)
              for k, v in columns.items()}
    arrays["interval_end"] = arrays["interval_end"].cast(pa.timestamp("s", tz="UTC"))
    directory = Path(tempfile.mkdtemp())
    path = directory / "n.parquet"
    pq.write_table(pa.table(arrays), path)
    with pytest.raises(FileFormatError, match=rf"n\.parquet: row {row_index + 1}: {name} is empty"):
        read_reading_file(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10)
feed_record = st.fixed_dictionaries(
    {}, optional={"sub_meter_id": json_values, "interval_end": json_values,
                  "energy_wh": json_values})


@SETTINGS
@given(st.lists(feed_record | json_values, max_size=8))
def test_arbitrary_json_feed_is_refused_cleanly_or_parsed(records) -> None:
    table = _read_or_refuse(read_sub_meter_feed, _write(json.dumps(records), ".json"))
    if table is not None:
        assert table.num_rows == len(records)
