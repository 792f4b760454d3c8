"""Per-channel facts as arrays indexed by channel code, for vectorized rules."""

from __future__ import annotations

import numpy as np

from smame.readings import CHANNELS, Quantity

__all__ = [
    "CHANNEL_CODES",
    "HAS_REGISTER",
    "IS_ENERGY_INTERVAL",
    "IS_ENERGY_REGISTER",
    "IS_INTERVAL",
    "IS_REGISTER",
    "IS_VOLTAGE",
    "PERIOD_S",
    "PERIOD_S32",
    "REGISTER_OF",
    "SETTLEMENT_CHANNELS",
    "VOLT_UNIT",
    "register_channel",
]

_SIZE = max(CHANNELS) + 1
_ENERGY = (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT, Quantity.REACTIVE_IMPORT)

PERIOD_S = np.zeros(_SIZE, np.int64)
IS_INTERVAL = np.zeros(_SIZE, np.bool_)
IS_REGISTER = np.zeros(_SIZE, np.bool_)
IS_ENERGY_INTERVAL = np.zeros(_SIZE, np.bool_)
IS_ENERGY_REGISTER = np.zeros(_SIZE, np.bool_)
IS_VOLTAGE = np.zeros(_SIZE, np.bool_)
VOLT_UNIT = np.ones(_SIZE, np.float64)
"""Volts per value step of voltage channels (0.1 V)."""
REGISTER_OF = np.zeros(_SIZE, np.int64)
"""Register channel whose differences an energy interval channel must add up to (0: none)."""

for _code, _info in CHANNELS.items():
    PERIOD_S[_code] = _info.period.minutes * 60
    IS_INTERVAL[_code] = _info.is_interval
    IS_REGISTER[_code] = _info.is_register
    IS_ENERGY_INTERVAL[_code] = _info.is_interval and _info.quantity in _ENERGY
    IS_ENERGY_REGISTER[_code] = _info.is_register and _info.quantity in _ENERGY
    IS_VOLTAGE[_code] = _info.quantity is Quantity.VOLTAGE
    if IS_VOLTAGE[_code]:
        VOLT_UNIT[_code] = 10.0 ** _info.unit_exponent


def register_channel(code: int) -> int:
    """Register channel of the same quantity and resolution as an interval channel."""
    return (code // 100) * 100 + code % 10


for _code in CHANNELS:
    if IS_ENERGY_INTERVAL[_code] and register_channel(_code) in CHANNELS:
        REGISTER_OF[_code] = register_channel(_code)

CHANNEL_CODES = _SIZE
"""Size of the per-channel tables (largest channel code + 1)."""
PERIOD_S32 = PERIOD_S.astype(np.int32)
HAS_REGISTER = REGISTER_OF > 0

SETTLEMENT_CHANNELS = {
    30: (140, 240),
    15: (130, 230),
}
"""Forward/reverse active energy channels (default resolution) settled per slot length."""

