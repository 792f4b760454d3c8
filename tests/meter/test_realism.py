"""The synthetic fleet matches public statistics and real meter behaviour (issue 9, item 23)."""

import numpy as np
import pyarrow as pa

from smame.meter import OutputConfig, profiles
from smame.readings import Period, Quantity
from smame.registers import REGISTER_MODULUS, register_delta
from tests.meter.conftest import make_fleet, rows_of


def test_one_person_households_are_38_percent_of_homes_as_in_the_2020_census():
    traits = profiles.draw_households(200_000, np.random.default_rng(5), 0.15, 0.06)
    persons = profiles.ARCHETYPE_PERSONS[traits.archetype]
    homes = persons > 0
    single_share = (persons[homes] == 1).mean()
    assert abs(single_share - 0.380) <= 0.03
    assert np.array_equal(homes, ~traits.three_phase)  # the businesses are the 低圧電力 shops


def test_reverse_registers_start_anywhere_in_their_range():
    fleet = make_fleet(meters=20_000, retention=None)
    pv = fleet.traits.pv_kw > 0
    reverse = fleet.registers()["exp"][pv]
    # Spread like the forward registers: some PV meters sit in the top tenth, near the wrap.
    assert (reverse >= 0.9 * REGISTER_MODULUS).mean() > 0.05
    assert (reverse < 0.1 * REGISTER_MODULUS).mean() > 0.05
    assert np.all(fleet.registers()["exp"][~pv] == 0)


def test_a_reverse_register_wraps_past_99_999_999_and_deltas_stay_right():
    fleet = make_fleet(meters=200, output=OutputConfig(one_minute=True), retention=None)
    row = int(np.flatnonzero(fleet.traits.pv_kw > 0)[0])
    fleet.advance(9 * 60)  # to 09:00 of a summer day
    fleet.preset_registers(row, exp=REGISTER_MODULUS - 5)
    table = pa.concat_tables(fleet.advance(6 * 60))  # the midday export
    meter_id = fleet.meter_ids[row]
    minutes = rows_of(table, Quantity.ACTIVE_EXPORT, Period.MIN1)
    registers = rows_of(table, Quantity.ACTIVE_EXPORT, Period.REGISTER)
    exported = int(minutes["value"][minutes["meter_id"] == meter_id].sum())
    mine = registers["value"][registers["meter_id"] == meter_id]
    assert exported > 5, "the reverse register should have wrapped"
    assert int(mine[-1]) == exported - 5
    assert register_delta(REGISTER_MODULUS - 5, int(mine[-1])) == exported
    assert mine.min() >= 0
    assert mine.max() < REGISTER_MODULUS
    halves = rows_of(table, Quantity.ACTIVE_EXPORT, Period.MIN30)
    mine_halves = halves["value"][halves["meter_id"] == meter_id]
    assert mine_halves[0] == int(mine[0]) + 5  # the half hour that passed 99,999,999 → 0
    assert mine_halves.min() >= 0
    assert int(mine_halves.sum()) == exported
