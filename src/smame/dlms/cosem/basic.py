"""Data (class 1), Register (class 3), Clock (class 8) and Security setup (class 64)
objects over a live meter (SPEC M1, M2, M5, S14). The Association LN object is
:mod:`smame.dlms.cosem.current_association`."""

from __future__ import annotations

from collections.abc import Callable

from dlms_cosem.enumerations import DataAccessResult

from smame.dlms import axdr
from smame.dlms.axdr import Data
from smame.dlms.cosem.base import (
    AttributeDef,
    Context,
    CosemError,
    CosemObject,
    MethodDef,
    Selection,
)
from smame.dlms.cosem_time import (
    DEVIATION_JST,
    NOT_SPECIFIED_DATETIME,
    decode_datetime,
    encode_datetime,
)

__all__ = [
    "Unit",
    "clock",
    "data_object",
    "register",
    "scaler_unit",
    "security_setup",
]

MAX_CLOCK_SHIFT_S = 900  # shift_time accepts -900..900 s (Blue Book)


class Unit:
    """Blue Book unit enumeration values used by this meter."""

    SECOND = 7
    WATT = 27
    VAR = 29
    WATT_HOUR = 30
    VAR_HOUR = 32
    AMPERE = 33
    VOLT = 35
    COUNT = 255


def scaler_unit(scaler: int, unit: int) -> bytes:
    """``scaler_unit`` structure: value × 10^scaler in ``unit``."""
    return axdr.structure(axdr.integer(scaler), axdr.enum(unit))


def _value(get: Callable[[Context], bytes]) -> Callable[[Context, Selection | None], bytes]:
    return lambda ctx, _selection: get(ctx)


def _constant(raw: bytes) -> Callable[[Context, Selection | None], bytes]:
    return lambda _ctx, _selection: raw


def data_object(
    logical_name: bytes,
    name: str,
    get: Callable[[Context], bytes],
    set: Callable[[Context, Data], None] | None = None,
    *,
    public: bool = False,
    backing: str = "",
) -> CosemObject:
    """A Data object (class 1, version 0): attribute 2 ``value``."""
    return CosemObject(1, logical_name, name,
                       {2: AttributeDef(_value(get), set, public=public, doc="value")},
                       backing=backing)


def _refuse_reset(_ctx: Context, _params: Data | None) -> bytes | None:
    raise CosemError(DataAccessResult.READ_WRITE_DENIED, "registers of this meter cannot be reset")


def register(
    logical_name: bytes,
    name: str,
    get: Callable[[Context], bytes],
    scaler: int | Callable[[Context], int],
    unit: int,
    *,
    backing: str = "",
) -> CosemObject:
    """A Register (class 3, version 0): 2 ``value``, 3 ``scaler_unit``; method 1 ``reset``
    is refused (the 8-digit registers only advance, SPEC M1)."""
    def scaler_unit_of(ctx: Context, _selection: Selection | None) -> bytes:
        return scaler_unit(scaler(ctx) if callable(scaler) else scaler, unit)

    return CosemObject(
        3, logical_name, name,
        {2: AttributeDef(_value(get), doc="value"),
         3: AttributeDef(scaler_unit_of, doc="scaler_unit")},
        {1: MethodDef(_refuse_reset, "reset (refused)")},
        backing=backing,
    )


# ------------------------------------------------------------------ clock


def _time_of(value: Data) -> int:
    raw = axdr.as_octets(value, 12)
    return decode_datetime(raw)


MAX_CLOCK_ERROR_S = 2**31 - 1  # the fleet keeps each meter's clock error in an int32


def _set_clock(ctx: Context, posix: int) -> None:
    if abs(posix - ctx.meter.fleet.time) > MAX_CLOCK_ERROR_S:
        raise CosemError(DataAccessResult.OTHER_REASON, "time too far from the meter's")
    ctx.meter.set_clock(posix)


def _set_time(ctx: Context, value: Data) -> None:
    _set_clock(ctx, _time_of(value))


def _check_zero(params: Data | None) -> None:
    if params is not None:
        axdr.as_int(params, 0, 0)


def _round_to(ctx: Context, seconds: int) -> None:
    now = ctx.meter.time
    _set_clock(ctx, (now + seconds // 2) // seconds * seconds)


def _adjust_to_quarter(ctx: Context, params: Data | None) -> None:
    _check_zero(params)
    _round_to(ctx, 900)


def _adjust_to_measuring_period(ctx: Context, params: Data | None) -> None:
    _check_zero(params)
    _round_to(ctx, ctx.meter.soft_switch * 60)


def _adjust_to_minute(ctx: Context, params: Data | None) -> None:
    _check_zero(params)
    _round_to(ctx, 60)


def _shift_time(ctx: Context, params: Data | None) -> None:
    shift = axdr.as_int(params, -MAX_CLOCK_SHIFT_S, MAX_CLOCK_SHIFT_S)
    _set_clock(ctx, ctx.meter.time + shift)


def clock() -> CosemObject:
    """Clock 0.0.1.0.0.255 (class 8, version 0): the meter's own time in JST, clock error
    included. Setting ``time`` or the adjust methods call ``Meter.set_clock``."""
    from smame.dlms import obis

    public = True
    attributes = {
        2: AttributeDef(lambda ctx, _s: axdr.octet_string(encode_datetime(ctx.meter.time)),
                        _set_time, public=public, doc="time (JST, deviation -540)"),
        3: AttributeDef(_constant(axdr.long(DEVIATION_JST)), public=public, doc="time_zone"),
        4: AttributeDef(_constant(axdr.unsigned(0)), public=public, doc="status"),
        5: AttributeDef(_constant(axdr.octet_string(NOT_SPECIFIED_DATETIME)), public=public,
                        doc="daylight_savings_begin"),
        6: AttributeDef(_constant(axdr.octet_string(NOT_SPECIFIED_DATETIME)), public=public,
                        doc="daylight_savings_end"),
        7: AttributeDef(_constant(axdr.integer(0)), public=public,
                        doc="daylight_savings_deviation"),
        8: AttributeDef(_constant(axdr.boolean(False)), public=public,
                        doc="daylight_savings_enabled"),
        9: AttributeDef(_constant(axdr.enum(1)), public=public, doc="clock_base (crystal)"),
    }
    methods = {
        1: MethodDef(_adjust_to_quarter, "adjust_to_quarter"),
        2: MethodDef(_adjust_to_measuring_period, "adjust_to_measuring_period (soft switch)"),
        3: MethodDef(_adjust_to_minute, "adjust_to_minute"),
        6: MethodDef(_shift_time, "shift_time (-900..900 s)"),
    }
    return CosemObject(8, obis.CLOCK, "Clock", attributes, methods,
                       backing="Meter.time / Meter.set_clock")


# ------------------------------------------------------------------ security


def security_setup() -> CosemObject:
    """Security setup 0.0.43.0.0.255 (class 64, version 0): policy authenticated and
    encrypted, security suite 0, both system titles."""
    from smame.dlms import obis

    attributes = {
        2: AttributeDef(_constant(axdr.enum(3)), doc="security_policy"),
        3: AttributeDef(_constant(axdr.enum(0)), doc="security_suite"),
        4: AttributeDef(lambda ctx, _s: axdr.octet_string(
            ctx.association.client_system_title or b""), doc="client_system_title"),
        5: AttributeDef(lambda ctx, _s: axdr.octet_string(
            ctx.endpoint.security.system_title), doc="server_system_title"),
    }
    return CosemObject(64, obis.SECURITY_SETUP, "Security setup (management client)",
                       attributes, backing="MeterSecurity")
