"""The reading batch: one Arrow schema for all interval and register data in smame.

A batch is a :class:`pyarrow.Table` with exactly :data:`SCHEMA`:

==============  ======================  ==================================================
column          type                    meaning
==============  ======================  ==================================================
meter_id        int64                   the meter's serial number
interval_end    timestamp[s, UTC]       end of the interval, or the moment of a register
                                        or instantaneous reading
channel         uint16                  channel code; :data:`CHANNELS` gives its
                                        IEC 61968-9 ReadingType, unit and period
value           int64                   integer in the channel's unit
quality         uint16                  :class:`Quality` bit flags (0 = valid as measured)
source          uint8                   :class:`Source` of the value
==============  ======================  ==================================================

Channel codes are ``quantity * 100 + period * 10 + resolution``: ``140`` is forward active
energy, 30-minute interval, default 0.01 kWh resolution. ``docs/readings.md`` has the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, IntFlag

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = [
    "CHANNELS",
    "CHANNEL_MINUTES",
    "CHANNEL_QUANTITY",
    "CHANNEL_SCALE",
    "SCHEMA",
    "BatchError",
    "ChannelInfo",
    "Period",
    "Quality",
    "Quantity",
    "ReadingType",
    "Source",
    "channel_code",
    "channel_info",
    "channel_table_markdown",
    "concat_batches",
    "empty_batch",
    "make_batch",
    "validate_batch",
]


class BatchError(ValueError):
    """A table is not a valid reading batch."""


class Quantity(IntEnum):
    """What a channel measures (the hundreds digit of a channel code)."""

    ACTIVE_IMPORT = 1  # forward active energy, 正方向 (A+)
    ACTIVE_EXPORT = 2  # reverse active energy, 逆方向 (A-)
    REACTIVE_IMPORT = 3  # lagging reactive energy while importing (R+)
    VOLTAGE = 4
    ACTIVE_POWER = 5  # signed: + import, - export
    REACTIVE_POWER = 6
    CURRENT_L1 = 7
    CURRENT_L2 = 8
    GAS_VOLUME = 9
    WATER_VOLUME = 10


class Period(IntEnum):
    """Interval length of a channel (the tens digit); 0 = register, 9 = instantaneous."""

    REGISTER = 0
    MIN1 = 1
    MIN5 = 2
    MIN15 = 3
    MIN30 = 4
    INSTANT = 9

    @property
    def minutes(self) -> int:
        return _PERIOD_MINUTES[self]


_PERIOD_MINUTES = {
    Period.REGISTER: 0,
    Period.MIN1: 1,
    Period.MIN5: 5,
    Period.MIN15: 15,
    Period.MIN30: 30,
    Period.INSTANT: 0,
}


class Quality(IntFlag):
    """Quality bit flags of a value. 0 means valid, as measured."""

    VALID = 0
    MISSING = 1 << 0  # no value: the row is a placeholder
    ESTIMATED = 1 << 1
    EDITED = 1 << 2
    SUSPECT = 1 << 3  # failed a validation rule
    POWER_OUTAGE = 1 << 4  # supply was lost during the interval
    DISCONNECTED = 1 << 5  # the meter's switch was open during the interval
    BREAKER_TRIP = 1 << 6  # the ampere breaker tripped during the interval
    CLOCK_ADJUSTED = 1 << 7  # the meter clock was set during the interval
    PARTIAL = 1 << 8  # the interval is shorter than its period
    REGISTER_WRAP = 1 << 9  # the register wrapped past 99,999,999 in the interval
    VALIDATED = 1 << 10  # passed VEE


class Source(IntEnum):
    """Where a value came from."""

    SIMULATION = 0  # written directly by the fleet simulator
    PUSH = 1  # A-route data notification
    PULL = 2  # A-route read by the head-end
    BROUTE = 3
    FILE = 4
    SUB_METER_FEED = 5
    ESTIMATION = 6
    MANUAL = 7


# IEC 61968-9 ReadingType enumerations used here.
_TIME_ATTRIBUTE = {
    Period.REGISTER: 0,
    Period.MIN1: 3,  # oneMinute
    Period.MIN5: 6,  # fiveMinute
    Period.MIN15: 2,  # fifteenMinute
    Period.MIN30: 5,  # thirtyMinute
    Period.INSTANT: 0,
}
_ACCUMULATION_BULK, _ACCUMULATION_DELTA, _ACCUMULATION_INDICATING = 1, 4, 6
_ACCUMULATION_INSTANTANEOUS = 12
_AGGREGATE_AVERAGE = 2
_COMMODITY_ELECTRICITY, _COMMODITY_GAS, _COMMODITY_WATER = 1, 7, 9
_KIND_CURRENT, _KIND_ENERGY, _KIND_POWER, _KIND_VOLTAGE, _KIND_NONE = 4, 12, 37, 54, 0
_FLOW_FORWARD, _FLOW_LAGGING, _FLOW_REVERSE, _FLOW_NET, _FLOW_NONE = 1, 2, 19, 4, 0
_UNIT_A, _UNIT_V, _UNIT_W, _UNIT_WH, _UNIT_VARH, _UNIT_VAR, _UNIT_M3 = 5, 29, 38, 72, 73, 63, 42


@dataclass(frozen=True, slots=True)
class ReadingType:
    """An IEC 61968-9 ReadingType: 18 dot-separated enumeration values."""

    macro_period: int = 0
    aggregate: int = 0
    measuring_period: int = 0
    accumulation: int = 0
    flow_direction: int = 0
    commodity: int = 0
    measurement_kind: int = 0
    interharmonic_numerator: int = 0
    interharmonic_denominator: int = 0
    argument_numerator: int = 0
    argument_denominator: int = 0
    tou: int = 0
    cpp: int = 0
    consumption_tier: int = 0
    phases: int = 0
    multiplier: int = 0
    unit: int = 0
    currency: int = 0

    @property
    def code(self) -> str:
        return ".".join(str(getattr(self, name)) for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """Everything a consumer needs to interpret a channel code."""

    code: int
    quantity: Quantity
    period: Period
    name: str
    unit: str  # human unit of one value step, e.g. "0.01 kWh"
    unit_exponent: int  # the value step is 10**unit_exponent of the base unit
    base_unit: str  # kWh, kvarh, V, W, A, m3
    reading_type: ReadingType

    @property
    def minutes(self) -> int:
        return self.period.minutes

    @property
    def scale(self) -> float:
        return 10.0 ** self.unit_exponent

    @property
    def is_interval(self) -> bool:
        return self.period.minutes > 0

    @property
    def is_register(self) -> bool:
        return self.period is Period.REGISTER


# Resolutions (the units digit) by quantity: index -> exponent of the base unit.
_ENERGY_RESOLUTIONS = (-2, -1, 0, -3)  # 0.01 kWh (default), 0.1, 1, 0.001 kWh
_QUANTITY_FACTS: dict[Quantity, tuple[str, tuple[int, ...], int, int, int, int, tuple[Period, ...]]]
_QUANTITY_FACTS = {
    # quantity: (base unit, resolutions, commodity, kind, flow, IEC unit, periods)
    Quantity.ACTIVE_IMPORT: (
        "kWh", _ENERGY_RESOLUTIONS, _COMMODITY_ELECTRICITY, _KIND_ENERGY, _FLOW_FORWARD, _UNIT_WH,
        (Period.REGISTER, Period.MIN1, Period.MIN5, Period.MIN15, Period.MIN30),
    ),
    Quantity.ACTIVE_EXPORT: (
        "kWh", _ENERGY_RESOLUTIONS, _COMMODITY_ELECTRICITY, _KIND_ENERGY, _FLOW_REVERSE, _UNIT_WH,
        (Period.REGISTER, Period.MIN1, Period.MIN5, Period.MIN15, Period.MIN30),
    ),
    Quantity.REACTIVE_IMPORT: (
        "kvarh", _ENERGY_RESOLUTIONS, _COMMODITY_ELECTRICITY, _KIND_ENERGY, _FLOW_LAGGING,
        _UNIT_VARH, (Period.REGISTER, Period.MIN5),
    ),
    Quantity.VOLTAGE: (
        "V", (-1,), _COMMODITY_ELECTRICITY, _KIND_VOLTAGE, _FLOW_NONE, _UNIT_V,
        (Period.MIN5, Period.INSTANT),
    ),
    Quantity.ACTIVE_POWER: (
        "W", (0,), _COMMODITY_ELECTRICITY, _KIND_POWER, _FLOW_NET, _UNIT_W, (Period.INSTANT,),
    ),
    Quantity.REACTIVE_POWER: (
        "var", (0,), _COMMODITY_ELECTRICITY, _KIND_POWER, _FLOW_LAGGING, _UNIT_VAR,
        (Period.INSTANT,),
    ),
    Quantity.CURRENT_L1: (
        "A", (-1,), _COMMODITY_ELECTRICITY, _KIND_CURRENT, _FLOW_NONE, _UNIT_A, (Period.INSTANT,),
    ),
    Quantity.CURRENT_L2: (
        "A", (-1,), _COMMODITY_ELECTRICITY, _KIND_CURRENT, _FLOW_NONE, _UNIT_A, (Period.INSTANT,),
    ),
    Quantity.GAS_VOLUME: (
        "m3", (-3,), _COMMODITY_GAS, _KIND_NONE, _FLOW_FORWARD, _UNIT_M3, (Period.REGISTER,),
    ),
    Quantity.WATER_VOLUME: (
        "m3", (-3,), _COMMODITY_WATER, _KIND_NONE, _FLOW_FORWARD, _UNIT_M3, (Period.REGISTER,),
    ),
}
_PHASE_S1N, _PHASE_S2N = 129, 65  # current legs of a single-phase three-wire service


def channel_code(quantity: Quantity, period: Period, unit_exponent: int | None = None) -> int:
    """Channel code of a quantity at a period and resolution (default resolution if None)."""
    try:
        _, resolutions, *_rest, periods = _QUANTITY_FACTS[quantity]
    except KeyError:
        raise BatchError(f"unknown quantity {quantity!r}") from None
    if period not in periods:
        raise BatchError(f"{quantity.name} has no {period.name} channel")
    index = 0 if unit_exponent is None else _resolution_index(quantity, resolutions, unit_exponent)
    return int(quantity) * 100 + int(period) * 10 + index


def _resolution_index(quantity: Quantity, resolutions: tuple[int, ...], exponent: int) -> int:
    if exponent not in resolutions:
        raise BatchError(f"{quantity.name} has no resolution 10^{exponent}")
    return resolutions.index(exponent)


def _reading_type(quantity: Quantity, period: Period, exponent: int) -> ReadingType:
    base, _, commodity, kind, flow, unit, _ = _QUANTITY_FACTS[quantity]
    if period is Period.REGISTER:
        accumulation = _ACCUMULATION_BULK
    elif period is Period.INSTANT:
        accumulation = _ACCUMULATION_INSTANTANEOUS
    elif quantity is Quantity.VOLTAGE:
        accumulation = _ACCUMULATION_INDICATING
    else:
        accumulation = _ACCUMULATION_DELTA
    multiplier = exponent + 3 if base in ("kWh", "kvarh") else exponent
    phases = {Quantity.CURRENT_L1: _PHASE_S1N, Quantity.CURRENT_L2: _PHASE_S2N}.get(quantity, 0)
    return ReadingType(
        aggregate=_AGGREGATE_AVERAGE if quantity is Quantity.VOLTAGE and period.minutes else 0,
        measuring_period=_TIME_ATTRIBUTE[period],
        accumulation=accumulation,
        flow_direction=flow,
        commodity=commodity,
        measurement_kind=kind,
        phases=phases,
        multiplier=multiplier,
        unit=unit,
    )


def _unit_label(base: str, exponent: int) -> str:
    step = f"{10.0**exponent:g}" if exponent < 0 else f"{10**exponent}"
    return base if step == "1" else f"{step} {base}"


def _build_channels() -> dict[int, ChannelInfo]:
    channels: dict[int, ChannelInfo] = {}
    for quantity, (base, resolutions, *_rest, periods) in _QUANTITY_FACTS.items():
        for period in periods:
            for exponent in resolutions:
                code = channel_code(quantity, period, exponent)
                label = "register" if period is Period.REGISTER else (
                    "instantaneous" if period is Period.INSTANT else f"{period.minutes}-minute"
                )
                channels[code] = ChannelInfo(
                    code=code,
                    quantity=quantity,
                    period=period,
                    name=f"{quantity.name.lower()} {label}",
                    unit=_unit_label(base, exponent),
                    unit_exponent=exponent,
                    base_unit=base,
                    reading_type=_reading_type(quantity, period, exponent),
                )
    return channels


CHANNELS: dict[int, ChannelInfo] = _build_channels()


def _per_code(field: str, dtype) -> np.ndarray:
    """One value of a ChannelInfo attribute per channel code, 0 where no channel has the
    code: channel columns map through it as one array index instead of a loop."""
    table = np.zeros(max(CHANNELS) + 1, dtype)
    for code, info in CHANNELS.items():
        table[code] = getattr(info, field)
    return table


CHANNEL_QUANTITY = _per_code("quantity", np.int16)
"""Quantity of each channel code (``CHANNEL_QUANTITY[channel_column]``)."""
CHANNEL_MINUTES = _per_code("minutes", np.int64)
"""Interval minutes of each channel code; 0 for registers and instantaneous values."""
CHANNEL_SCALE = _per_code("scale", np.float64)
"""One value step of each channel code in its base unit (kWh, kvarh, V, W, A, m3)."""


def channel_info(code: int) -> ChannelInfo:
    """The :class:`ChannelInfo` of a channel code; unknown codes raise :class:`BatchError`."""
    try:
        return CHANNELS[int(code)]
    except KeyError:
        raise BatchError(f"unknown channel {code}") from None


SCHEMA = pa.schema(
    [
        pa.field("meter_id", pa.int64(), nullable=False),
        pa.field("interval_end", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("channel", pa.uint16(), nullable=False),
        pa.field("value", pa.int64(), nullable=False),
        pa.field("quality", pa.uint16(), nullable=False),
        pa.field("source", pa.uint8(), nullable=False),
    ],
    metadata={b"smame.schema": b"reading-batch/1"},
)


def make_batch(
    meter_id: npt.ArrayLike,
    interval_end: npt.ArrayLike,
    channel: npt.ArrayLike,
    value: npt.ArrayLike,
    quality: npt.ArrayLike = 0,
    source: npt.ArrayLike = Source.SIMULATION,
) -> pa.Table:
    """Build a reading batch from columns; scalars are broadcast.

    ``interval_end`` is POSIX seconds (int) or ``datetime64``. Channels are checked
    against :data:`CHANNELS`.
    """
    meter_ids = np.asarray(meter_id, dtype=np.int64)
    length = max(meter_ids.size, np.size(interval_end), np.size(channel), np.size(value))
    ends = np.asarray(interval_end)
    if ends.dtype.kind == "M":
        ends = ends.astype("datetime64[s]").astype(np.int64)
    columns = {
        "meter_id": np.broadcast_to(meter_ids, length),
        "interval_end": np.broadcast_to(ends.astype(np.int64), length),
        "channel": np.broadcast_to(np.asarray(channel, dtype=np.uint16), length),
        "value": np.broadcast_to(np.asarray(value, dtype=np.int64), length),
        "quality": np.broadcast_to(np.asarray(quality, dtype=np.uint16), length),
        "source": np.broadcast_to(np.asarray(source, dtype=np.uint8), length),
    }
    _check_channels(columns["channel"])
    arrays = [pa.array(np.ascontiguousarray(columns[f.name]), type=f.type) for f in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _check_channels(channels: np.ndarray) -> None:
    if channels.size == 0:
        return
    unknown = np.setdiff1d(np.unique(channels), np.fromiter(CHANNELS, dtype=np.uint16))
    if unknown.size:
        raise BatchError(f"unknown channel {int(unknown[0])}")


def empty_batch() -> pa.Table:
    """A batch with no rows."""
    return SCHEMA.empty_table()


def validate_batch(table: pa.Table) -> pa.Table:
    """Return ``table`` as a reading batch; raise :class:`BatchError` saying why not.

    Columns are matched by name and type; nulls and unknown channels are refused.
    Interval ends stored at a finer unit (Parquet keeps ms) are cast to whole seconds.
    """
    if not isinstance(table, pa.Table):
        raise BatchError(f"a reading batch is a pyarrow.Table, got {type(table).__name__}")
    names = table.schema.names
    if names != SCHEMA.names:
        raise BatchError(f"columns {names} differ from {SCHEMA.names}")
    table = _seconds_timestamps(table)
    for field in SCHEMA:
        column = table.column(field.name)
        if column.type != field.type:
            raise BatchError(f"column {field.name} is {column.type}, expected {field.type}")
        if column.null_count:
            raise BatchError(f"column {field.name} has {column.null_count} null values")
    _check_channels(table.column("channel").to_numpy())
    return pa.Table.from_arrays(table.columns, schema=SCHEMA)


def _seconds_timestamps(table: pa.Table) -> pa.Table:
    """Interval ends in ms/µs/ns (as Parquet stores them) become whole UTC seconds."""
    column = table.column("interval_end")
    kind = column.type
    if not pa.types.is_timestamp(kind) or kind.unit == "s" or kind.tz not in ("UTC", "+00:00"):
        return table
    try:
        seconds = column.cast(pa.timestamp("s", tz="UTC"), safe=True)
    except pa.ArrowInvalid:
        raise BatchError("interval_end has fractions of a second") from None
    return table.set_column(table.schema.get_field_index("interval_end"), "interval_end", seconds)


def concat_batches(batches: Iterable[pa.Table]) -> pa.Table:
    """One batch from several; each is validated."""
    tables = [validate_batch(batch) for batch in batches]
    return pa.concat_tables(tables) if tables else empty_batch()


def channel_table_markdown() -> str:
    """The channel table of ``docs/readings.md``, generated from :data:`CHANNELS`."""
    period_names = {Period.REGISTER: "register", Period.MIN1: "1 min", Period.MIN5: "5 min",
                    Period.MIN15: "15 min", Period.MIN30: "30 min",
                    Period.INSTANT: "instantaneous"}
    lines = ["| code | quantity | period | unit | IEC 61968-9 ReadingType |",
             "|---:|---|---|---|---|"]
    for code, info in CHANNELS.items():
        quantity = info.quantity.name.lower().replace("_", " ")
        lines.append(f"| {code} | {quantity} | {period_names[info.period]} | {info.unit} | "
                     f"`{info.reading_type.code}` |")
    return "\n".join(lines) + "\n"
