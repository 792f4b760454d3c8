"""A-XDR ``Data`` (IEC 62056-6-2 / Green Book): a strict decoder and small encoders.

The server must decode what any client sends without ever hanging or crashing. The
dlms-cosem library's A-XDR parsers read past the end of short input without noticing, and
on a truncated array they loop forever (found by fuzzing), and its encoders give octet
strings a one-byte length. So ``Data`` is handled here: decoding checks every length
against the bytes left and nests at most :data:`MAX_DEPTH` levels; encoders build
bytes directly. The dlms-cosem client decodes everything encoded here (tests check it).

Used by the A-route server (SPEC M1–M8) for every attribute value and parameter.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "MAX_DEPTH",
    "AxdrError",
    "Data",
    "Tag",
    "array",
    "as_array",
    "as_bool",
    "as_int",
    "as_octets",
    "as_structure",
    "bit_string",
    "boolean",
    "decode",
    "decode_length",
    "decode_prefix",
    "double_long",
    "double_long_unsigned",
    "encode",
    "encode_length",
    "enum",
    "integer",
    "long",
    "long64",
    "long_unsigned",
    "null",
    "octet_string",
    "structure",
    "unsigned",
    "visible_string",
]

MAX_DEPTH = 16


class AxdrError(Exception):
    """Bytes that are not a valid A-XDR ``Data`` value, or a value of the wrong type."""


class Tag(IntEnum):
    """``Data`` CHOICE tags."""

    NULL = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27
    DONT_CARE = 255


# (size in octets, struct format) of fixed-size simple types.
_FIXED: dict[Tag, tuple[int, str | None]] = {
    Tag.NULL: (0, None),
    Tag.DONT_CARE: (0, None),
    Tag.BOOLEAN: (1, None),
    Tag.DOUBLE_LONG: (4, ">i"),
    Tag.DOUBLE_LONG_UNSIGNED: (4, ">I"),
    Tag.BCD: (1, ">b"),
    Tag.INTEGER: (1, ">b"),
    Tag.LONG: (2, ">h"),
    Tag.UNSIGNED: (1, ">B"),
    Tag.LONG_UNSIGNED: (2, ">H"),
    Tag.LONG64: (8, ">q"),
    Tag.LONG64_UNSIGNED: (8, ">Q"),
    Tag.ENUM: (1, ">B"),
    Tag.FLOAT32: (4, ">f"),
    Tag.FLOAT64: (8, ">d"),
    Tag.DATE_TIME: (12, None),
    Tag.DATE: (5, None),
    Tag.TIME: (4, None),
}
_INTEGER_TAGS = frozenset({
    Tag.DOUBLE_LONG, Tag.DOUBLE_LONG_UNSIGNED, Tag.INTEGER, Tag.LONG, Tag.UNSIGNED,
    Tag.LONG_UNSIGNED, Tag.LONG64, Tag.LONG64_UNSIGNED, Tag.ENUM,
})


@dataclass(frozen=True, slots=True)
class Data:
    """A decoded value. ``value`` is None, bool, int, float, bytes (octet strings, raw
    date/time octets, bit strings), str, or a tuple of :class:`Data` (array, structure)."""

    tag: Tag
    value: object = None


# ---------------------------------------------------------------------- decoding


def decode_length(buf: bytes, offset: int) -> tuple[int, int]:
    """A-XDR variable-length integer at ``offset``: (value, offset after it)."""
    if offset >= len(buf):
        raise AxdrError("length expected, input ended")
    first = buf[offset]
    if first < 0x80:
        return first, offset + 1
    size = first & 0x7F
    if size == 0 or size > 4:
        raise AxdrError(f"length of {size} octets is not supported")
    end = offset + 1 + size
    if end > len(buf):
        raise AxdrError("length octets cut short")
    return int.from_bytes(buf[offset + 1:end], "big"), end


def _take(buf: bytes, offset: int, size: int) -> tuple[bytes, int]:
    end = offset + size
    if end > len(buf):
        raise AxdrError(f"{size} octets expected, {len(buf) - offset} left")
    return bytes(buf[offset:end]), end


def decode_prefix(buf: bytes, offset: int = 0, depth: int = 0) -> tuple[Data, int]:
    """Decode one ``Data`` at ``offset``; returns it and the offset after it."""
    if depth > MAX_DEPTH:
        raise AxdrError(f"data nested deeper than {MAX_DEPTH} levels")
    if offset >= len(buf):
        raise AxdrError("data expected, input ended")
    try:
        tag = Tag(buf[offset])
    except ValueError:
        raise AxdrError(f"unknown data tag {buf[offset]}") from None
    offset += 1
    if tag in (Tag.ARRAY, Tag.STRUCTURE):
        count, offset = decode_length(buf, offset)
        if count > len(buf) - offset:  # every element needs at least its tag octet
            raise AxdrError(f"{count} elements cannot fit in {len(buf) - offset} octets")
        items = []
        for _ in range(count):
            item, offset = decode_prefix(buf, offset, depth + 1)
            items.append(item)
        return Data(tag, tuple(items)), offset
    if tag in (Tag.OCTET_STRING, Tag.VISIBLE_STRING, Tag.UTF8_STRING):
        size, offset = decode_length(buf, offset)
        raw, offset = _take(buf, offset, size)
        if tag is Tag.OCTET_STRING:
            return Data(tag, raw), offset
        try:
            text = raw.decode("ascii" if tag is Tag.VISIBLE_STRING else "utf-8")
        except UnicodeDecodeError:
            raise AxdrError(f"{tag.name.lower()} is not valid text") from None
        return Data(tag, text), offset
    if tag is Tag.BIT_STRING:
        bits, offset = decode_length(buf, offset)
        raw, offset = _take(buf, offset, (bits + 7) // 8)
        return Data(tag, raw), offset
    if tag is Tag.COMPACT_ARRAY:
        raise AxdrError("compact-array is not supported")
    size, fmt = _FIXED[tag]
    raw, offset = _take(buf, offset, size)
    if tag in (Tag.NULL, Tag.DONT_CARE):
        return Data(tag, None), offset
    if tag is Tag.BOOLEAN:
        return Data(tag, raw[0] != 0), offset
    if fmt is None:
        return Data(tag, raw), offset  # date-time, date, time: raw octets
    return Data(tag, struct.unpack(fmt, raw)[0]), offset


def decode(buf: bytes) -> Data:
    """Decode exactly one ``Data`` that fills ``buf``."""
    value, end = decode_prefix(buf, 0)
    if end != len(buf):
        raise AxdrError(f"{len(buf) - end} octets left after the data")
    return value


# ---------------------------------------------------------------------- typed access


def as_int(data: Data | None, low: int | None = None, high: int | None = None) -> int:
    """An integer of any integer type, optionally checked to lie in ``[low, high]``."""
    if data is None or data.tag not in _INTEGER_TAGS:
        raise AxdrError(f"an integer is expected, got {_name(data)}")
    value = int(data.value)  # type: ignore[call-overload]
    if (low is not None and value < low) or (high is not None and value > high):
        raise AxdrError(f"value {value} outside {low}..{high}")
    return value


def as_bool(data: Data | None) -> bool:
    if data is None or data.tag is not Tag.BOOLEAN:
        raise AxdrError(f"a boolean is expected, got {_name(data)}")
    return bool(data.value)


def as_octets(data: Data | None, size: int | None = None) -> bytes:
    """Raw octets of an octet-string (or of a date-time/date/time value)."""
    if data is None or data.tag not in (Tag.OCTET_STRING, Tag.DATE_TIME, Tag.DATE, Tag.TIME):
        raise AxdrError(f"an octet-string is expected, got {_name(data)}")
    raw = data.value
    assert isinstance(raw, bytes)
    if size is not None and len(raw) != size:
        raise AxdrError(f"{size} octets expected, got {len(raw)}")
    return raw


def as_structure(data: Data | None, size: int | None = None) -> tuple[Data, ...]:
    if data is None or data.tag is not Tag.STRUCTURE:
        raise AxdrError(f"a structure is expected, got {_name(data)}")
    items = data.value
    assert isinstance(items, tuple)
    if size is not None and len(items) != size:
        raise AxdrError(f"a structure of {size} elements is expected, got {len(items)}")
    return items


def as_array(data: Data | None) -> tuple[Data, ...]:
    if data is None or data.tag is not Tag.ARRAY:
        raise AxdrError(f"an array is expected, got {_name(data)}")
    items = data.value
    assert isinstance(items, tuple)
    return items


def _name(data: Data | None) -> str:
    return "nothing" if data is None else data.tag.name.lower()


# ---------------------------------------------------------------------- encoding


def encode_length(n: int) -> bytes:
    """A-XDR variable-length integer."""
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def null() -> bytes:
    return b"\x00"


def array(items: Iterable[bytes]) -> bytes:
    parts = list(items)
    return b"\x01" + encode_length(len(parts)) + b"".join(parts)


def structure(*items: bytes) -> bytes:
    return b"\x02" + encode_length(len(items)) + b"".join(items)


def bit_string(value: bytes) -> bytes:
    """A bit-string of ``8 * len(value)`` bits, the first bit the top bit of the first octet."""
    return b"\x04" + encode_length(len(value) * 8) + value


def boolean(value: bool) -> bytes:
    return b"\x03\xff" if value else b"\x03\x00"


def double_long(value: int) -> bytes:
    return b"\x05" + struct.pack(">i", value)


def double_long_unsigned(value: int) -> bytes:
    return b"\x06" + struct.pack(">I", value)


def octet_string(value: bytes) -> bytes:
    return b"\x09" + encode_length(len(value)) + bytes(value)


def visible_string(value: str) -> bytes:
    raw = value.encode("ascii")
    return b"\x0a" + encode_length(len(raw)) + raw


def integer(value: int) -> bytes:
    return b"\x0f" + struct.pack(">b", value)


def long(value: int) -> bytes:
    return b"\x10" + struct.pack(">h", value)


def unsigned(value: int) -> bytes:
    return b"\x11" + struct.pack(">B", value)


def long_unsigned(value: int) -> bytes:
    return b"\x12" + struct.pack(">H", value)


def long64(value: int) -> bytes:
    return b"\x14" + struct.pack(">q", value)


def enum(value: int) -> bytes:
    return b"\x16" + struct.pack(">B", value)


def encode(data: Data) -> bytes:
    """Encode a :class:`Data` (the inverse of :func:`decode`)."""
    tag = data.tag
    if tag in (Tag.ARRAY, Tag.STRUCTURE):
        items = data.value
        assert isinstance(items, tuple)
        return bytes((tag,)) + encode_length(len(items)) + b"".join(encode(i) for i in items)
    if tag is Tag.OCTET_STRING:
        assert isinstance(data.value, bytes)
        return octet_string(data.value)
    if tag in (Tag.VISIBLE_STRING, Tag.UTF8_STRING):
        assert isinstance(data.value, str)
        raw = data.value.encode("ascii" if tag is Tag.VISIBLE_STRING else "utf-8")
        return bytes((tag,)) + encode_length(len(raw)) + raw
    if tag is Tag.BIT_STRING:
        assert isinstance(data.value, bytes)
        return bit_string(data.value)
    if tag is Tag.BOOLEAN:
        return boolean(bool(data.value))
    size, fmt = _FIXED[tag]
    if size == 0:
        return bytes((tag,))
    if fmt is None:
        assert isinstance(data.value, bytes)
        return bytes((tag,)) + data.value
    return bytes((tag,)) + struct.pack(fmt, data.value)
