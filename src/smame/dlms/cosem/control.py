"""Commanding objects: limiter (class 71), disconnect control (70), script tables (9),
the ampere-limit reservation schedule (22), push setups (40) and Japan-specific settings
(SPEC M4, M6, M7, M8).

How a limit reservation is expressed (SPEC M7): the single action schedule
0.0.15.0.128.255 runs scripts of the ampere-limit script table 0.0.10.0.128.255, where
script *A* (10–60) sets the limit to *A* amperes. Writing ``executed_script`` chooses
the amperes of the reservations created next; writing ``execution_time`` sets the list of
pending reservation times: new times become reservations (``Meter.reserve_limit``),
times no longer listed are cancelled (``Meter.cancel_reservation``), the others stay.
0.0.94.81.4.255 lists every pending reservation with its own amperes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dlms_cosem.enumerations import DataAccessResult

from smame.contract import AMPERE_LIMITS, check_limit
from smame.dlms import axdr, obis
from smame.dlms.axdr import Data
from smame.dlms.cosem.base import (
    AttributeDef,
    Context,
    CosemError,
    CosemObject,
    MethodDef,
    Selection,
)
from smame.dlms.cosem.profile import capture_definition
from smame.dlms.cosem_time import (
    JST,
    NOT_SPECIFIED_DATETIME,
    decode_date_and_time,
    encode_date,
    encode_datetime,
    encode_time,
)

__all__ = [
    "PushRequested",
    "breaker_scripts",
    "disconnect_control",
    "disconnect_scripts",
    "limit_reservation_list",
    "limit_reservation_schedule",
    "limit_scripts",
    "limiter",
    "push_setup",
]

WRITE_ATTRIBUTE, EXECUTE_METHOD = 1, 2
UDP, AXDR_APDU = 1, 0
SAS_TYPE_TIMES_DIFFER = 4  # execution_time of n entries, each its own time, no wildcards


def _const(raw: bytes) -> Callable[[Context, Selection | None], bytes]:
    return lambda _c, _s: raw


def _zero_parameter(params: Data | None) -> None:
    if params is not None:
        axdr.as_int(params, 0, 0)


# ------------------------------------------------------------------ disconnect control


def disconnect_control() -> CosemObject:
    """Remote switch 0.0.96.3.10.255 (class 70, version 0), SPEC M8.

    ``control_state`` is 0 disconnected, 1 connected, 2 ready_for_reconnection (switch
    closed but the ampere breaker locked open, waiting for a breaker reset).
    """
    def control_state(ctx: Context) -> int:
        meter = ctx.meter
        if not meter.connected:
            return 0
        return 2 if meter.breaker_locked else 1

    def disconnect(ctx: Context, params: Data | None) -> None:
        _zero_parameter(params)
        ctx.meter.disconnect()

    def reconnect(ctx: Context, params: Data | None) -> None:
        _zero_parameter(params)
        ctx.meter.reconnect()

    return CosemObject(70, obis.DISCONNECT_CONTROL, "Disconnect control", {
        2: AttributeDef(lambda ctx, _s: axdr.boolean(control_state(ctx) == 1),
                        doc="output_state"),
        3: AttributeDef(lambda ctx, _s: axdr.enum(control_state(ctx)), doc="control_state"),
        4: AttributeDef(_const(axdr.enum(1)), doc="control_mode (remote only)"),
    }, {1: MethodDef(disconnect, "remote_disconnect"),
        2: MethodDef(reconnect, "remote_reconnect")},
        backing="Meter.connected, breaker_locked / disconnect(), reconnect()")


# ------------------------------------------------------------------ script tables


def _action_spec(service: int, class_id: int, logical_name: bytes, index: int,
                 parameter: bytes) -> bytes:
    return axdr.structure(axdr.enum(service), axdr.long_unsigned(class_id),
                          axdr.octet_string(logical_name), axdr.integer(index), parameter)


def _script_table(logical_name: bytes, name: str, scripts: dict[int, bytes],
                  run: Callable[[Context, int], None], backing: str) -> CosemObject:
    listing = axdr.array(axdr.structure(axdr.long_unsigned(i), actions)
                         for i, actions in scripts.items())

    def execute(ctx: Context, params: Data | None) -> None:
        script = axdr.as_int(params, 0, 0xFFFF)
        if script not in scripts:
            raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE, f"no script {script}")
        run(ctx, script)

    return CosemObject(9, logical_name, name, {2: AttributeDef(_const(listing), doc="scripts")},
                       {1: MethodDef(execute, "execute(script_identifier)")}, backing=backing)


def disconnect_scripts() -> CosemObject:
    """0.0.10.0.106.255: script 1 disconnects, script 2 reconnects (SPEC M8)."""
    scripts = {i: axdr.array([_action_spec(EXECUTE_METHOD, 70, obis.DISCONNECT_CONTROL, i,
                                           axdr.integer(0))]) for i in (1, 2)}

    def run(ctx: Context, script: int) -> None:
        (ctx.meter.disconnect if script == 1 else ctx.meter.reconnect)()

    return _script_table(obis.DISCONNECT_SCRIPTS, "Disconnect control script table", scripts,
                         run, "Meter.disconnect(), reconnect()")


def limit_scripts() -> CosemObject:
    """0.0.10.0.128.255: script A (10–60) writes A amperes to the limiter (SPEC M7)."""
    scripts = {a: axdr.array([_action_spec(WRITE_ATTRIBUTE, 71, obis.LIMITER, 4,
                                           axdr.long_unsigned(a))]) for a in AMPERE_LIMITS}
    return _script_table(obis.LIMIT_SCRIPTS, "Ampere limit script table", scripts,
                         lambda ctx, amps: ctx.meter.set_limit(amps), "Meter.set_limit(A)")


def breaker_scripts() -> CosemObject:
    """0.0.10.0.129.255: script 1 clears a breaker lockout (SPEC M7)."""
    return _script_table(obis.BREAKER_SCRIPTS, "Breaker script table",
                         {1: axdr.array([])}, lambda ctx, _s: ctx.meter.reset_breaker(),
                         "Meter.reset_breaker()")


# ------------------------------------------------------------------ limiter


def limiter(reclose_seconds: int) -> CosemObject:
    """Limiter 0.0.17.0.0.255 (class 71, version 0): the contract ampere breaker (SPEC M7).

    Thresholds are long-unsigned amperes, like the monitored value 1.0.11.7.0.255.
    Writing ``threshold_active`` or ``threshold_normal`` changes the limit now.
    """
    def limit(ctx: Context, _s: Selection | None) -> bytes:
        return axdr.long_unsigned(ctx.meter.limit_a)

    def set_limit(ctx: Context, value: Data) -> None:
        ctx.meter.set_limit(axdr.as_int(value))

    no_script = axdr.structure(axdr.octet_string(bytes(6)), axdr.long_unsigned(0))
    return CosemObject(71, obis.LIMITER, "Limiter (contract ampere breaker)", {
        2: AttributeDef(_const(axdr.structure(axdr.long_unsigned(3),
                                              axdr.octet_string(obis.CURRENT_ANY),
                                              axdr.integer(2))), doc="monitored_value"),
        3: AttributeDef(limit, set_limit, doc="threshold_active (A)"),
        4: AttributeDef(limit, set_limit, doc="threshold_normal (A)"),
        5: AttributeDef(limit, doc="threshold_emergency (A)"),
        6: AttributeDef(_const(axdr.double_long_unsigned(0)), doc="min_over_threshold_duration"),
        7: AttributeDef(_const(axdr.double_long_unsigned(reclose_seconds)),
                        doc="min_under_threshold_duration (re-close delay, s)"),
        8: AttributeDef(_const(axdr.structure(axdr.long_unsigned(0),
                                              axdr.octet_string(NOT_SPECIFIED_DATETIME),
                                              axdr.double_long_unsigned(0))),
                        doc="emergency_profile"),
        9: AttributeDef(_const(axdr.array([])), doc="emergency_profile_group_id_list"),
        10: AttributeDef(_const(axdr.boolean(False)), doc="emergency_profile_active"),
        11: AttributeDef(_const(axdr.structure(no_script, no_script)),
                         doc="actions (the built-in breaker trips; no scripts)"),
    }, backing="Meter.limit_a / set_limit()")


# ------------------------------------------------------------------ reservations


def _staged_amps(ctx: Context) -> int:
    staged = ctx.endpoint.staged_reservation_amps
    return ctx.meter.limit_a if staged is None else staged


def _execution_time(posix: int) -> bytes:
    local = datetime.fromtimestamp(posix, JST)
    return axdr.structure(axdr.octet_string(encode_time(local.hour, local.minute, local.second)),
                          axdr.octet_string(encode_date(local.date())))


def limit_reservation_schedule() -> CosemObject:
    """0.0.15.0.128.255 (class 22, version 0): limit reservations (SPEC M7), see the module
    docstring. Times are JST."""

    def executed_script(ctx: Context, _s: Selection | None) -> bytes:
        return axdr.structure(axdr.octet_string(obis.LIMIT_SCRIPTS),
                              axdr.long_unsigned(_staged_amps(ctx)))

    def set_executed_script(ctx: Context, value: Data) -> None:
        table, selector = axdr.as_structure(value, 2)
        if axdr.as_octets(table) != obis.LIMIT_SCRIPTS:
            raise CosemError(DataAccessResult.OTHER_REASON,
                             "reservations run the ampere limit script table")
        ctx.endpoint.staged_reservation_amps = check_limit(axdr.as_int(selector))

    def times(ctx: Context, _s: Selection | None) -> bytes:
        return axdr.array(_execution_time(r.time) for r in ctx.meter.reservations())

    def set_times(ctx: Context, value: Data) -> None:
        wanted: list[int] = []
        for entry in axdr.as_array(value):
            time_raw, date_raw = axdr.as_structure(entry, 2)
            moment = decode_date_and_time(axdr.as_octets(time_raw), axdr.as_octets(date_raw))
            if moment not in wanted:
                wanted.append(moment)
        meter = ctx.meter
        pending = meter.reservations()
        known = {r.time for r in pending}
        new = [t for t in wanted if t not in known]
        amps = check_limit(_staged_amps(ctx))
        if any(t <= meter.fleet.time for t in new):
            raise CosemError(DataAccessResult.OTHER_REASON, "a new reservation is not in the "
                                                            "future")
        for reservation in pending:
            if reservation.time not in wanted:
                meter.cancel_reservation(reservation.id)
        for moment in new:
            meter.reserve_limit(moment, amps)

    return CosemObject(22, obis.LIMIT_RESERVATION_SCHEDULE, "Ampere limit reservation schedule", {
        2: AttributeDef(executed_script, set_executed_script,
                        doc="executed_script (selector = amperes of new reservations)"),
        3: AttributeDef(_const(axdr.enum(SAS_TYPE_TIMES_DIFFER)), doc="type"),
        4: AttributeDef(times, set_times, doc="execution_time (JST)"),
    }, backing="Meter.reservations() / reserve_limit(), cancel_reservation()")


def limit_reservation_list() -> CosemObject:
    """0.0.94.81.4.255 (class 1): pending reservations, structure{id, date-time, amperes}."""
    def value(ctx: Context, _s: Selection | None) -> bytes:
        return axdr.array(axdr.structure(axdr.double_long_unsigned(r.id & 0xFFFFFFFF),
                                         axdr.octet_string(encode_datetime(r.time)),
                                         axdr.long_unsigned(r.amps))
                          for r in ctx.meter.reservations())

    return CosemObject(1, obis.LIMIT_RESERVATIONS, "Pending ampere limit reservations",
                       {2: AttributeDef(value, doc="value")}, backing="Meter.reservations()")


# ------------------------------------------------------------------ push setups


@dataclass(frozen=True)
class PushRequested:
    """The ``push`` method ran: send ``apdu`` to ``destination`` ("host:port", UDP)."""

    setup: bytes
    destination: str
    apdu: bytes


def parse_destination(text: str) -> tuple[str, int]:
    """``host:port`` of a push destination; raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"push destination {text!r} is not host:port")
    return host.strip("[]"), int(port)


def push_setup(logical_name: bytes, name: str, objects: list[tuple[int, bytes, int]],
               build: Callable[[Context], bytes]) -> CosemObject:
    """A push setup (class 40, version 0) sending A-XDR xDLMS APDUs over UDP (SPEC M6, S1).

    ``build`` makes the ciphered data-notification; ``push`` hands it to the transport.
    """
    object_list = axdr.array(capture_definition(*o) for o in objects)

    def destination(ctx: Context) -> str:
        return ctx.endpoint.push_destinations.get(logical_name, "")

    def get_destination(ctx: Context, _s: Selection | None) -> bytes:
        return axdr.structure(axdr.enum(UDP), axdr.octet_string(destination(ctx).encode()),
                              axdr.enum(AXDR_APDU))

    def set_destination(ctx: Context, value: Data) -> None:
        transport, address, message = axdr.as_structure(value, 3)
        if axdr.as_int(transport) != UDP or axdr.as_int(message) != AXDR_APDU:
            raise CosemError(DataAccessResult.OTHER_REASON, "pushes go as A-XDR APDUs over UDP")
        raw = axdr.as_octets(address)
        if raw:
            parse_destination(raw.decode("ascii", errors="replace"))
        ctx.endpoint.push_destinations[logical_name] = raw.decode("ascii")

    def get_randomisation(ctx: Context, _s: Selection | None) -> bytes:
        return axdr.long_unsigned(ctx.endpoint.push_randomisation.get(logical_name, 0))

    def set_randomisation(ctx: Context, value: Data) -> None:
        ctx.endpoint.push_randomisation[logical_name] = axdr.as_int(value, 0, 0xFFFF)

    def push(ctx: Context, params: Data | None) -> None:
        _zero_parameter(params)
        target = destination(ctx)
        if not target:
            raise CosemError(DataAccessResult.OTHER_REASON, "no push destination set")
        ctx.emit(PushRequested(logical_name, target, build(ctx)))

    return CosemObject(40, logical_name, name, {
        2: AttributeDef(_const(object_list), doc="push_object_list"),
        3: AttributeDef(get_destination, set_destination, doc="send_destination_and_method"),
        4: AttributeDef(_const(axdr.array([])), doc="communication_window (always)"),
        5: AttributeDef(get_randomisation, set_randomisation,
                        doc="randomisation_start_interval (s)"),
        6: AttributeDef(_const(axdr.unsigned(0)), doc="number_of_retries"),
        7: AttributeDef(_const(axdr.long_unsigned(0)), doc="repetition_delay"),
    }, {1: MethodDef(push, "push")}, backing="smame.dlms.push")
