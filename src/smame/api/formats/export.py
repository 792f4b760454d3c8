"""Bulk export: many meters' readings as one Parquet or CSV file (SPEC S4, S7).

Works on whole day blocks of the read model, as arrays: the distribution operator gets
the stored 8-digit values; retailers and third parties get 6-digit retail values computed
for all their meters at once from the register block, and only inside the periods they
may see (supply periods, consent periods).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from smame.api.readcache import SLOT_S, DayBlock
from smame.api.series import value_type
from smame.readings import Quality
from smame.registers import RETAIL_MODULUS

__all__ = ["EXPORT_SCHEMA", "Columns", "block_columns", "serialize", "to_table"]

_VALIDATED = np.uint16(Quality.VALIDATED)
_TS = pa.timestamp("s", tz="UTC")

_LABEL = pa.dictionary(pa.int32(), pa.string())
EXPORT_SCHEMA = pa.schema([
    pa.field("meter_id", pa.int64(), nullable=False),
    pa.field("sp_id", _LABEL),
    pa.field("interval_end", _TS, nullable=False),
    pa.field("channel", pa.uint16(), nullable=False),
    pa.field("reading_type", _LABEL, nullable=False),
    pa.field("unit", _LABEL, nullable=False),
    pa.field("digits", pa.uint8(), nullable=False),
    pa.field("value", pa.int64(), nullable=False),
    pa.field("quality", pa.uint16(), nullable=False),
    pa.field("version", pa.int64(), nullable=False),
])


@dataclass
class Columns:
    meter: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    value: np.ndarray
    quality: np.ndarray
    version: np.ndarray
    digits: int

    @classmethod
    def empty(cls, digits: int) -> Columns:
        z = np.empty(0, np.int64)
        return cls(z, z, np.empty(0, np.uint16), z, np.empty(0, np.uint16), z, digits)

    def __len__(self) -> int:
        return int(self.meter.size)


def _rows_of(block: DayBlock, meters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``meters`` in the block, and the meters found."""
    row = np.searchsorted(block.meters, meters)
    row = np.minimum(row, max(block.meters.size - 1, 0))
    found = block.meters.size > 0
    hit = (block.meters[row] == meters) if found else np.zeros(meters.size, np.bool_)
    return row[hit], meters[hit]


def block_columns(block: DayBlock, meters: np.ndarray, allowed: np.ndarray | None,
                  retail: bool) -> Columns:
    """Long columns of ``meters``' values in ``block``.

    ``allowed`` is a ``[meter, slot]`` mask of what may be shown (None: everything) with
    one row per entry of ``meters``. With ``retail``, ``block`` holds registers and the
    result is 6-digit retail intervals ending at its 48 slots (both ends needed).
    """
    rows, found = _rows_of(block, meters)
    if allowed is not None:
        hit = np.isin(meters, found)
        allowed = allowed[hit]
    version = block.version[rows]
    quality = block.quality[rows]
    value = block.value[rows]
    first = block.first
    channel = block.channel[rows]
    if retail:
        ok = (value >= 0) & (value < 10**8)
        reg = np.mod(value // 10, RETAIL_MODULUS)
        present = (version > 0) & ok
        both = present[:, 1:] & present[:, :-1]
        value = np.mod(reg[:, 1:] - reg[:, :-1], RETAIL_MODULUS)
        q0, q1 = quality[:, :-1], quality[:, 1:]
        quality = ((q0 | q1) & ~_VALIDATED) | (q0 & q1 & _VALIDATED)
        version = np.where(both, np.maximum(version[:, 1:], version[:, :-1]), 0)
        first += SLOT_S
        channel = channel + 40  # register code → 30-minute interval code (100 → 140)
    present = version > 0
    if allowed is not None:
        present &= allowed[:, :present.shape[1]]
    r, s = np.nonzero(present)
    return Columns(found[r], first + s * SLOT_S, channel[r].astype(np.uint16), value[r, s],
                   quality[r, s].astype(np.uint16), version[r, s], 6 if retail else 8)


def _labels(index: np.ndarray, names: list[str | None]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)),
                                          pa.array(names, pa.string()))


def to_table(parts: list[Columns], sp_of: dict[int, str | None]) -> pa.Table:
    if not parts:
        return EXPORT_SCHEMA.empty_table()
    meter = np.concatenate([p.meter for p in parts])
    channel = np.concatenate([p.channel for p in parts])
    digits = np.concatenate([np.full(len(p), p.digits, np.uint8) for p in parts])
    kinds, kind_index = np.unique(channel.astype(np.int64) * 16 + digits, return_inverse=True)
    types = [value_type(int(k) // 16, int(k) % 16) for k in kinds.tolist()]
    meters, meter_index = np.unique(meter, return_inverse=True)
    return pa.Table.from_arrays([
        pa.array(meter, pa.int64()),
        _labels(meter_index, [sp_of.get(m) for m in meters.tolist()]),
        pa.array(np.concatenate([p.t for p in parts]), pa.int64()).view(_TS),
        pa.array(channel, pa.uint16()),
        _labels(kind_index, [rt.code for _i, rt, _u in types]),
        _labels(kind_index, [unit for _i, _rt, unit in types]),
        pa.array(digits, pa.uint8()),
        pa.array(np.concatenate([p.value for p in parts]), pa.int64()),
        pa.array(np.concatenate([p.quality for p in parts]), pa.uint16()),
        pa.array(np.concatenate([p.version for p in parts]), pa.int64()),
    ], schema=EXPORT_SCHEMA)


def serialize(table: pa.Table, fmt: str) -> bytes:
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink, compression="zstd")
    else:
        plain = pa.table({name: (column.cast(pa.string())
                                 if pa.types.is_dictionary(column.type) else column)
                          for name, column in zip(table.schema.names, table.columns,
                                                  strict=True)})
        pacsv.write_csv(plain, sink)
    return sink.getvalue()
