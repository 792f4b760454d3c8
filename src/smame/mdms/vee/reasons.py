"""VEE reason codes: why a value was flagged, estimated or edited (SPEC S1 quality).

Each stored measurement carries a ``reasons`` bit set (uint32). A value can carry several
reasons; :func:`reason_names` spells them out.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = ["Action", "Reason", "reason_names"]


class Reason(IntFlag):
    """One bit per VEE outcome. Codes are stable: they are stored in measurement files."""

    NONE = 0
    GAP = 1 << 0  # the value was missing (set on the estimate that fills it)
    SPIKE = 1 << 1  # far above the meter's own mean
    HIGH = 1 << 2  # above the meter's own maximum by a margin
    LOW = 1 << 3  # below the meter's own mean by a margin
    NEGATIVE = 1 << 4  # negative consumption or register
    SUM_CHECK = 1 << 5  # intervals do not add up to the register difference
    TIME_FUTURE = 1 << 6  # interval end after the clock's now
    TIME_MISALIGNED = 1 << 7  # interval end not on the channel's period boundary
    CLOCK_ADJUSTED = 1 << 8  # the meter clock was set during the interval
    PROLONGED_ZERO = 1 << 9  # too many consecutive zero intervals
    DUPLICATE_CONFLICT = 1 << 10  # the same key twice in a batch with different values
    OUTAGE = 1 << 11  # supply was lost in the interval (flag or event)
    DISCONNECTED = 1 << 12  # the meter's switch was open (flag or event)
    ENERGY_WHILE_OFF = 1 << 13  # energy recorded while the meter was off all interval
    REVISED = 1 << 14  # a later received value replaced an earlier one
    OUT_OF_RANGE = 1 << 15  # register value outside 0..99,999,999
    EST_LINEAR = 1 << 16  # estimated by linear interpolation (short gap)
    EST_PROFILE = 1 << 17  # estimated from proxy days (long gap)
    EST_REGISTER_SCALED = 1 << 18  # estimates scaled to the register difference
    EST_OFF = 1 << 19  # estimated as zero: the meter was off (outage/disconnected)
    EDITED = 1 << 20  # manual edit
    REPLACED_FAILED = 1 << 21  # the estimate replaces a value that failed validation
    DERIVED_15 = 1 << 22  # a 30-minute value summed from the meter's two 15-minute values
    PHYSICAL_LIMIT = 1 << 23  # more energy than the service's amperes × volts allow
    NOT_REGISTERED = 1 << 24  # the meter is not in the registry (quarantined)
    REGISTER_DECREASE = 1 << 25  # a register went backwards (not a wrap)
    UNEXPECTED_EXPORT = 1 << 26  # export from a meter with no generation behind it
    VOLTAGE_STATUTORY = 1 << 27  # outside the statutory 101 ± 6 V / 202 ± 20 V
    LATE_ARRIVAL = 1 << 28  # received long after the interval ended
    STALE = 1 << 29  # older than the newest value already received for the series
    OUTSIDE_INSTALLATION = 1 << 30  # before the meter's installation or after its removal


class Action(IntEnum):
    """What a rule does when it triggers."""

    OFF = 0  # rule not applied
    WARN = 1  # reason recorded; the value still counts as validated
    FAIL = 2  # reason recorded; the value is SUSPECT and is replaced by an estimate


def reason_names(bits: int) -> list[str]:
    """Names of the reasons set in ``bits``, lowest bit first."""
    return [r.name for r in Reason if r.value and bits & r.value]  # type: ignore[misc]
