"""Property maps (EPC 0x9D, 0x9E, 0x9F): which properties an object announces, sets, gets.

The first byte is the number of properties. Under 16 properties the EPCs follow, one per
byte (list form). From 16 on a 16-byte bitmap follows (ECHONET Lite spec part II, appendix
1): byte ``i`` holds EPCs ``0x?i``, bit ``j`` of it stands for EPC ``(0x8 + j) << 4 | i``.
Only EPCs 0x80–0xFF can be in a map.
"""

from __future__ import annotations

from collections.abc import Iterable

from smame.echonet.frame import FrameError

__all__ = ["BITMAP_THRESHOLD", "decode_property_map", "encode_property_map"]

BITMAP_THRESHOLD = 16


def encode_property_map(epcs: Iterable[int]) -> bytes:
    """EDT of a property map of ``epcs`` (duplicates ignored), list or bitmap form."""
    codes = sorted(set(epcs))
    for epc in codes:
        if not 0x80 <= epc <= 0xFF:
            raise ValueError(f"EPC {epc:#04x} cannot be in a property map (0x80–0xFF)")
    if len(codes) < BITMAP_THRESHOLD:
        return bytes([len(codes), *codes])
    bitmap = bytearray(16)
    for epc in codes:
        bitmap[epc & 0x0F] |= 1 << ((epc >> 4) - 8)
    return bytes([len(codes)]) + bytes(bitmap)


def decode_property_map(edt: bytes) -> frozenset[int]:
    """The EPCs of a property map EDT; raises :class:`FrameError` if it is malformed."""
    if not edt:
        raise FrameError("empty property map")
    count = edt[0]
    if count < BITMAP_THRESHOLD:
        if len(edt) != 1 + count:
            raise FrameError(f"list-form map of {count} EPCs is {len(edt) - 1} bytes")
        codes = frozenset(edt[1:])
        if len(codes) != count or any(epc < 0x80 for epc in codes):
            raise FrameError("list-form map has duplicate or out-of-range EPCs")
        return codes
    if len(edt) != 17:
        raise FrameError(f"bitmap-form map is {len(edt) - 1} bytes, not 16")
    codes = frozenset(
        ((bit + 8) << 4) | low
        for low, byte in enumerate(edt[1:])
        for bit in range(8)
        if byte >> bit & 1
    )
    if len(codes) != count:
        raise FrameError(f"bitmap holds {len(codes)} EPCs but the count says {count}")
    return codes
