"""Limits of a low-voltage supply contract that every layer checks the same way (SPEC M7)."""

from __future__ import annotations

__all__ = ["AMPERE_LIMITS", "TRANSMIT_INTERVALS", "check_limit", "check_transmit_interval"]

AMPERE_LIMITS = range(10, 61)
"""Contract limits a low-voltage meter's breaker accepts, in amperes."""

TRANSMIT_INTERVALS = (15, 30)
"""Intervals, in minutes, the soft switch can select for transmission (SPEC M4, S10)."""


def check_limit(amps: object) -> int:
    """Return ``amps`` if it is a valid contract limit (10–60 A), else raise ValueError."""
    if isinstance(amps, bool) or not isinstance(amps, int | float) or int(amps) != amps or (
        int(amps) not in AMPERE_LIMITS
    ):
        raise ValueError(f"ampere limit {amps} A is outside 10–60 A")
    return int(amps)


def check_transmit_interval(minutes: object) -> int:
    """Return ``minutes`` if the soft switch can select it (15 or 30), else raise ValueError."""
    if isinstance(minutes, bool) or minutes not in TRANSMIT_INTERVALS:
        raise ValueError(f"soft switch takes 15 or 30 minutes, not {minutes}")
    return int(minutes)
