"""ECHONET Lite frames: bytes to :class:`Frame` and back (sans-I/O, SPEC M8 B-route).

A frame is ``EHD1 EHD2 TID EDATA``. With EHD 0x1081 (specified message format) EDATA is
``SEOJ DEOJ ESV OPC (EPC PDC EDT)*``; the SetGet family carries two property blocks,
``OPCSet`` then ``OPCGet``. With EHD 0x1082 (arbitrary message format) EDATA is opaque.
Integers are big-endian. Nothing here opens a socket or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "EHD_ARBITRARY",
    "EHD_SPECIFIED",
    "EOJ",
    "ESV",
    "MAX_PROPERTIES",
    "ArbitraryFrame",
    "Frame",
    "FrameError",
    "Property",
    "decode",
    "decode_frame",
    "encode",
]

EHD_SPECIFIED = 0x1081
EHD_ARBITRARY = 0x1082
MAX_PROPERTIES = 255  # OPC is one byte
_HEADER = 12  # EHD(2) TID(2) SEOJ(3) DEOJ(3) ESV(1) OPC(1)


class FrameError(ValueError):
    """Bytes that are not a well-formed ECHONET Lite frame."""


class ESV(IntEnum):
    """Service codes (ECHONET Lite spec part II, 3.2.5)."""

    SETI = 0x60
    SETC = 0x61
    GET = 0x62
    INF_REQ = 0x63
    SETGET = 0x6E
    SET_RES = 0x71
    GET_RES = 0x72
    INF = 0x73
    INFC = 0x74
    INFC_RES = 0x7A
    SETGET_RES = 0x7E
    SETI_SNA = 0x50
    SETC_SNA = 0x51
    GET_SNA = 0x52
    INF_SNA = 0x53
    SETGET_SNA = 0x5E


SETGET_FAMILY = frozenset({ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA})
REQUESTS = frozenset({ESV.SETI, ESV.SETC, ESV.GET, ESV.INF_REQ, ESV.SETGET, ESV.INFC})


class EOJ(NamedTuple):
    """An ECHONET object: class group, class and instance code (instance 0 = all)."""

    group: int
    cls: int
    instance: int

    @classmethod
    def parse(cls, code: int | str | bytes) -> EOJ:
        """From ``0x028801``, ``"028801"`` or three bytes."""
        if isinstance(code, str):
            code = int(code, 16)
        if isinstance(code, bytes | bytearray):
            if len(code) != 3:
                raise FrameError(f"an EOJ is 3 bytes, got {len(code)}")
            return cls(code[0], code[1], code[2])
        if not 0 <= code <= 0xFFFFFF:
            raise FrameError(f"EOJ {code:#x} is not 3 bytes")
        return cls(code >> 16, (code >> 8) & 0xFF, code & 0xFF)

    @property
    def class_code(self) -> int:
        """Group and class as one 16-bit code, e.g. 0x0288."""
        return self.group << 8 | self.cls

    def to_bytes(self) -> bytes:
        return bytes((self.group, self.cls, self.instance))

    def __str__(self) -> str:
        return f"{self.group:02X}{self.cls:02X}{self.instance:02X}"


@dataclass(frozen=True, slots=True)
class Property:
    """One ``EPC PDC EDT`` block; an empty ``edt`` is PDC 0."""

    epc: int
    edt: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.epc <= 0xFF:
            raise FrameError(f"EPC {self.epc} is not one byte")
        if len(self.edt) > 0xFF:
            raise FrameError(f"EDT of EPC {self.epc:#04x} is {len(self.edt)} bytes (PDC max 255)")


@dataclass(frozen=True, slots=True)
class Frame:
    """A specified-format (EHD 0x1081) frame.

    ``properties`` is the only block, or the Set block of the SetGet family, whose Get
    block is ``get_properties``. ``esv`` stays an ``int`` for codes this module does not
    know, so unknown services can be decoded and ignored by the node.
    """

    tid: int
    seoj: EOJ
    deoj: EOJ
    esv: int
    properties: tuple[Property, ...] = ()
    get_properties: tuple[Property, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.tid <= 0xFFFF:
            raise FrameError(f"TID {self.tid} is not two bytes")
        if not 0 <= self.esv <= 0xFF:
            raise FrameError(f"ESV {self.esv} is not one byte")
        if len(self.properties) > MAX_PROPERTIES or len(self.get_properties) > MAX_PROPERTIES:
            raise FrameError("more than 255 properties in one block")
        if self.get_properties and self.esv not in SETGET_FAMILY:
            raise FrameError(f"ESV {self.esv:#04x} has no Get block")

    @property
    def epcs(self) -> tuple[int, ...]:
        return tuple(p.epc for p in self.properties)

    def edt(self, epc: int) -> bytes | None:
        """EDT of the first property ``epc`` in the (first) block, or None."""
        for prop in self.properties:
            if prop.epc == epc:
                return prop.edt
        return None


@dataclass(frozen=True, slots=True)
class ArbitraryFrame:
    """An arbitrary-format (EHD 0x1082) frame: EDATA is not interpreted."""

    tid: int
    edata: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.tid <= 0xFFFF:
            raise FrameError(f"TID {self.tid} is not two bytes")


def _block(data: bytes, offset: int, count: int) -> tuple[tuple[Property, ...], int]:
    props = []
    end = len(data)
    for _ in range(count):
        if offset + 2 > end:
            raise FrameError("frame ends inside a property header")
        epc = data[offset]
        pdc = data[offset + 1]
        offset += 2
        if offset + pdc > end:
            raise FrameError(f"EPC {epc:#04x} declares {pdc} bytes, {end - offset} left")
        props.append(Property(epc, bytes(data[offset:offset + pdc])))
        offset += pdc
    return tuple(props), offset


def decode(data: bytes) -> Frame | ArbitraryFrame:
    """Parse one frame. Raises :class:`FrameError` on anything malformed.

    Trailing bytes after the last property are refused: the length of a UDP datagram or
    an ERXUDP payload is the length of one frame.
    """
    if len(data) < 4:
        raise FrameError(f"{len(data)} bytes is shorter than EHD and TID")
    ehd = data[0] << 8 | data[1]
    tid = data[2] << 8 | data[3]
    if ehd == EHD_ARBITRARY:
        return ArbitraryFrame(tid, bytes(data[4:]))
    if ehd != EHD_SPECIFIED:
        raise FrameError(f"EHD {ehd:#06x} is not ECHONET Lite")
    if len(data) < _HEADER:
        raise FrameError(f"{len(data)} bytes is shorter than a frame header")
    seoj = EOJ(data[4], data[5], data[6])
    deoj = EOJ(data[7], data[8], data[9])
    esv = data[10]
    props, offset = _block(data, _HEADER, data[11])
    get_props: tuple[Property, ...] = ()
    if esv in SETGET_FAMILY:
        if offset >= len(data):
            raise FrameError("SetGet frame has no OPCGet")
        get_props, offset = _block(data, offset + 1, data[offset])
    if offset != len(data):
        raise FrameError(f"{len(data) - offset} bytes after the last property")
    return Frame(tid, seoj, deoj, esv, props, get_props)


def decode_frame(data: bytes) -> Frame:
    """Like :func:`decode` but only specified-format frames are accepted."""
    frame = decode(data)
    if not isinstance(frame, Frame):
        raise FrameError("arbitrary-format (EHD 0x1082) frame")
    return frame


def _encode_block(out: bytearray, props: tuple[Property, ...]) -> None:
    out.append(len(props))
    for prop in props:
        out.append(prop.epc)
        out.append(len(prop.edt))
        out += prop.edt


def encode(frame: Frame | ArbitraryFrame) -> bytes:
    """Bytes of a frame."""
    if isinstance(frame, ArbitraryFrame):
        return b"\x10\x82" + frame.tid.to_bytes(2, "big") + frame.edata
    out = bytearray(b"\x10\x81")
    out += frame.tid.to_bytes(2, "big")
    out += bytes(frame.seoj)
    out += bytes(frame.deoj)
    out.append(frame.esv)
    _encode_block(out, frame.properties)
    if frame.esv in SETGET_FAMILY:
        _encode_block(out, frame.get_properties)
    return bytes(out)
