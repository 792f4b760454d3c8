"""Data-notification pushes (DLMS/COSEM push setup, class 40): the closed interval (SPEC M1,
M4, S1) and the Last Gasp alarm (SPEC M6), ciphered with the meter's keys (S14).

A push is a data-notification APDU inside general-glo-ciphering with the meter's system
title; every push takes the next invocation counter of the meter. Bodies:

* interval push: ``structure{push setup LN, logical device name, closed interval}``
  where the closed interval is ``structure{end date-time, period (min), import register,
  export register, import interval, export interval, status}`` (registers and intervals
  in the register unit, 10^unit_exponent kWh; an interval is null-data if the reading
  that opens it is no longer stored);
* Last Gasp push: ``structure{push setup LN, logical device name, power event}`` where
  the power event is ``structure{date-time, event code}`` (31 = Last Gasp).

The head-end opens a push with :func:`open_push` and reads it with
:func:`parse_interval_push` / :func:`parse_last_gasp_push`.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smame.dlms import axdr, obis
from smame.dlms.cosem_time import decode_datetime, encode_datetime
from smame.dlms.security import (
    GENERAL_GLO_CIPHERING,
    SC_AUTHENTICATED_ENCRYPTED,
    MeterKeys,
    MeterSecurity,
    encode_ciphered,
    parse_ciphered,
)
from smame.dlms.wrapper import encode_frame
from smame.meter.events import EventKind
from smame.registers import REGISTER_MODULUS

if TYPE_CHECKING:
    from smame.dlms.server import MeterEndpoint
    from smame.meter import Meter

__all__ = [
    "ClosedInterval",
    "IntervalPush",
    "LastGaspPush",
    "Notification",
    "build_interval_push",
    "build_last_gasp_push",
    "closed_interval",
    "closed_interval_data",
    "decipher_push",
    "fast_interval",
    "logical_device_name",
    "open_push",
    "parse_interval_push",
    "parse_last_gasp_push",
    "power_event_data",
    "push_delay",
    "push_frame",
]

DATA_NOTIFICATION = 15
POWER_EVENTS = frozenset({EventKind.POWER_DOWN, EventKind.LAST_GASP, EventKind.POWER_RESTORED})


def logical_device_name(meter_id: int) -> bytes:
    """``SMM`` followed by the meter id in decimal (at most 16 octets)."""
    return b"SMM" + str(int(meter_id)).encode("ascii")


@dataclass(frozen=True)
class ClosedInterval:
    """The readings closing one interval of the soft-switch period (SPEC M1, M4)."""

    end: int  # POSIX seconds
    period: int  # minutes
    import_register: int
    export_register: int
    import_interval: int | None  # register units; None if the opening reading is gone
    export_interval: int | None
    status: int  # smame.readings.Quality flags


def closed_interval(meter: Meter, period: int | None = None,
                    end: int | None = None) -> ClosedInterval:
    """The interval of ``period`` minutes (default: the soft switch) ending at ``end``
    (POSIX seconds; default: the latest stored boundary). Raises ValueError if the meter
    holds no reading at that boundary."""
    period = meter.soft_switch if period is None else int(period)
    store = meter.fleet.storage.get(period)
    if store is None or store.latest is None:
        raise ValueError(f"the meter holds no {period}-minute readings")
    boundary = store.latest if end is None else int(end) // 60
    readings = meter.stored(period, (boundary - period) * 60, boundary * 60)
    if not readings.boundaries.size or int(readings.boundaries[-1]) != boundary:
        raise ValueError(f"no {period}-minute reading stored at minute {boundary}")
    imp = readings.values["imp"][0]
    exp = readings.values["exp"][0]
    opened = readings.boundaries.size == 2
    flags = readings.flags[0][-1] if readings.flags is not None else 0
    return ClosedInterval(
        end=boundary * 60, period=period,
        import_register=int(imp[-1]), export_register=int(exp[-1]),
        import_interval=int((imp[-1] - imp[0]) % REGISTER_MODULUS) if opened else None,
        export_interval=int((exp[-1] - exp[0]) % REGISTER_MODULUS) if opened else None,
        status=int(flags),
    )


def closed_interval_data(interval: ClosedInterval) -> bytes:
    def maybe(value: int | None) -> bytes:
        return axdr.null() if value is None else axdr.double_long_unsigned(value)

    return axdr.structure(
        axdr.octet_string(encode_datetime(interval.end)), axdr.unsigned(interval.period),
        axdr.double_long_unsigned(interval.import_register),
        axdr.double_long_unsigned(interval.export_register),
        maybe(interval.import_interval), maybe(interval.export_interval),
        axdr.long_unsigned(interval.status))


def power_event_data(time: int, kind: int) -> bytes:
    return axdr.structure(axdr.octet_string(encode_datetime(time)), axdr.unsigned(kind))


def _notification(security: MeterSecurity, body: bytes, when: int,
                  long_invoke_id: int | None) -> bytes:
    next_ic = security.invocation_counter
    invoke = (next_ic if long_invoke_id is None else long_invoke_id) & 0xFFFFFF
    plain = (bytes((DATA_NOTIFICATION,)) + struct.pack(">I", invoke)
             + b"\x0c" + encode_datetime(when) + body)
    ic, ciphertext = security.protect(plain)
    return encode_ciphered(GENERAL_GLO_CIPHERING, security.system_title,
                           SC_AUTHENTICATED_ENCRYPTED, ic, ciphertext)


def build_interval_push(meter: Meter, security: MeterSecurity, *, period: int | None = None,
                        end: int | None = None, long_invoke_id: int | None = None) -> bytes:
    """The ciphered data-notification APDU carrying a closed interval (no wrapper).

    ``period`` defaults to the meter's soft switch (15 or 30 min), ``end`` to the latest
    stored boundary. Advances the meter's invocation counter.
    """
    body = axdr.structure(axdr.octet_string(obis.INTERVAL_PUSH),
                          axdr.octet_string(logical_device_name(meter.meter_id)),
                          closed_interval_data(closed_interval(meter, period, end)))
    return _notification(security, body, meter.time, long_invoke_id)


def build_last_gasp_push(meter: Meter, security: MeterSecurity, *, time: int | None = None,
                         long_invoke_id: int | None = None,
                         kind: EventKind = EventKind.LAST_GASP) -> bytes:
    """The ciphered power-event APDU (SPEC M6, S8): the Last Gasp alarm, or with ``kind``
    POWER_RESTORED the restoration report, through the same push setup. ``time``
    defaults to the meter's latest event of that kind, or now."""
    if time is None:
        moments = [e.time for e in meter.events() if e.kind == kind]
        time = moments[-1] if moments else meter.time
    body = axdr.structure(axdr.octet_string(obis.LAST_GASP_PUSH),
                          axdr.octet_string(logical_device_name(meter.meter_id)),
                          power_event_data(int(time), int(kind)))
    return _notification(security, body, int(time), long_invoke_id)


def push_frame(apdu: bytes, source_wport: int = 1, destination_wport: int = 1) -> bytes:
    """A push APDU in the IEC 62056-47 wrapper, as sent over UDP or TCP."""
    return encode_frame(source_wport, destination_wport, apdu)


# ------------------------------------------------------------------ head-end side


@dataclass(frozen=True)
class Notification:
    """An opened push: who sent it, its counters, when, and the body as Data."""

    system_title: bytes
    invocation_counter: int
    long_invoke_id: int
    time: int | None  # POSIX seconds
    body: axdr.Data


@dataclass(frozen=True)
class DecipheredPush:
    """A push after authentication and deciphering, its body still A-XDR octets."""

    system_title: bytes
    invocation_counter: int
    long_invoke_id: int
    time: int | None  # POSIX seconds
    body: bytes


def decipher_push(apdu: bytes, keys: MeterKeys) -> DecipheredPush:
    """Authenticate and decipher a push APDU. Raises ``SecurityError`` or ``AxdrError``.

    Checking that counters of one meter increase is the receiver's job.
    """
    ciphered = parse_ciphered(apdu)
    if ciphered.tag != GENERAL_GLO_CIPHERING or ciphered.system_title is None:
        raise axdr.AxdrError("a push comes as general-glo-ciphering with a system title")
    plain = MeterSecurity(keys, ciphered.system_title).unprotect(ciphered,
                                                                 ciphered.system_title)
    if len(plain) < 6 or plain[0] != DATA_NOTIFICATION:
        raise axdr.AxdrError("not a data-notification")
    invoke = struct.unpack(">I", plain[1:5])[0] & 0xFFFFFF
    size, offset = axdr.decode_length(plain, 5)
    when = None
    if size == 12:
        when = decode_datetime(plain[offset:offset + 12])
    elif size != 0:
        raise axdr.AxdrError(f"date-time of {size} octets")
    return DecipheredPush(ciphered.system_title, ciphered.invocation_counter, invoke, when,
                          bytes(plain[offset + size:]))


def open_push(apdu: bytes, keys: MeterKeys) -> Notification:
    """Decipher and decode a push APDU. Raises ``SecurityError`` or ``AxdrError``."""
    push = decipher_push(apdu, keys)
    return Notification(push.system_title, push.invocation_counter, push.long_invoke_id,
                        push.time, axdr.decode(push.body))


# structure(3){os(6) setup LN, os(n) device name, structure(7){os(12) end, u period, dlu import,
# dlu export, dlu|null, dlu|null, lu status}}: the interval push, read without a general decoder.
_INTERVAL_HEAD = b"\x02\x03\x09\x06" + obis.INTERVAL_PUSH + b"\x09"


def fast_interval(body: bytes) -> ClosedInterval | None:
    """The closed interval of an interval-push body in the exact layout
    :func:`build_interval_push` writes, or None when the body has any other shape (then
    decode it with :func:`axdr.decode` and :func:`parse_interval_push`)."""
    if not body.startswith(_INTERVAL_HEAD):
        return None
    at = len(_INTERVAL_HEAD)
    name_length = body[at] if at < len(body) else 0x80
    if name_length >= 0x80:
        return None
    at += 1 + name_length
    if body[at:at + 4] != b"\x02\x07\x09\x0c" or len(body) < at + 16 + 2 + 10:
        return None
    end = decode_datetime(body[at + 4:at + 16])
    at += 16
    if body[at] != 0x11:
        return None
    period = body[at + 1]
    at += 2
    values: list[int | None] = []
    for _ in range(4):
        tag = body[at:at + 1]
        if tag == b"\x06" and len(body) >= at + 5:
            values.append(int.from_bytes(body[at + 1:at + 5], "big"))
            at += 5
        elif tag == b"\x00" and len(values) >= 2:
            values.append(None)
            at += 1
        else:
            return None
    if body[at:at + 1] != b"\x12" or len(body) != at + 3:
        return None
    status = int.from_bytes(body[at + 1:at + 3], "big")
    return ClosedInterval(end, period, values[0], values[1], values[2], values[3], status)


@dataclass(frozen=True)
class IntervalPush:
    logical_device_name: bytes
    interval: ClosedInterval


@dataclass(frozen=True)
class LastGaspPush:
    logical_device_name: bytes
    time: int
    event_code: int


def _head(notification: Notification, setup: bytes) -> tuple[bytes, axdr.Data]:
    ln, name, content = axdr.as_structure(notification.body, 3)
    if axdr.as_octets(ln) != setup:
        raise axdr.AxdrError(f"push from setup {obis.ln_str(axdr.as_octets(ln))}")
    return axdr.as_octets(name), content


def parse_interval_push(notification: Notification) -> IntervalPush:
    name, content = _head(notification, obis.INTERVAL_PUSH)
    end, period, imp, exp, imp_iv, exp_iv, status = axdr.as_structure(content, 7)

    def maybe(d: axdr.Data) -> int | None:
        return None if d.tag is axdr.Tag.NULL else axdr.as_int(d)

    return IntervalPush(name, ClosedInterval(
        decode_datetime(axdr.as_octets(end, 12)), axdr.as_int(period), axdr.as_int(imp),
        axdr.as_int(exp), maybe(imp_iv), maybe(exp_iv), axdr.as_int(status)))


def parse_last_gasp_push(notification: Notification) -> LastGaspPush:
    name, content = _head(notification, obis.LAST_GASP_PUSH)
    time, code = axdr.as_structure(content, 2)
    return LastGaspPush(name, decode_datetime(axdr.as_octets(time, 12)), axdr.as_int(code))


# ------------------------------------------------------------------ scheduling

MAX_CATCH_UP = 96  # intervals pushed at most per call, if the fleet jumped far ahead


def _switch_at(moment: int, now: int, switches: list) -> int:
    """The soft-switch setting in force at ``moment``: the interval that closed then is
    pushed in the period the meter was set to when it closed (SPEC M4). ``switches`` are the
    recent SOFT_SWITCH_CHANGED events, oldest first; ``now`` is the setting now."""
    later = [e for e in switches if e.time >= moment]  # a change at a boundary follows it
    return now if not later else 45 - later[0].value  # the setting before that change


def push_delay(meter_id: int, moment: int, window: int) -> int:
    """Seconds (0…``window``) a meter waits before sending the push for ``moment`` (POSIX s).

    The push setup's randomisation_start_interval (class 40 attribute 5, seconds): a fleet
    that closes an interval at the same instant spreads its pushes over the window instead
    of flooding the head-end at :00 and :30 (SPEC S1). The draw is a fixed hash of meter
    and moment, so a simulation is reproducible, and it differs from interval to interval.
    """
    if window <= 0:
        return 0
    mixed = (meter_id * 0x9E3779B97F4A7C15 + moment * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    mixed = ((mixed ^ (mixed >> 31)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (mixed ^ (mixed >> 29)) % (window + 1)


class PushScheduler:
    """Which pushes of one meter are due after its fleet advanced (sans-I/O).

    ``endpoint`` is a :class:`smame.dlms.server.MeterEndpoint` (its meter, security and
    push destinations). Every soft-switch boundary closed since the last call gives an
    interval push; every Last Gasp and restoration event a power-event push through the
    Last Gasp push setup, told apart by event code (SPEC M4, M6, S1, S8).

    A push setup with a randomisation window (``endpoint.push_randomisation``) holds its
    pushes for :func:`push_delay` seconds; the APDU is built when it goes, so it carries
    the time it was sent and the next invocation counter. A held push is lost if the
    meter loses supply first, as a meter's RAM is. The Last Gasp alarm itself is never
    held: the meter has seconds of stored energy to send it.
    """

    def __init__(self, endpoint: MeterEndpoint) -> None:
        self.endpoint = endpoint
        meter = endpoint.meter
        self._pushed = {p: s.latest for p, s in meter.fleet.storage.items() if p in (15, 30)}
        self._since = meter.fleet.time  # later events come from windows not yet run
        self._held: list[tuple[int, int, int, int]] = []  # (due, moment, period, event kind)
        self._power_downs: list[int] = []  # POSIX s, while pushes are held

    @property
    def held(self) -> int:
        """Pushes waiting out their randomisation delay."""
        return len(self._held)

    def due(self) -> list[tuple[str, bytes]]:
        """(destination, APDU) pairs to send now."""
        endpoint = self.endpoint
        meter = endpoint.meter
        now = meter.fleet.time
        out: list[tuple[str, bytes]] = []
        switches = [e for e in meter.events(self._since - 3600)
                    if e.kind == EventKind.SOFT_SWITCH_CHANGED]
        interval_window = endpoint.push_randomisation.get(obis.INTERVAL_PUSH, 0)
        for period, last in self._pushed.items():
            latest = meter.fleet.storage[period].latest
            if latest is None or latest == last:
                continue
            self._pushed[period] = latest
            if endpoint.push_destinations.get(obis.INTERVAL_PUSH):
                first = latest - (MAX_CATCH_UP - 1) * period
                start = first if last is None else max(last + period, first)
                for boundary in range(start, latest + 1, period):
                    if _switch_at(boundary * 60, meter.soft_switch, switches) == period:
                        moment = boundary * 60
                        self._hold(moment + push_delay(meter.meter_id, moment, interval_window),
                                   moment, period, 0)
        restore_window = endpoint.push_randomisation.get(obis.LAST_GASP_PUSH, 0)
        for event in meter.events(self._since):
            if event.kind in (EventKind.LAST_GASP, EventKind.POWER_DOWN):
                self._power_downs.append(event.time)
            if event.kind == EventKind.LAST_GASP:
                self._hold(event.time, event.time, 0, event.kind)
            elif event.kind == EventKind.POWER_RESTORED:
                delay = push_delay(meter.meter_id, event.time, restore_window)
                self._hold(event.time + delay, event.time, 0, event.kind)
        self._since = now  # later events come from windows not yet run
        while self._held and self._held[0][0] <= now:
            due, moment, period, kind = heapq.heappop(self._held)
            if any(moment < down <= due for down in self._power_downs):
                continue  # it was held in the meter's RAM when the supply went
            push = self._build(moment, period, kind)
            if push is not None:
                out.append(push)
        if self._power_downs:  # only those that can still cut a held push short
            oldest = min((moment for _, moment, _, _ in self._held), default=now)
            self._power_downs = [d for d in self._power_downs if d > oldest]
        return out

    def _hold(self, due: int, moment: int, period: int, kind: int) -> None:
        heapq.heappush(self._held, (due, moment, period, int(kind)))

    def _build(self, moment: int, period: int, kind: int) -> tuple[str, bytes] | None:
        endpoint = self.endpoint
        if period:
            destination = endpoint.push_destinations.get(obis.INTERVAL_PUSH)
            if not destination:
                return None
            try:
                return destination, build_interval_push(endpoint.meter, endpoint.security,
                                                         period=period, end=moment)
            except ValueError:
                return None  # no reading kept at that boundary
        destination = endpoint.push_destinations.get(obis.LAST_GASP_PUSH)
        if not destination:
            return None
        return destination, build_last_gasp_push(endpoint.meter, endpoint.security,
                                                 time=moment, kind=EventKind(kind))
