"""EDT encodings of the smart meter class 0x0288 and the super class (both directions).

Each pair ``encode_x``/``decode_x`` follows the ECHONET Lite appendix "Detailed
Requirements for ECHONET Device objects", class 0x0288. Energies are register values in
the unit of EPC 0xE1 times the coefficient of EPC 0xD3 (SPEC M1); ``None`` stands for the
no-data codes (0xFFFFFFFE for energies). Times are the meter's local time, JST.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from smame.clock import JST
from smame.echonet.frame import FrameError

__all__ = [
    "JST",
    "NO_DATA_ENERGY",
    "UNIT_CODES",
    "decode_currents",
    "decode_datetime6",
    "decode_datetime7",
    "decode_fixed_time",
    "decode_history1",
    "decode_history_pairs",
    "decode_history_time",
    "decode_one_minute",
    "decode_power",
    "decode_u32",
    "decode_voltages",
    "encode_currents",
    "encode_datetime6",
    "encode_datetime7",
    "encode_fixed_time",
    "encode_history1",
    "encode_history_pairs",
    "encode_history_time",
    "encode_one_minute",
    "encode_power",
    "encode_voltages",
    "unit_code",
    "unit_kwh",
]

NO_DATA_ENERGY = 0xFFFFFFFE
NO_DATA_POWER = 0x7FFFFFFE
NO_DATA_CURRENT = 0x7FFE
NO_DATA_VOLTAGE = 0xFFFE
UNSET_TIME = b"\xff\xff\xff\xff\xff\xff"

UNIT_CODES = {0x00: 1.0, 0x01: 0.1, 0x02: 0.01, 0x03: 0.001, 0x04: 0.0001,
              0x0A: 10.0, 0x0B: 100.0, 0x0C: 1000.0, 0x0D: 10000.0}
"""EPC 0xE1: code → kWh per register unit."""


def unit_code(unit_exponent: int) -> int:
    """EPC 0xE1 code of a register unit of ``10**unit_exponent`` kWh (SPEC M1)."""
    if -4 <= unit_exponent <= 0:
        return -unit_exponent
    if 1 <= unit_exponent <= 4:
        return 0x09 + unit_exponent
    raise ValueError(f"no EPC 0xE1 code for 10^{unit_exponent} kWh")


def unit_kwh(code: int) -> float:
    """kWh per register unit for an EPC 0xE1 code."""
    try:
        return UNIT_CODES[code]
    except KeyError:
        raise FrameError(f"unknown unit code {code:#04x}") from None


def _need(edt: bytes, size: int, what: str) -> None:
    if len(edt) != size:
        raise FrameError(f"{what} is {size} bytes, got {len(edt)}")


def _energy(value: int | None) -> bytes:
    if value is None:
        return NO_DATA_ENERGY.to_bytes(4, "big")
    if not 0 <= value <= 99_999_999:
        raise ValueError(f"energy {value} outside 0..99,999,999")
    return value.to_bytes(4, "big")


def _read_energy(raw: bytes) -> int | None:
    value = int.from_bytes(raw, "big")
    return None if value == NO_DATA_ENERGY else value


def decode_u32(edt: bytes) -> int | None:
    """E0/E3 cumulative energy (register units) or D3 coefficient; None for no data."""
    _need(edt, 4, "a 4-byte value")
    return _read_energy(edt)


# ---------------------------------------------------------------- date and time

def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a timezone")
    return moment.astimezone(JST)


def encode_datetime7(moment: datetime) -> bytes:
    """YYYY(2) MM DD hh mm ss, in JST."""
    t = _local(moment)
    return t.year.to_bytes(2, "big") + bytes((t.month, t.day, t.hour, t.minute, t.second))


def decode_datetime7(edt: bytes) -> datetime:
    _need(edt, 7, "a date and time")
    try:
        return datetime(int.from_bytes(edt[:2], "big"), edt[2], edt[3], edt[4], edt[5],
                        edt[6], tzinfo=JST)
    except ValueError as exc:
        raise FrameError(f"bad date and time: {exc}") from None


def encode_datetime6(moment: datetime) -> bytes:
    """YYYY(2) MM DD hh mm, in JST."""
    return encode_datetime7(moment)[:6]


def decode_datetime6(edt: bytes) -> datetime:
    _need(edt, 6, "a date and minute")
    return decode_datetime7(edt + b"\x00")


# ---------------------------------------------------------------- instantaneous values (M5)

def encode_power(watts: float | None) -> bytes:
    """E7: signed W, 4 bytes (+ import, - export)."""
    if watts is None:
        return NO_DATA_POWER.to_bytes(4, "big")
    value = max(-2_147_483_647, min(2_147_483_645, round(watts)))
    return value.to_bytes(4, "big", signed=True)


def decode_power(edt: bytes) -> int | None:
    _need(edt, 4, "an instantaneous power")
    value = int.from_bytes(edt, "big", signed=True)
    return None if value == NO_DATA_POWER else value


def encode_currents(r_amps: float | None, t_amps: float | None) -> bytes:
    """E8: R and T phase currents, signed 0.1 A each; T is no-data on two-wire meters."""
    out = b""
    for amps in (r_amps, t_amps):
        raw = NO_DATA_CURRENT if amps is None else max(-32767, min(32765, round(amps * 10)))
        out += raw.to_bytes(2, "big", signed=True)
    return out


def decode_currents(edt: bytes) -> tuple[float | None, float | None]:
    _need(edt, 4, "instantaneous currents")
    values = []
    for raw in (edt[:2], edt[2:]):
        value = int.from_bytes(raw, "big", signed=True)
        values.append(None if value == NO_DATA_CURRENT else value / 10)
    return values[0], values[1]


def encode_voltages(rs_volts: float | None, st_volts: float | None) -> bytes:
    """E9: R-S and S-T voltages, unsigned 0.1 V each."""
    out = b""
    for volts in (rs_volts, st_volts):
        raw = NO_DATA_VOLTAGE if volts is None else max(0, min(0xFFFD, round(volts * 10)))
        out += raw.to_bytes(2, "big")
    return out


def decode_voltages(edt: bytes) -> tuple[float | None, float | None]:
    _need(edt, 4, "instantaneous voltages")
    values = []
    for raw in (edt[:2], edt[2:]):
        value = int.from_bytes(raw, "big")
        values.append(None if value == NO_DATA_VOLTAGE else value / 10)
    return values[0], values[1]


# ---------------------------------------------------------------- stored values (M3)

def encode_history1(day: int, values: Sequence[int | None]) -> bytes:
    """E2/E4: day (2 bytes, 0 = today) + 48 readings at 00:00, 00:30, … 23:30."""
    if len(values) != 48:
        raise ValueError(f"historical data 1 has 48 slots, got {len(values)}")
    return day.to_bytes(2, "big") + b"".join(_energy(v) for v in values)


def decode_history1(edt: bytes) -> tuple[int, list[int | None]]:
    _need(edt, 2 + 48 * 4, "historical data 1")
    day = int.from_bytes(edt[:2], "big")
    return day, [_read_energy(edt[k:k + 4]) for k in range(2, len(edt), 4)]


def encode_fixed_time(moment: datetime, value: int | None) -> bytes:
    """EA/EB: reading at the latest :00 or :30, with its date and time."""
    return encode_datetime7(moment) + _energy(value)


def decode_fixed_time(edt: bytes) -> tuple[datetime, int | None]:
    _need(edt, 11, "a fixed-time cumulative energy")
    return decode_datetime7(edt[:7]), _read_energy(edt[7:])


def encode_history_time(moment: datetime | None, count: int) -> bytes:
    """ED/EF: date and minute to read back from, and the number of points."""
    head = UNSET_TIME if moment is None else encode_datetime6(moment)
    return head + bytes((count,))


def decode_history_time(edt: bytes) -> tuple[datetime | None, int]:
    _need(edt, 7, "a history date and time")
    if edt[:6] == UNSET_TIME:
        return None, edt[6]
    return decode_datetime6(edt[:6]), edt[6]


def encode_history_pairs(moment: datetime, pairs: Sequence[tuple[int | None, int | None]]
                         ) -> bytes:
    """EC/EE: start time, count, then (forward, reverse) readings going back in time."""
    body = b"".join(_energy(f) + _energy(r) for f, r in pairs)
    return encode_datetime6(moment) + bytes((len(pairs),)) + body


def decode_history_pairs(edt: bytes) -> tuple[datetime, list[tuple[int | None, int | None]]]:
    if len(edt) < 7:
        raise FrameError("historical data 2/3 is at least 7 bytes")
    count = edt[6]
    _need(edt, 7 + 8 * count, f"historical data of {count} points")
    pairs = [(_read_energy(edt[k:k + 4]), _read_energy(edt[k + 4:k + 8]))
             for k in range(7, len(edt), 8)]
    return decode_datetime6(edt[:6]), pairs


def encode_one_minute(moment: datetime, forward: int | None, reverse: int | None) -> bytes:
    """D0: time of the latest 1-minute reading, forward and reverse registers."""
    return encode_datetime7(moment) + _energy(forward) + _energy(reverse)


def decode_one_minute(edt: bytes) -> tuple[datetime, int | None, int | None]:
    _need(edt, 15, "a 1-minute cumulative energy")
    return decode_datetime7(edt[:7]), _read_energy(edt[7:11]), _read_energy(edt[11:])
