"""VEE settings, per channel: which rules run, with what action and parameters."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cache

import numpy as np

from smame.mdms.vee.precedence import Precedence
from smame.mdms.vee.reasons import Action, Reason
from smame.readings import CHANNELS, Period, Quantity

__all__ = ["RULE_FIELDS", "RULE_REASONS", "ChannelRules", "VeeConfig", "default_rules"]


@dataclass(frozen=True)
class ChannelRules:
    """Rules for one channel. Actions are :class:`Action` values; units are the channel's.

    * ``spike``: value > ``spike_factor`` × max(history maximum, ``spike_floor``): far
      beyond anything the meter has done (data errors), not a new appliance or EV.
    * ``high``: value > ``high_factor`` × history maximum.
    * ``low``: value < ``low_factor`` × history mean (voltage sag, stuck registers).
    * history rules need ``min_history`` validated values of the series first.
    * ``prolonged_zero``: ``zero_run_limit`` or more consecutive zero intervals.
    * ``physical``: an energy interval above amperes × volts × interval × ``physical_margin``
      (contract or rating, service voltage, sub-meter kind; see ``physical.py``).
    * ``unregistered``: the meter is not in the registry (checked once it lists meters).
    * history rules learn only from values that raised no history or physical reason.
    * ``register_decrease``: an energy register below its previous reading (a wrap past
      99,999,999 excepted).
    * ``unexpected_export``: export from a registered meter with no generation behind it.
    * ``statutory_voltage``: voltage outside 101 ± 6 V (100 V service) or 202 ± 20 V (200 V).
    * ``late_arrival``: interval end more than ``late_after_s`` before now (36 h).
    * ``stale``: a value older than the newest one the series already has.
    * ``outside_installation``: before the meter's installation or after its removal day.
    * ``future``: interval end later than now + ``future_tolerance_s``.
    * ``linear_gap_max``: gaps of up to this many intervals are interpolated linearly;
      longer gaps use ``proxy_days`` previous days of the same slot (profile method).
    """

    negative: Action = Action.FAIL
    out_of_range: Action = Action.FAIL
    spike: Action = Action.FAIL
    high: Action = Action.WARN
    low: Action = Action.OFF
    sum_check: Action = Action.FAIL
    future: Action = Action.FAIL
    misaligned: Action = Action.FAIL
    clock: Action = Action.WARN
    prolonged_zero: Action = Action.WARN
    duplicate_conflict: Action = Action.FAIL
    energy_while_off: Action = Action.FAIL
    physical: Action = Action.FAIL
    unregistered: Action = Action.FAIL
    register_decrease: Action = Action.FAIL
    unexpected_export: Action = Action.WARN
    statutory_voltage: Action = Action.WARN
    late_arrival: Action = Action.WARN
    stale: Action = Action.WARN
    outside_installation: Action = Action.FAIL
    physical_margin: float = 1.5
    late_after_s: int = 129_600
    spike_factor: float = 8.0
    spike_floor: float = 50.0
    high_factor: float = 3.0
    low_factor: float = 0.0
    min_history: int = 48
    zero_run_limit: int = 144
    future_tolerance_s: int = 300
    linear_gap_max: int = 4
    proxy_days: int = 7


RULE_FIELDS = tuple(f.name for f in fields(ChannelRules) if f.type in ("Action", Action))
"""The rules of the catalogue: the :class:`Action` fields of :class:`ChannelRules`."""

RULE_REASONS: dict[str, Reason] = {
    "negative": Reason.NEGATIVE,
    "out_of_range": Reason.OUT_OF_RANGE,
    "spike": Reason.SPIKE,
    "high": Reason.HIGH,
    "low": Reason.LOW,
    "sum_check": Reason.SUM_CHECK,
    "future": Reason.TIME_FUTURE,
    "misaligned": Reason.TIME_MISALIGNED,
    "clock": Reason.CLOCK_ADJUSTED,
    "prolonged_zero": Reason.PROLONGED_ZERO,
    "duplicate_conflict": Reason.DUPLICATE_CONFLICT,
    "energy_while_off": Reason.ENERGY_WHILE_OFF,
    "physical": Reason.PHYSICAL_LIMIT,
    "unregistered": Reason.NOT_REGISTERED,
    "register_decrease": Reason.REGISTER_DECREASE,
    "unexpected_export": Reason.UNEXPECTED_EXPORT,
    "statutory_voltage": Reason.VOLTAGE_STATUTORY,
    "late_arrival": Reason.LATE_ARRIVAL,
    "stale": Reason.STALE,
    "outside_installation": Reason.OUTSIDE_INSTALLATION,
}
"""The reason code each rule records (the catalogue of ``docs/mdms.md`` is tested against
this, :class:`ChannelRules` and :func:`default_rules`)."""
if set(RULE_REASONS) != set(RULE_FIELDS):
    raise RuntimeError("every VEE rule needs exactly one reason code")


@cache
def default_rules(code: int) -> ChannelRules:
    """Sensible rules for a channel code by its quantity and period (immutable: shared)."""
    info = CHANNELS[code]
    base = ChannelRules()
    if info.quantity is Quantity.VOLTAGE:
        return replace(base, negative=Action.FAIL, spike=Action.OFF, high=Action.WARN,
                       high_factor=1.15, low=Action.WARN, low_factor=0.85,
                       prolonged_zero=Action.OFF)
    if info.period in (Period.REGISTER, Period.INSTANT):
        # Cumulative or momentary values: no interval history to exceed, no zero runs.
        return replace(base, spike=Action.OFF, high=Action.OFF, prolonged_zero=Action.OFF)
    if info.quantity is Quantity.ACTIVE_EXPORT:
        # No export all night, and no export at all without PV: zero runs are normal.
        base = replace(base, prolonged_zero=Action.OFF)
    # Spike floors scale with the interval: 50 units (0.5 kWh) per 30 minutes.
    if info.period is Period.MIN5:
        return replace(base, zero_run_limit=864, linear_gap_max=12, spike_floor=50 / 6)
    if info.period is Period.MIN15:
        return replace(base, zero_run_limit=288, linear_gap_max=8, spike_floor=25.0)
    if info.period is Period.MIN1:
        return replace(base, zero_run_limit=4320, linear_gap_max=60, spike_floor=50 / 30)
    return base


@dataclass
class VeeConfig:
    """Rules for every channel: ``overrides`` replace :func:`default_rules` per code."""

    overrides: dict[int, ChannelRules] = field(default_factory=dict)
    precedence: Precedence = field(default_factory=Precedence)
    edit_approval_wh: int = 10_000
    """Manual edits moving more energy than this (Wh) need a second person's approval."""
    _tables: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def rules(self, code: int) -> ChannelRules:
        return self.overrides.get(int(code)) or default_rules(int(code))

    def param_table(self, name: str) -> np.ndarray:
        """Parameter ``name`` of every channel as an array indexed by channel code."""
        table = self._tables.get(name)
        if table is None:
            size = max(CHANNELS) + 1
            sample = getattr(ChannelRules(), name)
            table = np.zeros(size, np.float64 if isinstance(sample, float) else np.int64)
            for code in CHANNELS:
                table[code] = getattr(self.rules(code), name)
            self._tables[name] = table
        return table

    def action_table(self, rule: str) -> np.ndarray:
        """The :class:`Action` of ``rule`` for every channel code."""
        if rule not in RULE_FIELDS:
            raise KeyError(f"no VEE rule {rule!r}")
        return self.param_table(rule)


