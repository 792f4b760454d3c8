"""What the head-end asks of a meter, as COSEM reads, writes and method calls (SPEC S1–S3,
M4, M5, M7, M8). Each function takes an associated :class:`DlmsSession`; the objects are
those of ``docs/obis.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dlms_cosem import cosem
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.enumerations import CosemInterface

from smame.clock import JST
from smame.dlms import axdr, obis
from smame.dlms.cosem_time import decode_datetime, encode_datetime
from smame.hes.commands import CommandError
from smame.hes.session import DlmsSession

__all__ = [
    "PROFILES",
    "ProfileRow",
    "cancel_reservation",
    "clock_sync",
    "disconnect",
    "list_reservations",
    "read_clock",
    "read_instantaneous",
    "read_profile",
    "read_registers",
    "reconnect",
    "reserve_limit",
    "reset_breaker",
    "set_limit",
    "set_soft_switch",
]

PROFILES = {30: "1.0.99.1.0.255", 15: "1.0.99.128.0.255", 5: "1.0.99.2.0.255",
            1: "1.0.99.129.0.255"}
_CLOCK = CaptureObject(
    cosem.CosemAttribute(CosemInterface.CLOCK, cosem.Obis.from_bytes(obis.CLOCK), 2))


def _attribute(interface: CosemInterface, ln: bytes, index: int) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(interface, cosem.Obis.from_bytes(ln), index)


def _method(interface: CosemInterface, ln: bytes, index: int) -> cosem.CosemMethod:
    return cosem.CosemMethod(interface, cosem.Obis.from_bytes(ln), index)


@dataclass(frozen=True)
class ProfileRow:
    """One profile entry: register readings at an interval boundary."""

    end: int  # POSIX seconds
    status: int  # smame.readings.Quality flags
    imp: int
    exp: int
    rea: int | None = None
    decivolts: int | None = None


async def read_clock(session: DlmsSession) -> int:
    """The meter's clock, POSIX seconds."""
    data = await session.get(_attribute(CosemInterface.CLOCK, obis.CLOCK, 2))
    return decode_datetime(axdr.as_octets(axdr.decode(data), 12))


async def read_registers(session: DlmsSession) -> dict[str, int]:
    """The 8-digit registers: forward and reverse active, lagging reactive (register units)."""
    values = {}
    for name, ln in (("imp", obis.ACTIVE_IMPORT), ("exp", obis.ACTIVE_EXPORT),
                     ("rea", obis.REACTIVE_IMPORT)):
        data = await session.get(_attribute(CosemInterface.REGISTER, ln, 2))
        values[name] = axdr.as_int(axdr.decode(data))
    return values


async def read_instantaneous(session: DlmsSession) -> dict[str, float]:
    """Power (W), reactive power (var), voltage (V) and the leg currents (A) now (SPEC M5)."""
    async def value(ln: bytes, scale: float) -> float:
        data = axdr.decode(await session.get(_attribute(CosemInterface.REGISTER, ln, 2)))
        return axdr.as_int(data) * scale

    return {
        "power_w": await value(obis.ACTIVE_POWER, 1.0),
        "reactive_var": await value(obis.REACTIVE_POWER, 1.0),
        "voltage_v": await value(obis.VOLTAGE, 0.1),
        "current_l1_a": await value(obis.CURRENT_L1, 0.01),
        "current_l2_a": await value(obis.CURRENT_L2, 0.01),
    }


async def read_profile(session: DlmsSession, period: int, start: int, end: int) -> list[ProfileRow]:
    """Profile entries with boundaries in [start, end] (POSIX seconds), by range (S1, S3)."""
    try:
        ln = PROFILES[period]
    except KeyError:
        raise CommandError(f"no {period}-minute profile") from None
    descriptor = RangeDescriptor(_CLOCK, datetime.fromtimestamp(start, JST),
                                 datetime.fromtimestamp(end, JST))
    data = await session.get(cosem.CosemAttribute(CosemInterface.PROFILE_GENERIC,
                                                  cosem.Obis.from_string(ln), 2), descriptor)
    rows = []
    for entry in axdr.as_array(axdr.decode(data)):
        fields = axdr.as_structure(entry)
        moment = decode_datetime(axdr.as_octets(fields[0], 12))
        if period == 1:
            rows.append(ProfileRow(moment, 0, axdr.as_int(fields[1]), axdr.as_int(fields[2])))
            continue
        status, imp, exp = (axdr.as_int(f) for f in fields[1:4])
        if period == 5:
            volts = None if fields[5].tag is axdr.Tag.NULL else axdr.as_int(fields[5])
            rows.append(ProfileRow(moment, status, imp, exp, axdr.as_int(fields[4]), volts))
        else:
            rows.append(ProfileRow(moment, status, imp, exp))
    return rows


async def set_limit(session: DlmsSession, amps: int) -> None:
    """Change the breaker's limit now (SPEC M7): the limiter's threshold_normal."""
    await session.set(_attribute(CosemInterface.LIMITER, obis.LIMITER, 4), axdr.long_unsigned(amps))


async def list_reservations(session: DlmsSession) -> list[dict[str, int]]:
    """Pending ampere reservations: id, time (POSIX s), amps."""
    reservations = _attribute(CosemInterface.DATA, obis.LIMIT_RESERVATIONS, 2)
    data = axdr.decode(await session.get(reservations))
    out = []
    for item in axdr.as_array(data):
        rid, moment, amps = axdr.as_structure(item, 3)
        out.append({"id": axdr.as_int(rid), "time": decode_datetime(axdr.as_octets(moment, 12)),
                    "amps": axdr.as_int(amps)})
    return out


async def _execution_times(session: DlmsSession) -> list[bytes]:
    schedule = _attribute(CosemInterface.SINGLE_ACTION_SCHEDULE, obis.LIMIT_RESERVATION_SCHEDULE, 4)
    return [axdr.encode(item) for item in axdr.as_array(axdr.decode(await session.get(schedule)))]


def _execution_time(posix_seconds: int) -> bytes:
    moment = encode_datetime(posix_seconds)  # date (5) + time (4) + deviation, status
    return axdr.structure(axdr.octet_string(moment[5:9]), axdr.octet_string(moment[:5]))


async def reserve_limit(session: DlmsSession, at: int, amps: int) -> dict[str, int]:
    """Schedule a limit change at ``at`` (POSIX s, whole minutes JST) (SPEC M7)."""
    if at % 60:
        raise CommandError("reservations are made for whole minutes")
    script = _attribute(CosemInterface.SINGLE_ACTION_SCHEDULE, obis.LIMIT_RESERVATION_SCHEDULE, 2)
    await session.set(script, axdr.structure(axdr.octet_string(obis.LIMIT_SCRIPTS),
                                             axdr.long_unsigned(amps)))
    times = await _execution_times(session)
    new = _execution_time(at)
    schedule = _attribute(CosemInterface.SINGLE_ACTION_SCHEDULE, obis.LIMIT_RESERVATION_SCHEDULE, 4)
    await session.set(schedule, axdr.array([*times, new]))
    matches = [r for r in await list_reservations(session) if r["time"] == at
               and r["amps"] == amps]
    if not matches:
        raise CommandError("the meter did not record the reservation")
    return max(matches, key=lambda r: r["id"])


async def cancel_reservation(session: DlmsSession, reservation_id: int) -> dict[str, int]:
    """Cancel a pending reservation by id: its time leaves the schedule (SPEC M7)."""
    pending = await list_reservations(session)
    target = next((r for r in pending if r["id"] == reservation_id), None)
    if target is None:
        raise CommandError(f"no pending reservation {reservation_id}")
    keep = [_execution_time(r["time"]) for r in pending if r["time"] != target["time"]]
    schedule = _attribute(CosemInterface.SINGLE_ACTION_SCHEDULE, obis.LIMIT_RESERVATION_SCHEDULE, 4)
    await session.set(schedule, axdr.array(keep))
    return target


async def disconnect(session: DlmsSession) -> None:
    """Open the meter's switch (SPEC M8)."""
    await session.action(_method(CosemInterface.DISCONNECT_CONTROL, obis.DISCONNECT_CONTROL, 1),
                         axdr.integer(0))


async def reconnect(session: DlmsSession) -> None:
    """Close the meter's switch (SPEC M8)."""
    await session.action(_method(CosemInterface.DISCONNECT_CONTROL, obis.DISCONNECT_CONTROL, 2),
                         axdr.integer(0))


async def reset_breaker(session: DlmsSession) -> None:
    """Clear a breaker lockout (SPEC M7): script 1 of the breaker script table."""
    await session.action(_method(CosemInterface.SCRIPT_TABLE, obis.BREAKER_SCRIPTS, 1),
                         axdr.long_unsigned(1))


async def set_soft_switch(session: DlmsSession, minutes: int) -> None:
    """Choose the transmitted interval, 15 or 30 minutes (SPEC M4, S10)."""
    await session.set(_attribute(CosemInterface.DATA, obis.SOFT_SWITCH, 2), axdr.unsigned(minutes))


async def clock_sync(session: DlmsSession, now: int) -> int:
    """Set the meter's clock to the head-end's time; returns the error it had (s)."""
    before = await read_clock(session)
    await session.set(_attribute(CosemInterface.CLOCK, obis.CLOCK, 2), axdr.octet_string(
        encode_datetime(now)))
    return before - now
