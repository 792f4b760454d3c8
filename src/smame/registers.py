"""Register arithmetic for 8-digit meter registers and 6-digit retail values (SPEC M1, S4).

Every function accepts a Python ``int`` or a numpy integer array and returns the same
kind. Values outside a register's range are refused with :class:`RegisterRangeError`,
never wrapped silently.

Conventions (see ``docs/registers.md``):

* A meter register has 8 digits, 0–99,999,999, in the meter's unit. The unit is
  ``10**unit_exponent`` kWh, default exponent -2, i.e. 0.01 kWh.
* A delta between two readings is ``(later - earlier) mod 10**8``: correct across the
  wrap, provided less than one full turn of the register passed between them.
* The retail (6-digit) register is ``floor(register / 10) mod 10**6``: with the default
  unit that is 0.1 kWh. Retail interval values are deltas of the retail register, wrap
  included, so retail intervals over any period sum exactly to the retail register
  difference over that period.
"""

from __future__ import annotations

from typing import TypeVar, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_UNIT_EXPONENT",
    "REGISTER_DIGITS",
    "REGISTER_MODULUS",
    "RETAIL_DIGITS",
    "RETAIL_DIVISOR",
    "RETAIL_MODULUS",
    "RegisterRangeError",
    "advance_register",
    "check_register",
    "register_delta",
    "retail_delta",
    "retail_intervals",
    "retail_register",
    "unit_kwh",
    "unit_wh",
]

REGISTER_DIGITS = 8
REGISTER_MODULUS = 10**REGISTER_DIGITS
RETAIL_DIGITS = 6
RETAIL_MODULUS = 10**RETAIL_DIGITS
RETAIL_DIVISOR = 10
DEFAULT_UNIT_EXPONENT = -2
"""Register unit of a meter as a power of ten of kWh: -2 means 0.01 kWh."""

IntArray = npt.NDArray[np.integer]
R = TypeVar("R", int, IntArray)


class RegisterRangeError(ValueError):
    """A value does not fit the register it was given as."""


def _is_array(value: object) -> bool:
    return isinstance(value, np.ndarray)


def check_register(value: R, modulus: int = REGISTER_MODULUS) -> R:
    """Return ``value`` unchanged if every element lies in ``[0, modulus)``.

    Raises :class:`RegisterRangeError` otherwise (SPEC M1: 8 digits, 0–99,999,999).
    """
    if _is_array(value):
        array = np.asarray(value)
        if array.dtype.kind not in "iu":
            raise RegisterRangeError(f"register values must be integers, got {array.dtype}")
        if array.size and (int(array.min()) < 0 or int(array.max()) >= modulus):
            bad = array[(array < 0) | (array >= modulus)][0]
            raise RegisterRangeError(f"register value {int(bad)} outside 0..{modulus - 1}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise RegisterRangeError(f"register value must be an integer, got {value!r}")
    if not 0 <= value < modulus:
        raise RegisterRangeError(f"register value {value} outside 0..{modulus - 1}")
    return value


@overload
def register_delta(earlier: int, later: int, modulus: int = ...) -> int: ...
@overload
def register_delta(earlier: IntArray, later: IntArray, modulus: int = ...) -> IntArray: ...
def register_delta(earlier, later, modulus=REGISTER_MODULUS):
    """Energy between two readings of one register, in register units (SPEC M1).

    ``(later - earlier) mod modulus``: a reading that wrapped past 99,999,999 to a small
    value gives the true, positive delta. Both readings must be valid register values.
    """
    check_register(earlier, modulus)
    check_register(later, modulus)
    if _is_array(earlier) or _is_array(later):
        return np.mod(np.asarray(later, np.int64) - np.asarray(earlier, np.int64), modulus)
    return (int(later) - int(earlier)) % modulus


@overload
def advance_register(register: int, delta: int, modulus: int = ...) -> int: ...
@overload
def advance_register(register: IntArray, delta: IntArray, modulus: int = ...) -> IntArray: ...
def advance_register(register, delta, modulus=REGISTER_MODULUS):
    """Register value after ``delta`` units (≥ 0) have been added, wrapping at ``modulus``."""
    check_register(register, modulus)
    if _is_array(register) or _is_array(delta):
        delta_array = np.asarray(delta, np.int64)
        if delta_array.size and int(delta_array.min()) < 0:
            raise RegisterRangeError("a register only advances: negative delta")
        return np.mod(np.asarray(register, np.int64) + delta_array, modulus)
    if delta < 0:
        raise RegisterRangeError(f"a register only advances: negative delta {delta}")
    return (int(register) + int(delta)) % modulus


@overload
def retail_register(register: int) -> int: ...
@overload
def retail_register(register: IntArray) -> IntArray: ...
def retail_register(register):
    """The 6-digit retail register of an 8-digit register (SPEC S4).

    ``floor(register / 10) mod 10**6``: with the default 0.01 kWh unit, 0.1 kWh.
    """
    check_register(register)
    if _is_array(register):
        return np.mod(np.asarray(register, np.int64) // RETAIL_DIVISOR, RETAIL_MODULUS)
    return (int(register) // RETAIL_DIVISOR) % RETAIL_MODULUS


@overload
def retail_delta(earlier: int, later: int) -> int: ...
@overload
def retail_delta(earlier: IntArray, later: IntArray) -> IntArray: ...
def retail_delta(earlier, later):
    """Retail (6-digit) energy between two 8-digit readings, in 0.1 kWh (SPEC S4).

    The difference of the two retail registers, modulo 10**6: it telescopes, so retail
    values of consecutive intervals always sum to the retail delta of the whole period.
    """
    return register_delta(retail_register(earlier), retail_register(later), RETAIL_MODULUS)


def retail_intervals(registers: IntArray) -> IntArray:
    """Retail interval values from 8-digit readings at consecutive interval ends (SPEC S4).

    ``registers[..., k]`` is the reading at the end of interval ``k - 1``; the result has
    one value fewer along the last axis. Works per meter on 2-D ``(meters, boundaries)``.
    """
    retail = retail_register(np.asarray(registers, np.int64))
    return np.mod(np.diff(retail, axis=-1), RETAIL_MODULUS)


def unit_kwh(unit_exponent: int = DEFAULT_UNIT_EXPONENT) -> float:
    """Size of one register unit in kWh (``10**unit_exponent``)."""
    return 10.0**unit_exponent


def unit_wh(unit_exponent: int = DEFAULT_UNIT_EXPONENT) -> int:
    """Size of one register unit in Wh; exponents from -3 (1 Wh) upwards."""
    if unit_exponent < -3:
        raise RegisterRangeError(f"unit 10^{unit_exponent} kWh is finer than 1 Wh")
    return 10 ** (unit_exponent + 3)
