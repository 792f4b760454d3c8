"""IEC 62056-47 wrapper framing (DLMS/COSEM over TCP and UDP), sans-I/O: the A-route's
transport framing for reads, commands and pushes (SPEC S1, S2, S11).

A frame is an 8-octet header (version 0x0001, source wPort, destination wPort, payload
length, each 16-bit big-endian) and the APDU. :class:`WrapperDecoder` takes bytes as they
come, in any pieces, and gives back whole frames; it tolerates frames split across reads,
several frames in one read, and garbage between frames (skipped up to the next
``00 01``). Frames longer than the limit are skipped unread and reported.

The wrapper has no start marker or checksum, so garbage that happens to look like a
header is taken for one; the server then refuses what it carries.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "VERSION",
    "Discarded",
    "Frame",
    "Oversized",
    "WrapperDecoder",
    "encode_frame",
]

VERSION = 1
HEADER_SIZE = 8
MAX_PAYLOAD = 0xFFFF
_HEADER = struct.Struct(">HHHH")
_MARK = b"\x00\x01"


@dataclass(frozen=True)
class Frame:
    source: int  # wPort of the sender (client SAP on requests)
    destination: int  # wPort of the receiver (server logical device on requests)
    payload: bytes


@dataclass(frozen=True)
class Discarded:
    """Octets skipped because they did not start a frame."""

    count: int


@dataclass(frozen=True)
class Oversized:
    """A frame whose payload exceeds the decoder's limit; its payload is skipped."""

    source: int
    destination: int
    length: int


def encode_frame(source: int, destination: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} octets exceeds the wrapper's 65535")
    return _HEADER.pack(VERSION, source, destination, len(payload)) + bytes(payload)


class WrapperDecoder:
    """Bytes in, frames out."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._skip = 0

    @property
    def buffered(self) -> int:
        """Octets held back waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | Discarded | Oversized]:
        buf = self._buffer
        buf += data
        out: list[Frame | Discarded | Oversized] = []
        dropped = 0
        while True:
            if self._skip:
                n = min(self._skip, len(buf))
                del buf[:n]
                self._skip -= n
                if self._skip:
                    break
                continue
            if not buf:
                break
            if buf[:2] != _MARK[:len(buf)]:
                at = buf.find(_MARK, 1)
                if at < 0:  # keep a trailing 0x00: it may start the next header
                    at = len(buf) - 1 if buf[-1] == 0 else len(buf)
                    at = max(at, 1)
                dropped += at
                del buf[:at]
                continue
            if len(buf) < HEADER_SIZE:
                break
            if dropped:
                out.append(Discarded(dropped))
                dropped = 0
            _version, source, destination, length = _HEADER.unpack_from(buf)
            if length > self.max_payload:
                out.append(Oversized(source, destination, length))
                del buf[:HEADER_SIZE]
                self._skip = length
                continue
            if len(buf) < HEADER_SIZE + length:
                break
            out.append(Frame(source, destination, bytes(buf[HEADER_SIZE:HEADER_SIZE + length])))
            del buf[:HEADER_SIZE + length]
        if dropped:
            out.append(Discarded(dropped))
        return out
