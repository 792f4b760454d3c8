"""OBIS codes of the meter's COSEM objects (IEC 62056-6-1), SPEC M1–M8. ``docs/obis.md``
has the table.

Japan-specific objects use the country-specific group C = 94 with D = 81 (Japan's
country code); the 15- and 1-minute profiles and the extra script tables and schedule
use manufacturer-specific values (128–254) in group D or E.
"""

from __future__ import annotations

__all__ = ["ln", "ln_str"]


def ln(text: str) -> bytes:
    """The 6 octets of an OBIS code written ``a.b.c.d.e.f``."""
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 6 or any(not 0 <= p <= 255 for p in parts):
        raise ValueError(f"{text!r} is not an OBIS code a.b.c.d.e.f")
    return bytes(parts)


def ln_str(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


# Abstract objects
LOGICAL_DEVICE_NAME = ln("0.0.42.0.0.255")
CLOCK = ln("0.0.1.0.0.255")
CURRENT_ASSOCIATION = ln("0.0.40.0.0.255")
SECURITY_SETUP = ln("0.0.43.0.0.255")
INVOCATION_COUNTER = ln("0.0.43.1.0.255")  # E = 0: the counter of security setup 0.0.43.0.0.255
MANAGEMENT_INVOCATION_COUNTER = ln("0.0.43.1.1.255")  # E = 1: client 1's, the IDIS naming
DISCONNECT_CONTROL = ln("0.0.96.3.10.255")
DISCONNECT_SCRIPTS = ln("0.0.10.0.106.255")
LIMITER = ln("0.0.17.0.0.255")
LIMIT_SCRIPTS = ln("0.0.10.0.128.255")
BREAKER_SCRIPTS = ln("0.0.10.0.129.255")
LIMIT_RESERVATION_SCHEDULE = ln("0.0.15.0.128.255")
PROFILE_STATUS = ln("0.0.96.10.1.255")
EVENT_CODE = ln("0.0.96.11.0.255")
INTERVAL_PUSH = ln("0.0.25.9.0.255")
LAST_GASP_PUSH = ln("0.0.25.9.1.255")
EVENT_LOG = ln("0.0.99.98.0.255")
SECURITY_LOG = ln("0.0.99.98.1.255")
POWER_FAILURE_LOG = ln("0.0.99.97.0.255")

# Japan-specific (country code 81)
SOFT_SWITCH = ln("0.0.94.81.1.255")
LAST_GASP_ENABLE = ln("0.0.94.81.2.255")
BREAKER_STATE = ln("0.0.94.81.3.255")
LIMIT_RESERVATIONS = ln("0.0.94.81.4.255")
CLOSED_INTERVAL = ln("0.0.94.81.10.255")
LAST_POWER_EVENT = ln("0.0.94.81.11.255")
EVENT_VALUE = ln("0.0.94.81.20.255")
EVENT_REFERENCE = ln("0.0.94.81.21.255")

# Electricity
ACTIVE_IMPORT = ln("1.0.1.8.0.255")
ACTIVE_EXPORT = ln("1.0.2.8.0.255")
REACTIVE_IMPORT = ln("1.0.3.8.0.255")
ACTIVE_IMPORT_INTERVAL = ln("1.0.1.29.0.255")
ACTIVE_EXPORT_INTERVAL = ln("1.0.2.29.0.255")
VOLTAGE = ln("1.0.32.7.0.255")
VOLTAGE_AVERAGE = ln("1.0.32.5.0.255")
ACTIVE_POWER = ln("1.0.16.7.0.255")
REACTIVE_POWER = ln("1.0.3.7.0.255")
CURRENT_L1 = ln("1.0.31.7.0.255")
CURRENT_L2 = ln("1.0.51.7.0.255")
CURRENT_ANY = ln("1.0.11.7.0.255")
PROFILE_30 = ln("1.0.99.1.0.255")
PROFILE_15 = ln("1.0.99.128.0.255")
PROFILE_5 = ln("1.0.99.2.0.255")
PROFILE_1 = ln("1.0.99.129.0.255")
