"""COSEM date-time, date and time octet strings (Blue Book 4.1.6.1), in JST.

The meter keeps Japan Standard Time: every date-time it sends carries the deviation
-540 (Blue Book sign: minutes from local time to UTC) and no daylight saving. Times a
client sends may carry any deviation; an unspecified deviation (0x8000) means JST.
All instants are POSIX seconds (UTC). Used for the clock and profile timestamps (SPEC M1,
M3) and for ampere-limit reservation times (M7).
"""

from __future__ import annotations

import struct
from datetime import date, datetime, timedelta, timezone

from smame.clock import JST

__all__ = [
    "DEVIATION_JST",
    "JST",
    "NOT_SPECIFIED_DATETIME",
    "TimeFormatError",
    "decode_date_and_time",
    "decode_datetime",
    "encode_date",
    "encode_datetime",
    "encode_time",
]

DEVIATION_JST = -540
_UNSPECIFIED_DEVIATION = -0x8000
NOT_SPECIFIED_DATETIME = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"
"""A date-time with every field 'not specified' (used for unused DST dates)."""


class TimeFormatError(ValueError):
    """Octets that do not name one instant (wildcards, impossible dates, bad deviation)."""


def encode_date(day: date) -> bytes:
    """5 octets: year, month, day of month, day of week (1 = Monday)."""
    return struct.pack(">HBBB", day.year, day.month, day.day, day.isoweekday())


def encode_time(hour: int, minute: int, second: int) -> bytes:
    """4 octets: hour, minute, second, hundredths (0)."""
    return bytes((hour, minute, second, 0))


def encode_datetime(posix_seconds: int) -> bytes:
    """12 octets for ``posix_seconds`` as JST, deviation -540, clock status 0."""
    local = datetime.fromtimestamp(int(posix_seconds), JST)
    return (encode_date(local.date()) + encode_time(local.hour, local.minute, local.second)
            + struct.pack(">h", DEVIATION_JST) + b"\x00")


def _fields(date_raw: bytes, time_raw: bytes) -> datetime:
    """Naive local datetime from 5 date and 4 time octets; rejects wildcards."""
    year, month, day, weekday = struct.unpack(">HBBB", date_raw)
    hour, minute, second, hundredths = time_raw
    if year == 0xFFFF or month > 12 or day > 31 or hour > 23 or minute > 59:
        raise TimeFormatError("date and time must be fully specified")
    if weekday not in (0xFF, *range(1, 8)):
        raise TimeFormatError(f"day of week {weekday} outside 1–7")
    if second == 0xFF:
        second = 0
    if second > 59 or (hundredths != 0xFF and hundredths > 99):
        raise TimeFormatError("seconds or hundredths out of range")
    try:
        return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 (local fields)
    except ValueError as exc:
        raise TimeFormatError(str(exc)) from None


def decode_datetime(raw: bytes) -> int:
    """POSIX seconds of a 12-octet date-time (hundredths dropped).

    The deviation gives the offset; 0x8000 (not specified) means JST.
    """
    if len(raw) != 12:
        raise TimeFormatError(f"a date-time has 12 octets, not {len(raw)}")
    local = _fields(raw[0:5], raw[5:9])
    (deviation,) = struct.unpack(">h", raw[9:11])
    if deviation == _UNSPECIFIED_DEVIATION:
        tz = JST
    elif -840 <= deviation <= 840:
        tz = timezone(timedelta(minutes=-deviation))
    else:
        raise TimeFormatError(f"deviation {deviation} min is outside ±840")
    return int(local.replace(tzinfo=tz).timestamp())


def decode_date_and_time(time_raw: bytes, date_raw: bytes) -> int:
    """POSIX seconds of a (time, date) pair in JST, as in a single action schedule."""
    if len(time_raw) != 4 or len(date_raw) != 5:
        raise TimeFormatError("execution time is 4 time octets and 5 date octets")
    return int(_fields(date_raw, time_raw).replace(tzinfo=JST).timestamp())
