"""Where measurement files live under a data directory, and how they are written.

Layout (``docs/mdms.md`` has the full picture)::

    DIR/catalog.duckdb                         catalog: versions, files, registry, VEE state
    DIR/imd/date=YYYY-MM-DD/v<version>.parquet  raw readings as received (IMD)
    DIR/meas/date=YYYY-MM-DD/v<version>.parquet validated measurements, estimates, edits
    DIR/meas/date=YYYY-MM-DD/c<version>.parquet a compacted day (all versions kept)
    DIR/meas/month=YYYY-MM/c<version>.parquet   a compacted month (all versions kept)

Partitions are JST settlement days: an interval belongs to the day in which it ends,
except that the slot ending at 00:00 JST closes the previous day. Files are immutable:
they are written to a temporary name, flushed to disk, then renamed; the catalog commit
that names them is what makes them part of the store.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "COMPACT_ROW_GROUP_ROWS",
    "IMD",
    "IMD_SCHEMA",
    "JST_OFFSET_S",
    "KINDS",
    "MEAS",
    "MEAS_SCHEMA",
    "ROW_GROUP_ROWS",
    "RowGroup",
    "day_of",
    "day_start",
    "epoch_day",
    "file_name",
    "fsync_dir",
    "partition_dir",
    "row_groups",
    "write_parquet",
]

IMD, MEAS = "imd", "meas"
KINDS = (IMD, MEAS)
JST_OFFSET_S = 9 * 3600
_EPOCH = date(1970, 1, 1)

IMD_SCHEMA = pa.schema([
    pa.field("meter_id", pa.int64(), nullable=False),
    pa.field("interval_end", pa.timestamp("s", tz="UTC"), nullable=False),
    pa.field("channel", pa.uint16(), nullable=False),
    pa.field("value", pa.int64(), nullable=False),
    pa.field("quality", pa.uint16(), nullable=False),
    pa.field("source", pa.uint8(), nullable=False),
    pa.field("version", pa.int64(), nullable=False),
])
"""An IMD file: the reading batch columns as received, plus the ingest version."""

MEAS_SCHEMA = pa.schema([
    *IMD_SCHEMA,
    pa.field("reasons", pa.uint32(), nullable=False),
])
"""A measurement file: validated quality flags and the VEE reason codes of each value."""


def epoch_day(interval_end_s: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """JST settlement day (days since 1970-01-01) of interval ends in POSIX seconds.

    An interval ending exactly at 00:00 JST is the last slot of the day before.
    """
    return (np.asarray(interval_end_s, np.int64) + (JST_OFFSET_S - 1)) // 86400


def day_of(epoch_day_number: int) -> date:
    """The calendar date of an epoch day number."""
    return _EPOCH + timedelta(days=int(epoch_day_number))


def day_start(day: date) -> int:
    """POSIX seconds of 00:00 JST opening ``day``; the day's slots end in (start, start+86400]."""
    return (day - _EPOCH).days * 86400 - JST_OFFSET_S


def partition_dir(root: Path, kind: str, day: date, month: bool = False) -> Path:
    if month:
        return root / kind / f"month={day.strftime('%Y-%m')}"
    return root / kind / f"date={day.isoformat()}"


def file_name(version: int, compacted: bool = False, part: int | None = None) -> str:
    suffix = "" if part is None else f"-{part:04d}"
    return f"{'c' if compacted else 'v'}{version:012d}{suffix}.parquet"


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_DICTIONARY_COLUMNS = ["channel", "quality", "source", "version", "reasons"]
_ENCODINGS = {"meter_id": "DELTA_BINARY_PACKED", "interval_end": "DELTA_BINARY_PACKED",
              "value": "BYTE_STREAM_SPLIT"}
ROW_GROUP_ROWS = 1 << 17
"""Rows per row group of files written by ingest."""
COMPACT_ROW_GROUP_ROWS = 1 << 14
"""Rows per row group of compacted files: one meter's month is read in one small group."""

RowGroup = tuple[int, int, int, int, int, int]
"""(index, rows, first meter, last meter, first time, last time) of a row group."""


def row_groups(meter: np.ndarray, t: np.ndarray, size: int) -> list[RowGroup]:
    """Zone map of each row group of a table sorted by meter (times in POSIX seconds)."""
    starts = np.arange(0, meter.size, size)
    if not starts.size:
        return []
    ends = np.minimum(starts + size, meter.size) - 1
    t_min = np.minimum.reduceat(t, starts)
    t_max = np.maximum.reduceat(t, starts)
    return [(k, int(e - b + 1), int(meter[b]), int(meter[e]), int(lo), int(hi))
            for k, (b, e, lo, hi) in enumerate(zip(starts, ends, t_min, t_max, strict=True))]


def write_parquet(table: pa.Table, path: Path, row_group_rows: int = ROW_GROUP_ROWS) -> int:
    """Write ``table`` (already sorted by meter, channel, time) durably; return its size.

    Encodings chosen for cumulative meter data, measured on simulated fleet data: meter
    ids and times are delta-encoded (long runs, constant steps); values are byte-stream
    split, so the slowly changing high bytes of a meter's registers and the zero high
    bytes of small interval values compress to almost nothing under zstd (delta-encoding
    that column measured worse, since registers and intervals share it); small
    categorical columns use dictionaries.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(
        tmp,
        table.schema,
        compression="zstd",
        compression_level=3,
        use_dictionary=[c for c in _DICTIONARY_COLUMNS if c in table.schema.names],
        column_encoding={k: v for k, v in _ENCODINGS.items() if k in table.schema.names},
        coerce_timestamps="ms",
        allow_truncated_timestamps=False,
        write_statistics=True,
    ) as writer:
        writer.write_table(table, row_group_size=row_group_rows)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path.stat().st_size
