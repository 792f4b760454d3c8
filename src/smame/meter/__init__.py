"""The next-generation meter (SPEC M1–M9) and the fleet that simulates many of them."""

from smame.meter.config import (
    BreakerConfig,
    ClockConfig,
    FleetConfig,
    LastGaspConfig,
    OutputConfig,
)
from smame.meter.events import EventKind, MeterEvent
from smame.meter.fleet import Fleet, Reservation
from smame.meter.meter import Instantaneous, Meter
from smame.meter.storage import RetentionConfig

__all__ = [
    "BreakerConfig",
    "ClockConfig",
    "EventKind",
    "Fleet",
    "FleetConfig",
    "Instantaneous",
    "LastGaspConfig",
    "Meter",
    "MeterEvent",
    "OutputConfig",
    "Reservation",
    "RetentionConfig",
]
