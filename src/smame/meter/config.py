"""Settings of a fleet and of the meter functions it models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from smame.contract import AMPERE_LIMITS, check_limit
from smame.meter.storage import RetentionConfig
from smame.registers import unit_wh

__all__ = [
    "AMPERE_LIMITS",
    "BreakerConfig",
    "ClockConfig",
    "FleetConfig",
    "LastGaspConfig",
    "OutputConfig",
    "check_limit",
]


@dataclass(frozen=True)
class BreakerConfig:
    """The built-in current-limiting breaker (SPEC M7).

    It trips when the minute's current exceeds ``limit × trip_ratio``, re-closes after
    ``reclose_seconds``, and locks open after ``lockout_trips`` trips within
    ``lockout_window_seconds`` until a remote reset. After a trip the customer switches
    the offending appliance off with ``shed_probability``; otherwise it trips again.
    """

    reclose_seconds: int = 15
    lockout_trips: int = 3
    lockout_window_seconds: int = 120
    shed_probability: float = 0.9
    trip_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.reclose_seconds < 60:
            raise ValueError("reclose_seconds must be 1–59")
        if self.lockout_trips < 2:
            raise ValueError("lockout_trips must be at least 2")
        if not 0.0 <= self.shed_probability <= 1.0:
            raise ValueError("shed_probability must be within 0–1")


@dataclass(frozen=True)
class LastGaspConfig:
    """The Last Gasp alarm (SPEC M6), powered by a capacitor charged from the supply.

    One alarm costs ``alarm_joules``; the capacitor holds ``capacitor_joules`` and needs
    ``recharge_seconds`` of supply to refill. ``enabled`` is the meters' default setting;
    each meter's setting can be changed.
    """

    enabled: bool = True
    capacitor_joules: float = 3.0
    alarm_joules: float = 2.2
    recharge_seconds: int = 90


@dataclass(frozen=True)
class ClockConfig:
    """The meter's real-time clock and its periodic synchronisation.

    Each meter's quartz clock runs fast or slow by its own ``drift_ppm`` (normal, σ
    ``drift_ppm_sigma``; 5 ppm is about 0.4 s a day). Once every ``sync_every_minutes``, at
    the meter's own minute, the time synchronisation over the A-route compares the clock
    with the head-end's and steps it back to the true time when the error has reached
    ``step_threshold_s``: a CLOCK_SET event and the CLOCK_ADJUSTED flag on the intervals in
    progress. ``sync_every_minutes = 0`` leaves clock setting to the head-end alone.
    Clocks start with errors spread over ±``step_threshold_s``, as in a fleet in service.
    """

    drift_ppm_sigma: float = 5.0
    sync_every_minutes: int = 1440
    step_threshold_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.drift_ppm_sigma <= 1000.0:
            raise ValueError("drift_ppm_sigma must be within 0–1000 ppm")
        if self.sync_every_minutes < 0:
            raise ValueError("sync_every_minutes must be >= 0")
        if not 0.0 < self.step_threshold_s < 2**31:
            raise ValueError("step_threshold_s must be > 0")


@dataclass(frozen=True)
class OutputConfig:
    """Which reading batches the fleet emits as it advances.

    * ``transmit``: the soft-switch interval (30 or 15 minutes) with its registers, the
      A-route's scheduled data (SPEC S1, M4);
    * ``five_minute_share``: share of meters whose 5-minute values are emitted (S3);
    * ``one_minute``: 1-minute values of every meter (large);
    * ``joint``: gas and water readings relayed by the meters (M9).
    """

    transmit: bool = True
    five_minute_share: float = 0.13
    one_minute: bool = False
    joint: bool = True


@dataclass(frozen=True)
class FleetConfig:
    """Everything that defines a fleet. Same config, same seed: same fleet and data."""

    meters: int
    start: datetime
    seed: int = 0
    shard: int = 0  # part of a fleet simulated separately: its own meters, same weather
    pv_share: float = 0.15
    ev_share: float = 0.06
    gas_share: float = 0.35
    water_share: float = 0.2
    transformer_outages_per_year: float = 0.08
    feeder_outages_per_year: float = 0.15
    transformers_per_feeder: tuple[int, int] = (120, 260)  # drawn per feeder, inclusive
    unit_exponent: int = -2
    first_meter_id: int = 100_000_001
    joint_interval_minutes: int = 60
    # PV inverters' voltage-rise suppression (電圧上昇抑制, grid code 系統連系規程): output
    # is cut back while the terminal voltage (100 V basis) exceeds this; None switches it off.
    pv_volt_rise_limit_v: float | None = 107.0
    retention: RetentionConfig | None = field(default_factory=RetentionConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    last_gasp: LastGaspConfig = field(default_factory=LastGaspConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        if self.meters <= 0:
            raise ValueError(f"meters must be > 0, got {self.meters}")
        low, high = self.transformers_per_feeder
        if not 1 <= low <= high:
            raise ValueError("transformers_per_feeder must be (low, high) with 1 <= low <= high")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a timezone")
        if self.start.second or self.start.microsecond:
            raise ValueError("start must fall on a whole minute")
        for name in ("pv_share", "ev_share", "gas_share", "water_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0–1")
        if not 0.0 <= self.output.five_minute_share <= 1.0:
            raise ValueError("five_minute_share must be within 0–1")
        unit_wh(self.unit_exponent)
        if self.unit_exponent > 0:
            raise ValueError("register unit coarser than 1 kWh is not supported")
        if self.pv_volt_rise_limit_v is not None and not 101.0 < self.pv_volt_rise_limit_v < 115.0:
            raise ValueError("pv_volt_rise_limit_v must be within 101–115 V (100 V basis)")
        if 1440 % self.joint_interval_minutes:
            raise ValueError("joint_interval_minutes must divide a day")
