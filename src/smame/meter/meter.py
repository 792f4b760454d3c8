"""One meter of a fleet as an object: the view the protocol servers use.

A :class:`Meter` holds no values of its own. Every property reads the fleet's arrays and
every command changes them, so the A-route, the B-route and the simulator see one meter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from smame.clock import epoch_seconds
from smame.meter.events import MeterEvent
from smame.meter.fleet import BREAKER_LOCKED, Reservation
from smame.meter.storage import StoredReadings
from smame.registers import REGISTER_MODULUS

if TYPE_CHECKING:
    from smame.meter.fleet import Fleet

__all__ = ["Instantaneous", "Meter"]


@dataclass(frozen=True)
class Instantaneous:
    """Values measured on demand (SPEC M5), for the last simulated minute."""

    time: int  # POSIX seconds
    power_w: float  # signed: + import, - export
    reactive_var: float
    voltage_v: float
    current_l1_a: float
    current_l2_a: float


class Meter:
    """Meter ``index`` of ``fleet``."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index

    def __repr__(self) -> str:
        return f"Meter(id={self.meter_id}, index={self.index})"

    # ---------------------------------------------------------------- identity, settings

    @property
    def meter_id(self) -> int:
        return int(self.fleet.meter_ids[self.index])

    @property
    def unit_exponent(self) -> int:
        """Register unit as a power of ten of kWh (-2 is 0.01 kWh)."""
        return int(self.fleet.unit_exponent[self.index])

    @property
    def transformer(self) -> int:
        return int(self.fleet.topology.meter_transformer[self.index])

    @property
    def feeder(self) -> int:
        return int(self.fleet.topology.transformer_feeder[self.transformer])

    @property
    def time(self) -> int:
        """The meter's own clock, POSIX seconds: fleet time plus the clock's error."""
        return self.fleet.time + round(float(self.fleet.clock_error_s[self.index]))

    @property
    def limit_a(self) -> int:
        return int(self.fleet.limit_a[self.index])

    @property
    def soft_switch(self) -> int:
        return int(self.fleet.soft_switch[self.index])

    @property
    def last_gasp_enabled(self) -> bool:
        return bool(self.fleet.last_gasp_enabled[self.index])

    @property
    def connected(self) -> bool:
        """The remote switch is closed (SPEC M8)."""
        return bool(self.fleet.connected[self.index])

    @property
    def supplied(self) -> bool:
        return bool(self.fleet.supplied[self.index])

    @property
    def breaker_locked(self) -> bool:
        return int(self.fleet.breaker[self.index]) == BREAKER_LOCKED

    # ---------------------------------------------------------------- measurement

    @property
    def import_register(self) -> int:
        """Forward active energy register, 8 digits in the meter's unit (SPEC M1)."""
        return int(self.fleet.import_mwh[self.index] // self._unit_mwh) % REGISTER_MODULUS

    @property
    def export_register(self) -> int:
        """Reverse active energy register, 8 digits in the meter's unit (SPEC M1)."""
        return int(self.fleet.export_mwh[self.index] // self._unit_mwh) % REGISTER_MODULUS

    @property
    def reactive_register(self) -> int:
        """Lagging reactive energy register, 8 digits in 10^unit_exponent kvarh (SPEC M2)."""
        return int(self.fleet.reactive_mvarh[self.index] // self._unit_mwh) % REGISTER_MODULUS

    @property
    def _unit_mwh(self) -> int:
        return 10 ** (self.unit_exponent + 6)

    def instantaneous(self) -> Instantaneous:
        """Power, reactive power, voltage and leg currents now (SPEC M5)."""
        f, i = self.fleet, self.index
        return Instantaneous(
            time=self.time,
            power_w=float(f.power_w[i]),
            reactive_var=float(f.reactive_var[i]),
            voltage_v=float(f.voltage_v[i]),
            current_l1_a=float(f.current_a[i, 0]),
            current_l2_a=float(f.current_a[i, 1]),
        )

    def stored(self, period: int, start: datetime | int, end: datetime | int) -> StoredReadings:
        """Readings the meter still holds at ``period``-minute boundaries in [start, end].

        ``start``/``end`` are datetimes or POSIX seconds. Names: ``imp``, ``exp`` (and for
        5 minutes ``rea`` and ``volt`` in 0.1 V). Raises KeyError if that store is off.
        """
        store = self.fleet.storage.get(period)
        if store is None:
            raise KeyError(f"this meter keeps no {period}-minute values")
        lo = epoch_seconds(start) // 60
        hi = epoch_seconds(end) // 60
        return store.read(lo, hi, np.array([self.index]))

    def events(self, since: int | None = None) -> list[MeterEvent]:
        """The meter's event log, oldest first."""
        return self.fleet.events.of_meter(self.meter_id, since)

    # ---------------------------------------------------------------- commands

    def set_limit(self, amps: int) -> None:
        self.fleet.set_limit(self.index, amps)

    def reserve_limit(self, at: datetime | int, amps: int) -> Reservation:
        moment = epoch_seconds(at)
        return self.fleet.reserve_limit(self.index, moment, amps)

    def reservations(self) -> list[Reservation]:
        return self.fleet.reservations(self.index)

    def cancel_reservation(self, reservation_id: int) -> Reservation:
        if all(r.id != reservation_id for r in self.reservations()):
            raise KeyError(f"meter {self.meter_id} has no pending reservation {reservation_id}")
        return self.fleet.cancel_reservation(reservation_id)

    def disconnect(self) -> None:
        self.fleet.disconnect(self.index)

    def reconnect(self) -> None:
        self.fleet.reconnect(self.index)

    def reset_breaker(self) -> None:
        self.fleet.reset_breaker(self.index)

    def set_soft_switch(self, minutes: int) -> None:
        self.fleet.set_soft_switch(self.index, minutes)

    def set_last_gasp(self, enabled: bool) -> None:
        self.fleet.set_last_gasp(self.index, enabled)

    def set_clock(self, posix_seconds: int) -> None:
        """Set the meter's clock to ``posix_seconds`` now (clock sync)."""
        self.fleet.set_clock(self.index, int(posix_seconds) - self.fleet.time)
