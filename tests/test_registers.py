import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smame.registers import (
    REGISTER_MODULUS,
    RETAIL_MODULUS,
    RegisterRangeError,
    advance_register,
    check_register,
    register_delta,
    retail_delta,
    retail_intervals,
    retail_register,
    unit_kwh,
    unit_wh,
)

registers = st.integers(0, REGISTER_MODULUS - 1)


@given(start=registers, delta=st.integers(0, REGISTER_MODULUS - 1))
def test_delta_across_the_wrap_is_the_energy_added(start, delta):
    later = advance_register(start, delta)
    assert 0 <= later < REGISTER_MODULUS
    assert register_delta(start, later) == delta


def test_wrap_example():
    assert register_delta(99_999_990, 15) == 25
    assert advance_register(99_999_990, 25) == 15


@given(start=registers, steps=st.lists(st.integers(0, 2_000), min_size=1, max_size=200))
def test_retail_intervals_sum_to_the_retail_register_difference(start, steps):
    boundaries = [start]
    for step in steps:
        boundaries.append(advance_register(boundaries[-1], step))
    readings = np.array(boundaries, dtype=np.int64)
    intervals = retail_intervals(readings)
    assert intervals.shape == (len(steps),)
    assert (intervals >= 0).all()
    # Less than 10^6 retail units pass, so the retail delta is unambiguous.
    assert int(intervals.sum()) == retail_delta(boundaries[0], boundaries[-1])
    # Each retail interval is the retail register's own difference.
    for k, value in enumerate(intervals):
        expected = (retail_register(boundaries[k + 1]) - retail_register(boundaries[k]))
        assert value == expected % RETAIL_MODULUS


@given(start=registers, steps=st.lists(st.integers(0, 500), min_size=2, max_size=60))
def test_retail_truncation_never_drifts_from_the_8_digit_total(start, steps):
    boundaries = np.array([start, *[0] * len(steps)], dtype=np.int64)
    for k, step in enumerate(steps, start=1):
        boundaries[k] = advance_register(int(boundaries[k - 1]), step)
    eight = int(register_delta(boundaries[:-1], boundaries[1:]).sum())
    six = int(retail_intervals(boundaries).sum())
    # The 6-digit total differs from the 8-digit total by less than one retail unit.
    assert abs(six * 10 - eight) < 10


def test_retail_register_is_floor_tenth_modulo_a_million():
    assert retail_register(12_345_678) == 234_567
    assert retail_register(99_999_999) == 999_999
    assert retail_register(9) == 0


def test_array_forms_match_scalar_forms():
    earlier = np.array([0, 99_999_999, 50], dtype=np.int64)
    later = np.array([10, 5, 50], dtype=np.int64)
    assert register_delta(earlier, later).tolist() == [10, 6, 0]
    assert retail_register(later).tolist() == [1, 0, 5]


@pytest.mark.parametrize("bad", [-1, REGISTER_MODULUS, 2**40, 1.5, "7", True])
def test_values_outside_the_register_are_refused(bad):
    with pytest.raises(RegisterRangeError):
        check_register(bad)
    with pytest.raises(RegisterRangeError):
        register_delta(0, bad)


def test_arrays_outside_the_register_are_refused():
    with pytest.raises(RegisterRangeError, match="100000000"):
        register_delta(np.array([0, 1]), np.array([5, REGISTER_MODULUS]))
    with pytest.raises(RegisterRangeError):
        check_register(np.array([1.0, 2.0]))
    with pytest.raises(RegisterRangeError, match="negative"):
        advance_register(np.array([1]), np.array([-1]))
    with pytest.raises(RegisterRangeError, match="negative"):
        advance_register(1, -1)


def test_units():
    assert unit_kwh() == pytest.approx(0.01)
    assert unit_wh(-2) == 10
    assert unit_wh(-3) == 1
    assert unit_wh(0) == 1000
    with pytest.raises(RegisterRangeError):
        unit_wh(-4)
