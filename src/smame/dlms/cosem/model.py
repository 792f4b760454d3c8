"""The meter's object list: every COSEM object of the A-route server (``docs/obis.md``).

Values are read from the :class:`smame.meter.Meter` at request time (SPEC M1–M8); the
model holds no copies. Units: energy registers count the meter's register unit
(10^unit_exponent kWh, so scaler = unit_exponent + 3 in Wh), power in W and var, voltage
in 0.1 V, currents in 0.01 A.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from smame.dlms import axdr, obis
from smame.dlms.cosem import basic, control, current_association, profile
from smame.dlms.cosem.base import Context, CosemObject, Model
from smame.dlms.cosem.basic import Unit
from smame.dlms.push import (
    POWER_EVENTS,
    build_interval_push,
    build_last_gasp_push,
    closed_interval,
    closed_interval_data,
    logical_device_name,
    power_event_data,
)
from smame.meter.events import EventKind

if TYPE_CHECKING:
    from smame.meter import Meter

__all__ = ["SECURITY_EVENTS", "build_model"]

SECURITY_EVENTS = frozenset({EventKind.SECURITY_REPLAY_REJECTED, EventKind.SECURITY_AUTH_FAILED})


def _energy_scaler(ctx: Context) -> int:
    return ctx.meter.unit_exponent + 3  # register unit in Wh as a power of ten


def _last_stored(ctx: Context, period: int, name: str) -> int | None:
    store = ctx.meter.fleet.storage.get(period)
    if store is None or store.latest is None:
        return None
    readings = ctx.meter.stored(period, store.latest * 60, store.latest * 60)
    return int(readings.values[name][0][-1]) if readings.boundaries.size else None


def _interval_register(name: str) -> Callable[[Context], bytes]:
    def get(ctx: Context) -> bytes:
        try:
            interval = closed_interval(ctx.meter)
        except ValueError:
            return axdr.null()
        value = interval.import_interval if name == "imp" else interval.export_interval
        return axdr.null() if value is None else axdr.double_long_unsigned(value)

    return get


def _registers() -> list[CosemObject]:
    reg = basic.register

    def decivolts(v: float) -> bytes:
        return axdr.long_unsigned(min(0xFFFF, max(0, round(v * 10))))

    def centiamps(a: float) -> bytes:
        return axdr.long_unsigned(min(0xFFFF, max(0, round(a * 100))))

    def last_voltage(ctx: Context) -> bytes:
        value = _last_stored(ctx, 5, "volt")
        return axdr.null() if value is None else axdr.long_unsigned(value)

    return [
        reg(obis.ACTIVE_IMPORT, "Active energy import (+A)",
            lambda c: axdr.double_long_unsigned(c.meter.import_register), _energy_scaler,
            Unit.WATT_HOUR, backing="Meter.import_register"),
        reg(obis.ACTIVE_EXPORT, "Active energy export (-A)",
            lambda c: axdr.double_long_unsigned(c.meter.export_register), _energy_scaler,
            Unit.WATT_HOUR, backing="Meter.export_register"),
        reg(obis.REACTIVE_IMPORT, "Reactive energy import (+R)",
            lambda c: axdr.double_long_unsigned(c.meter.reactive_register), _energy_scaler,
            Unit.VAR_HOUR, backing="Meter.reactive_register"),
        reg(obis.ACTIVE_IMPORT_INTERVAL, "Active energy import, last closed interval",
            _interval_register("imp"), _energy_scaler, Unit.WATT_HOUR,
            backing="difference of the last two soft-switch readings"),
        reg(obis.ACTIVE_EXPORT_INTERVAL, "Active energy export, last closed interval",
            _interval_register("exp"), _energy_scaler, Unit.WATT_HOUR,
            backing="difference of the last two soft-switch readings"),
        reg(obis.VOLTAGE, "Voltage, instantaneous",
            lambda c: decivolts(c.meter.instantaneous().voltage_v), -1, Unit.VOLT,
            backing="Meter.instantaneous().voltage_v"),
        reg(obis.VOLTAGE_AVERAGE, "Voltage, last 5-minute average", last_voltage, -1,
            Unit.VOLT, backing="Meter.stored(5)['volt']"),
        reg(obis.ACTIVE_POWER, "Active power (+import, -export)",
            lambda c: axdr.double_long(round(c.meter.instantaneous().power_w)), 0, Unit.WATT,
            backing="Meter.instantaneous().power_w"),
        reg(obis.REACTIVE_POWER, "Reactive power",
            lambda c: axdr.double_long(round(c.meter.instantaneous().reactive_var)), 0,
            Unit.VAR, backing="Meter.instantaneous().reactive_var"),
        reg(obis.CURRENT_L1, "Current L1", lambda c: centiamps(
            c.meter.instantaneous().current_l1_a), -2, Unit.AMPERE,
            backing="Meter.instantaneous().current_l1_a"),
        reg(obis.CURRENT_L2, "Current L2", lambda c: centiamps(
            c.meter.instantaneous().current_l2_a), -2, Unit.AMPERE,
            backing="Meter.instantaneous().current_l2_a"),
        reg(obis.CURRENT_ANY, "Current, larger leg (limiter's monitored value)",
            lambda c: axdr.long_unsigned(min(0xFFFF, math.ceil(max(
                c.meter.instantaneous().current_l1_a, c.meter.instantaneous().current_l2_a)))),
            0, Unit.AMPERE, backing="max(current_l1_a, current_l2_a), rounded up"),
    ]


def _profiles(periods: set[int]) -> list[CosemObject]:
    energy = [("imp", profile.Column(3, obis.ACTIVE_IMPORT, 2, profile.cell_u32)),
              ("exp", profile.Column(3, obis.ACTIVE_EXPORT, 2, profile.cell_u32))]
    five = [*energy, ("rea", profile.Column(3, obis.REACTIVE_IMPORT, 2, profile.cell_u32)),
            ("volt", profile.Column(3, obis.VOLTAGE_AVERAGE, 2, profile.cell_u16))]
    table = {
        30: (obis.PROFILE_30, "30-minute load profile", energy, True),
        15: (obis.PROFILE_15, "15-minute load profile", energy, True),
        5: (obis.PROFILE_5, "5-minute profile (energy, reactive, voltage)", five, True),
        1: (obis.PROFILE_1, "1-minute load profile", energy, False),
    }
    return [profile.load_profile(ln, name, period, columns, status)
            for period, (ln, name, columns, status) in table.items() if period in periods]


def _event_objects() -> list[CosemObject]:
    def latest(ctx: Context):
        events = sorted(ctx.meter.events(), key=lambda e: e.time)  # stable: ties keep log order
        return events[-1] if events else None

    def code(ctx: Context) -> bytes:
        event = latest(ctx)
        return axdr.unsigned(int(event.kind) if event else 0)

    def value(ctx: Context) -> bytes:
        event = latest(ctx)
        return axdr.long64(event.value if event else 0)

    def reference(ctx: Context) -> bytes:
        event = latest(ctx)
        return axdr.double_long_unsigned(event.reference & 0xFFFFFFFF if event else 0)

    def power_event(ctx: Context) -> bytes:
        events = sorted((e for e in ctx.meter.events() if e.kind in POWER_EVENTS),
                        key=lambda e: e.time)
        if not events:
            return axdr.null()
        event = events[-1]
        return power_event_data(event.time, int(event.kind))

    data = basic.data_object
    return [
        data(obis.EVENT_CODE, "Event code (latest event)", code, backing="Meter.events()[-1]"),
        data(obis.EVENT_VALUE, "Event value (latest event)", value, backing="Meter.events()"),
        data(obis.EVENT_REFERENCE, "Event reference (latest event)", reference,
             backing="Meter.events()"),
        data(obis.LAST_POWER_EVENT, "Latest power event {time, code}", power_event,
             backing="Meter.events() of power kinds"),
        profile.event_log(obis.EVENT_LOG, "Event log (all events)", None),
        profile.event_log(obis.POWER_FAILURE_LOG, "Power failure event log", POWER_EVENTS),
        profile.event_log(obis.SECURITY_LOG, "Security event log", SECURITY_EVENTS),
    ]


def _settings() -> list[CosemObject]:
    data = basic.data_object

    def profile_status(ctx: Context) -> bytes:
        store = ctx.meter.fleet.storage.get(30)
        if store is None or store.latest is None:
            return axdr.long_unsigned(0)
        readings = ctx.meter.stored(30, store.latest * 60, store.latest * 60)
        flags = readings.flags
        return axdr.long_unsigned(int(flags[0][-1]) if flags is not None and flags.size else 0)

    def interval(ctx: Context) -> bytes:
        try:
            return closed_interval_data(closed_interval(ctx.meter))
        except ValueError:
            return axdr.null()

    return [
        data(obis.SOFT_SWITCH, "Soft switch: transmitted interval (15 or 30 min)",
             lambda c: axdr.unsigned(c.meter.soft_switch),
             lambda c, v: c.meter.set_soft_switch(axdr.as_int(v)),
             backing="Meter.soft_switch / set_soft_switch()"),
        data(obis.LAST_GASP_ENABLE, "Last Gasp enabled",
             lambda c: axdr.boolean(c.meter.last_gasp_enabled),
             lambda c, v: c.meter.set_last_gasp(axdr.as_bool(v)),
             backing="Meter.last_gasp_enabled / set_last_gasp()"),
        data(obis.BREAKER_STATE, "Breaker state (0 closed, 2 locked open)",
             lambda c: axdr.enum(2 if c.meter.breaker_locked else 0),
             backing="Meter.breaker_locked"),
        data(obis.PROFILE_STATUS, "Profile status (quality flags of the latest 30-min entry)",
             profile_status, backing="Meter.stored(30).flags"),
        data(obis.CLOSED_INTERVAL, "Latest closed soft-switch interval", interval,
             backing="Meter.stored(soft_switch)"),
    ]


def _invocation_counters() -> list[CosemObject]:
    """The management client's invocation counter, readable by the public client so that
    a standard client learns it before a ciphered association (the IDIS practice): the
    lowest counter the meter accepts next. Counters are not secret; the keys are."""
    def lowest_accepted_next(ctx: Context) -> bytes:
        return axdr.double_long_unsigned(ctx.endpoint.security.client_counter + 1)

    return [basic.data_object(logical_name, f"Invocation counter of the management client{how}",
                              lowest_accepted_next, public=True,
                              backing="MeterSecurity.client_counter + 1")
            for logical_name, how in ((obis.INVOCATION_COUNTER, " (security setup 0)"),
                                      (obis.MANAGEMENT_INVOCATION_COUNTER, " (client 1)"))]


def build_model(meter: Meter) -> Model:
    """All objects of ``meter`` (a :class:`smame.meter.Meter`)."""
    periods = set(meter.fleet.storage)
    ldn = axdr.octet_string(logical_device_name(meter.meter_id))
    objects = [
        basic.data_object(obis.LOGICAL_DEVICE_NAME, "Logical device name", lambda _c: ldn,
                          public=True, backing="'SMM' + meter id"),
        basic.clock(),
        current_association.association_ln(),
        basic.security_setup(),
        *_invocation_counters(),
        *_registers(),
        *_profiles(periods),
        *_event_objects(),
        *_settings(),
        control.disconnect_control(),
        control.disconnect_scripts(),
        control.limiter(meter.fleet.config.breaker.reclose_seconds),
        control.limit_scripts(),
        control.breaker_scripts(),
        control.limit_reservation_schedule(),
        control.limit_reservation_list(),
        control.push_setup(obis.INTERVAL_PUSH, "Interval push setup",
                           [(40, obis.INTERVAL_PUSH, 1), (1, obis.LOGICAL_DEVICE_NAME, 2),
                            (1, obis.CLOSED_INTERVAL, 2)],
                           lambda c: build_interval_push(c.meter, c.endpoint.security)),
        control.push_setup(obis.LAST_GASP_PUSH, "Last Gasp push setup",
                           [(40, obis.LAST_GASP_PUSH, 1), (1, obis.LOGICAL_DEVICE_NAME, 2),
                            (1, obis.LAST_POWER_EVENT, 2)],
                           lambda c: build_last_gasp_push(c.meter, c.endpoint.security)),
    ]
    return Model(objects)
