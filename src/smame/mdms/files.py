"""Reading batches from files: Parquet and CSV, checked cell by cell (external input).

A bad file is refused whole with a :class:`FileFormatError` naming the file and the row:
for CSV the line number (the header is line 1), for Parquet the 1-based row. Checks run
on whole columns; only when a column fails is it bisected to find the first bad row.

CSV columns: ``meter_id, interval_end, channel, value`` and optionally ``quality`` and
``source``. ``interval_end`` is ISO 8601 with a UTC offset (``2026-07-01T00:30:00+09:00``)
or POSIX seconds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from smame.readings import CHANNELS, SCHEMA, Source

__all__ = [
    "REQUIRED_COLUMNS",
    "FileFormatError",
    "cast_column",
    "read_csv_strings",
    "read_reading_file",
]

REQUIRED_COLUMNS = ("meter_id", "interval_end", "channel", "value")
_TS = pa.timestamp("s", tz="UTC")


class FileFormatError(ValueError):
    """A file of external input is malformed; the message names the file and the row."""

    def __init__(self, path: Path | str, row: int | None, problem: str, unit: str = "row"
                 ) -> None:
        where = f"{path}: {unit} {row}: " if row is not None else f"{path}: "
        super().__init__(where + problem)
        self.path = str(path)
        self.row = row


def _first_failure(array: pa.Array, convert) -> int:
    """Index of the first element ``convert`` refuses (bisection over slices)."""
    lo, hi = 0, len(array)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(array.slice(lo, mid - lo))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
            hi = mid
        else:
            lo = mid
    return lo


def _to_time(array: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(array.type):
        return pc.cast(array, _TS)
    if pa.types.is_integer(array.type):
        return pc.cast(array, pa.int64()).view(_TS)
    text = pc.utf8_trim_whitespace(pc.cast(array, pa.string()))
    numeric = pc.match_substring_regex(text, r"^[+-]?\d{1,12}$")
    if pc.all(numeric, min_count=0).as_py():
        return pc.cast(text, pa.int64()).view(_TS)
    if pc.any(numeric, min_count=0).as_py():
        raise ValueError("mixed POSIX seconds and ISO 8601 times")
    return pc.cast(text, _TS)


def _convert(array: pa.Array, target: pa.DataType) -> pa.Array:
    if target == _TS:
        return _to_time(array)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = pc.utf8_trim_whitespace(array)
        if not pc.all(pc.match_substring_regex(array, r"^[+-]?\d{1,19}$"), min_count=0).as_py():
            raise ValueError("not an integer")
    if pa.types.is_floating(array.type):
        as_int = pc.cast(array, pa.int64(), safe=True)
        return pc.cast(as_int, target)
    return pc.cast(array, target)


def cast_column(array: pa.Array | pa.ChunkedArray, name: str, target: pa.DataType,
                path: Path | str, first_row: int, unit: str = "row") -> pa.Array:
    """``array`` as ``target``, or a :class:`FileFormatError` naming the first bad row.

    ``first_row`` is the row number of the array's first element.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks else pa.array([], array.type)
    if array.null_count:
        index = int(np.argmax(pc.is_null(array).to_numpy(zero_copy_only=False)))
        raise FileFormatError(path, first_row + index, f"{name} is empty", unit)
    if pa.types.is_timestamp(array.type) and not array.type.tz:
        # A naive time could be JST or UTC: nine hours apart. Refuse rather than guess.
        raise FileFormatError(path, None, f"{name} is a timestamp without a time zone; "
                              "store it with its UTC offset (timestamp with tz)")
    try:
        return _convert(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        index = _first_failure(array, lambda part: _convert(part, target))
        value = array[index].as_py()
        raise FileFormatError(path, first_row + index,
                              f"{name} {value!r} is not a valid {_describe(target)}",
                              unit) from None


def _describe(target: pa.DataType) -> str:
    if target == _TS:
        return "time (ISO 8601 with offset, or POSIX seconds)"
    return f"{target} value"


def _batch(columns: dict[str, pa.Array], path: Path | str, first_row: int, unit: str,
           default_source: int) -> pa.Table:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise FileFormatError(path, None, f"missing column(s) {', '.join(missing)}; "
                              f"expected {', '.join(REQUIRED_COLUMNS)}[, quality, source]")
    n = len(columns["meter_id"])
    arrays = []
    for field in SCHEMA:
        if field.name in columns:
            arrays.append(cast_column(columns[field.name], field.name, field.type, path,
                                      first_row, unit))
        else:
            fill = default_source if field.name == "source" else 0
            arrays.append(pa.array(np.full(n, fill), field.type))
    channels = arrays[2].to_numpy()
    known = np.isin(channels, np.fromiter(CHANNELS, np.uint16))
    if not known.all():
        index = int(np.argmin(known))
        raise FileFormatError(path, first_row + index, f"unknown channel {channels[index]}",
                              unit)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def read_csv_strings(path: Path | str) -> dict[str, pa.Array]:
    """A CSV file's columns as strings (empty cells as nulls); parse errors name the line."""
    bad: list[int] = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader([handle.readline()]), [])
    except (UnicodeDecodeError, OSError) as exc:
        raise FileFormatError(path, None, f"cannot be read as CSV ({exc})") from None
    if not header:
        raise FileFormatError(path, 1, "no header line", "line")

    def invalid(row: pcsv.InvalidRow) -> str:
        bad.append(row.number if row.number is not None else -1)
        return "error"

    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(invalid_row_handler=invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        line = bad[0] if bad and bad[0] > 0 else None
        problem = str(exc).split(": ", 1)[-1] if line else str(exc)
        raise FileFormatError(path, line, f"not valid CSV ({problem})", "line") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise FileFormatError(path, None, f"cannot be read as CSV ({exc})") from None
    return {name: table.column(name).combine_chunks() for name in table.schema.names}


def read_reading_file(path: Path | str, default_source: int = Source.FILE) -> pa.Table:
    """A Parquet or CSV file as one reading batch (:data:`smame.readings.SCHEMA`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileFormatError(path, None, f"is not a readable Parquet file ({exc})") from None
        columns = {name: table.column(name) for name in table.schema.names}
        return _batch(columns, path, 1, "row", default_source)
    if suffix in (".csv", ".txt"):
        return _batch(read_csv_strings(path), path, 2, "line", default_source)
    raise FileFormatError(path, None, "unknown file type: use .parquet or .csv")
