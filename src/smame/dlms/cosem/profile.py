"""Profile generic (class 7, version 1) over the meter's stores and event log (SPEC M3, M6–M8).

A load profile's buffer holds the register readings the meter stored at each interval
boundary (``Meter.stored``); interval values are their wrap-aware differences. An event
log's buffer holds ``Meter.events()``. Entries are sorted by time (fifo). Selective
access: by range on the clock column (selector 1) and by entry (selector 2).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dlms_cosem.enumerations import DataAccessResult

from smame.dlms import axdr, obis
from smame.dlms.axdr import Data
from smame.dlms.cosem.base import (
    AttributeDef,
    Context,
    CosemError,
    CosemObject,
    MethodDef,
    Selection,
)
from smame.dlms.cosem_time import decode_datetime, encode_datetime
from smame.meter.events import EventKind

__all__ = ["Column", "capture_definition", "event_log", "load_profile"]

RANGE, ENTRY = 1, 2
_FAR_FUTURE = 2**40  # POSIX seconds beyond any stored reading


@dataclass(frozen=True)
class Column:
    """A capture object and how one buffer cell of it is encoded."""

    class_id: int
    logical_name: bytes
    attribute: int
    encode: Callable[[int], bytes]

    def definition(self) -> bytes:
        return capture_definition(self.class_id, self.logical_name, self.attribute)


def capture_definition(class_id: int, logical_name: bytes, attribute: int,
                       data_index: int = 0) -> bytes:
    """``capture_object_definition`` structure."""
    return axdr.structure(axdr.long_unsigned(class_id), axdr.octet_string(logical_name),
                          axdr.integer(attribute), axdr.long_unsigned(data_index))


def cell_time(posix: int) -> bytes:
    return b"\x09\x0c" + encode_datetime(int(posix))


def cell_u8(value: int) -> bytes:
    return b"\x11" + struct.pack(">B", int(value))


def cell_u16(value: int) -> bytes:
    return b"\x12" + struct.pack(">H", int(value))


def cell_u32(value: int) -> bytes:
    return b"\x06" + struct.pack(">I", int(value))


def cell_i64(value: int) -> bytes:
    return b"\x14" + struct.pack(">q", int(value))


CLOCK_COLUMN = Column(8, obis.CLOCK, 2, cell_time)

Rows = list[Sequence[int]]
Reader = Callable[[Context, int, int], Rows]
"""Rows with a time in ``[start, end]`` (POSIX seconds), oldest first; cell 0 is the time."""


# ------------------------------------------------------------------ selective access


def _is_clock(definition: tuple[Data, ...]) -> bool:
    return (axdr.as_int(definition[0]) == 8 and axdr.as_octets(definition[1]) == obis.CLOCK
            and axdr.as_int(definition[2]) == 2)


def _match_columns(columns: Sequence[Column], wanted: tuple[Data, ...]) -> list[int]:
    if not wanted:
        return list(range(len(columns)))
    picked = []
    for item in wanted:
        fields = axdr.as_structure(item, 4)
        key = (axdr.as_int(fields[0]), axdr.as_octets(fields[1]), axdr.as_int(fields[2]))
        for k, column in enumerate(columns):
            if (column.class_id, column.logical_name, column.attribute) == key:
                picked.append(k)
                break
        else:
            raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE,
                             f"{obis.ln_str(key[1])} is not captured by this profile")
    return picked


def _select(ctx: Context, columns: Sequence[Column], read: Reader,
            selection: Selection | None) -> tuple[Rows, list[int]]:
    if selection is None:
        return read(ctx, 0, _FAR_FUTURE), list(range(len(columns)))
    if selection.selector == RANGE:
        restricting, start, end, selected = axdr.as_structure(selection.parameters, 4)
        if not _is_clock(axdr.as_structure(restricting, 4)):
            raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE,
                             "range selection works on the clock column only")
        lo = decode_datetime(axdr.as_octets(start, 12))
        hi = decode_datetime(axdr.as_octets(end, 12))
        picked = _match_columns(columns, axdr.as_array(selected))
        return (read(ctx, lo, hi) if lo <= hi else []), picked
    # ENTRY: from_entry, to_entry (0 = last), from_selected_value, to_selected_value (0 = last)
    first, last, first_col, last_col = axdr.as_structure(selection.parameters, 4)
    from_entry = axdr.as_int(first, 1, 0xFFFFFFFF)
    to_entry = axdr.as_int(last, 0, 0xFFFFFFFF)
    from_col = axdr.as_int(first_col, 1, 0xFFFF)
    to_col = axdr.as_int(last_col, 0, 0xFFFF) or len(columns)
    if from_col > to_col or to_col > len(columns) or (to_entry and from_entry > to_entry):
        raise CosemError(DataAccessResult.OTHER_REASON, "entry descriptor out of range")
    rows = read(ctx, 0, _FAR_FUTURE)
    rows = rows[from_entry - 1:to_entry or len(rows)]
    return rows, list(range(from_col - 1, to_col))


def _buffer(columns: Sequence[Column], read: Reader) -> Callable[[Context, Selection | None],
                                                                  bytes]:
    def get(ctx: Context, selection: Selection | None) -> bytes:
        rows, picked = _select(ctx, columns, read, selection)
        head = b"\x02" + axdr.encode_length(len(picked))
        cells = [columns[k].encode for k in picked]
        body = [head + b"".join(enc(row[k]) for enc, k in zip(cells, picked, strict=True))
                for row in rows]
        return b"\x01" + axdr.encode_length(len(body)) + b"".join(body)

    return get


def _refuse(_ctx: Context, _params: Data | None) -> bytes | None:
    raise CosemError(DataAccessResult.READ_WRITE_DENIED, "the profile is kept by the meter")


def _profile(logical_name: bytes, name: str, columns: Sequence[Column], read: Reader,
             capture_period_s: int, in_use: Callable[[Context], int],
             capacity: Callable[[Context], int], backing: str) -> CosemObject:
    definitions = axdr.array(c.definition() for c in columns)

    def const(raw: bytes) -> Callable[[Context, Selection | None], bytes]:
        return lambda _c, _s: raw

    attributes = {
        2: AttributeDef(_buffer(columns, read), selectors=frozenset({RANGE, ENTRY}),
                        doc="buffer"),
        3: AttributeDef(const(definitions), doc="capture_objects"),
        4: AttributeDef(const(axdr.double_long_unsigned(capture_period_s)),
                        doc="capture_period (s)"),
        5: AttributeDef(const(axdr.enum(1)), doc="sort_method (fifo: by time)"),
        6: AttributeDef(const(CLOCK_COLUMN.definition()), doc="sort_object (clock)"),
        7: AttributeDef(lambda ctx, _s: axdr.double_long_unsigned(in_use(ctx)),
                        doc="entries_in_use"),
        8: AttributeDef(lambda ctx, _s: axdr.double_long_unsigned(capacity(ctx)),
                        doc="profile_entries"),
    }
    methods = {1: MethodDef(_refuse, "reset (refused)"),
               2: MethodDef(_refuse, "capture (refused)")}
    return CosemObject(7, logical_name, name, attributes, methods, version=1, backing=backing)


# ------------------------------------------------------------------ load profiles


def load_profile(logical_name: bytes, name: str, period: int,
                 stored: Sequence[tuple[str, Column]], with_status: bool) -> CosemObject:
    """A load profile of the ``period``-minute store: clock, [status], stored readings."""
    columns = [CLOCK_COLUMN]
    if with_status:
        columns.append(Column(1, obis.PROFILE_STATUS, 2, cell_u16))
    columns += [column for _name, column in stored]
    names = [name for name, _column in stored]

    def read(ctx: Context, start: int, end: int) -> Rows:
        readings = ctx.meter.stored(period, start, end)
        cells = [readings.boundaries * 60]
        if with_status:
            assert readings.flags is not None
            cells.append(readings.flags[0])
        cells += [readings.values[n][0] for n in names]
        return [tuple(int(v) for v in row) for row in zip(*cells, strict=True)]

    def store(ctx: Context):
        return ctx.meter.fleet.storage[period]

    return _profile(logical_name, name, columns, read, period * 60,
                    lambda ctx: store(ctx).count, lambda ctx: store(ctx).slots,
                    f"Meter.stored({period}, …)")


# ------------------------------------------------------------------ event logs

EVENT_COLUMNS = (
    CLOCK_COLUMN,
    Column(1, obis.EVENT_CODE, 2, cell_u8),
    Column(1, obis.EVENT_VALUE, 2, cell_i64),
    Column(1, obis.EVENT_REFERENCE, 2, cell_u32),
)


def event_log(logical_name: bytes, name: str,
              kinds: frozenset[EventKind] | None) -> CosemObject:
    """An event log over ``Meter.events()``, all kinds or only ``kinds``."""

    def events(ctx: Context):
        return [e for e in ctx.meter.events() if kinds is None or e.kind in kinds]

    def read(ctx: Context, start: int, end: int) -> Rows:
        return [(e.time, int(e.kind), e.value, e.reference & 0xFFFFFFFF)
                for e in sorted(events(ctx), key=lambda e: e.time) if start <= e.time <= end]

    return _profile(logical_name, name, EVENT_COLUMNS, read, 0,
                    lambda ctx: len(events(ctx)),
                    lambda ctx: ctx.meter.fleet.events.per_meter,
                    "Meter.events()" + ("" if kinds is None else
                                        " of kinds " + ", ".join(k.name for k in sorted(kinds))))
