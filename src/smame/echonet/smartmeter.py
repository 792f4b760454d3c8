"""The low-voltage smart electric energy meter object 0x028801, backed by a smame ``Meter``.

Every value is read from the meter at the moment of the request: E0 is
``meter.import_register``, E2/E4/EA/EB/EC come from the meter's 30-minute store, D0 and
EE from its 1-minute store of 60 minutes (SPEC M1, M3, M5, M8). Nothing is cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from smame.clock import from_epoch, jst_day, jst_day_start
from smame.echonet import edt as enc
from smame.echonet.frame import EOJ, FrameError
from smame.echonet.objects import MAKER_CODE, DeviceObject, PropertyDef, identification_number
from smame.meter.meter import Meter

__all__ = ["SMART_METER", "STANDARD_VERSION", "SmartMeterObject"]

SMART_METER = EOJ(0x02, 0x88, 0x01)
STANDARD_VERSION = bytes((0x00, 0x00, ord("R"), 0x01))  # Appendix Release R, revision 1
DIGITS = 8  # D7: the register has 8 digits (SPEC M1)
HISTORY2_MAX, HISTORY3_MAX = 12, 10


@dataclass
class _Settings:
    """The settable state of the object (EPCs 0x81, 0xE5, 0xED, 0xEF)."""

    location: bytes = b"\x00"
    day1: int = 0
    history2: tuple[datetime | None, int] = (None, HISTORY2_MAX)
    history3: tuple[datetime | None, int] = (None, HISTORY3_MAX)


def _minute_time(minute: int) -> datetime:
    return from_epoch(minute * 60)


def _jst_day_start(minute: int) -> int:
    """Epoch minute of 00:00 JST of the day holding epoch minute ``minute``."""
    return jst_day_start(jst_day(minute * 60)) // 60


def _representable(moment: datetime) -> bool:
    """Whether ``moment`` (JST) is a POSIX time the meter's clock arithmetic can hold:
    0001-01-01 00:00 JST is still year 0 in UTC, which no datetime can express."""
    try:
        _minute_time(int(moment.timestamp()) // 60)
    except (ValueError, OverflowError, OSError):
        return False
    return True


class SmartMeterObject(DeviceObject):
    """Object 0x0288 ``instance`` of ``meter``. ``route_b_id`` is the 16-byte EPC 0xC0."""

    def __init__(self, meter: Meter, instance: int = 1, route_b_id: bytes | None = None
                 ) -> None:
        self.meter = meter
        self.settings = _Settings()
        serial = meter.meter_id
        self.route_b_id = route_b_id or (b"\x00" + MAKER_CODE + serial.to_bytes(12, "big"))
        if len(self.route_b_id) != 16:
            raise ValueError("the B-route identification number (0xC0) is 16 bytes")

        def const(value: bytes) -> PropertyDef:
            return PropertyDef(get=lambda: value)

        table: dict[int, PropertyDef] = {
            0x80: PropertyDef(get=lambda: b"\x30", anno=True),
            0x81: PropertyDef(get=lambda: self.settings.location, set=self._set_location,
                              anno=True),
            0x82: const(STANDARD_VERSION),
            0x83: const(identification_number(serial, instance)),
            0x88: PropertyDef(get=lambda: b"\x42", anno=True),
            0x8A: const(MAKER_CODE),
            0x8D: const(f"{serial:012d}"[-12:].encode()),
            0x97: PropertyDef(get=self._time),
            0x98: PropertyDef(get=self._date),
            0xC0: const(self.route_b_id),
            0xD3: const((1).to_bytes(4, "big")),
            0xD7: const(bytes((DIGITS,))),
            0xE0: PropertyDef(get=lambda: meter.import_register.to_bytes(4, "big")),
            0xE1: const(bytes((enc.unit_code(meter.unit_exponent),))),
            0xE3: PropertyDef(get=lambda: meter.export_register.to_bytes(4, "big")),
            0xE7: PropertyDef(get=self._power),
            0xE8: PropertyDef(get=self._currents),
            0xE9: PropertyDef(get=self._voltages),
        }
        stores = meter.fleet.storage
        if 30 in stores:
            table.update({
                0xE2: PropertyDef(get=lambda: self._history1("imp")),
                0xE4: PropertyDef(get=lambda: self._history1("exp")),
                0xE5: PropertyDef(get=lambda: bytes((self.settings.day1,)), set=self._set_day1),
                0xEA: PropertyDef(get=lambda: self._fixed_time("imp"), anno=True),
                0xEB: PropertyDef(get=lambda: self._fixed_time("exp"), anno=True),
                0xEC: PropertyDef(get=self._history2),
                0xED: PropertyDef(get=lambda: enc.encode_history_time(*self.settings.history2),
                                  set=self._set_history2),
            })
        if 1 in stores:
            table.update({
                0xD0: PropertyDef(get=self._one_minute),
                0xEE: PropertyDef(get=self._history3),
                0xEF: PropertyDef(get=lambda: enc.encode_history_time(*self.settings.history3),
                                  set=self._set_history3),
            })
        super().__init__(EOJ(0x02, 0x88, instance), table)
        self._announced = self._fixed_boundary()

    def _fixed_boundary(self) -> int:
        return self.minute - self.minute % 30

    def due_announcements(self) -> tuple[int, ...]:
        """EA and EB once after each new :00/:30 reading (SPEC M8: B-route output)."""
        boundary = self._fixed_boundary()
        if boundary == self._announced or 30 not in self.meter.fleet.storage:
            return ()
        self._announced = boundary
        return (0xEA, 0xEB)

    # ---------------------------------------------------------------- time

    @property
    def minute(self) -> int:
        """Epoch minute of the meter's latest reading (end of the last simulated minute)."""
        return self.meter.fleet.time // 60

    def _time(self) -> bytes:
        now = from_epoch(self.meter.time).astimezone(enc.JST)
        return bytes((now.hour, now.minute))

    def _date(self) -> bytes:
        now = from_epoch(self.meter.time).astimezone(enc.JST)
        return now.year.to_bytes(2, "big") + bytes((now.month, now.day))

    # ---------------------------------------------------------------- instantaneous (M5)

    def _power(self) -> bytes:
        return enc.encode_power(self.meter.instantaneous().power_w)

    def _currents(self) -> bytes:
        now = self.meter.instantaneous()
        sign = -1.0 if now.power_w < 0 else 1.0
        return enc.encode_currents(sign * now.current_l1_a, sign * now.current_l2_a)

    def _voltages(self) -> bytes:
        volts = self.meter.instantaneous().voltage_v
        return enc.encode_voltages(volts, volts)

    # ---------------------------------------------------------------- stored values (M3)

    def readings(self, period: int, first: int, last: int, name: str) -> dict[int, int]:
        """Stored register readings of ``name`` at ``period`` boundaries in [first, last]
        (epoch minutes), as {minute: value}; boundaries no longer kept are absent."""
        try:
            stored = self.meter.stored(period, first * 60, last * 60)
        except KeyError:
            return {}
        values = stored.values[name][0]
        return dict(zip(stored.boundaries.tolist(), np.asarray(values).tolist(), strict=True))

    def _history1(self, name: str) -> bytes:
        day = self.settings.day1
        start = _jst_day_start(self.minute) - day * 1440
        found = self.readings(30, start, start + 1410, name)
        return enc.encode_history1(day, [found.get(start + 30 * k) for k in range(48)])

    def _fixed_time(self, name: str) -> bytes:
        boundary = self._fixed_boundary()
        value = self.readings(30, boundary, boundary, name).get(boundary)
        return enc.encode_fixed_time(_minute_time(boundary), value)

    def _pairs(self, period: int, end: int, count: int) -> list[tuple[int | None, int | None]]:
        first = end - period * (count - 1)
        imp = self.readings(period, first, end, "imp")
        exp = self.readings(period, first, end, "exp")
        return [(imp.get(end - period * k), exp.get(end - period * k)) for k in range(count)]

    def _history2(self) -> bytes:
        moment, count = self.settings.history2
        end = self._fixed_boundary() if moment is None else int(moment.timestamp()) // 60
        return enc.encode_history_pairs(_minute_time(end), self._pairs(30, end, count))

    def _history3(self) -> bytes:
        moment, count = self.settings.history3
        end = self.minute if moment is None else int(moment.timestamp()) // 60
        return enc.encode_history_pairs(_minute_time(end), self._pairs(1, end, count))

    def _one_minute(self) -> bytes:
        minute = self.minute
        imp = self.readings(1, minute, minute, "imp").get(minute)
        exp = self.readings(1, minute, minute, "exp").get(minute)
        return enc.encode_one_minute(_minute_time(minute), imp, exp)

    # ---------------------------------------------------------------- setters

    def _set_location(self, edt: bytes) -> bool:
        if len(edt) == 1 or (len(edt) == 17 and edt[0] == 0x01):
            self.settings.location = bytes(edt)
            return True
        return False

    def _set_day1(self, edt: bytes) -> bool:
        if len(edt) != 1 or edt[0] > 99:
            return False
        self.settings.day1 = edt[0]
        return True

    def _set_history(self, edt: bytes, minute_ok, limit: int) -> tuple[datetime, int] | None:
        try:
            moment, count = enc.decode_history_time(bytes(edt))
        except FrameError:
            return None
        if moment is None or not 1 <= count <= limit or not minute_ok(moment.minute):
            return None
        if not _representable(moment):
            return None  # EC/EE could not state this time: refuse it now, not at every Get
        return moment, count

    def _set_history2(self, edt: bytes) -> bool:
        value = self._set_history(edt, lambda m: m in (0, 30), HISTORY2_MAX)
        if value is not None:
            self.settings.history2 = value
        return value is not None

    def _set_history3(self, edt: bytes) -> bool:
        value = self._set_history(edt, lambda m: 0 <= m <= 59, HISTORY3_MAX)
        if value is not None:
            self.settings.history3 = value
        return value is not None
