"""Registers, interval derivation and the soft switch (SPEC M1, M2, M4)."""

import numpy as np
import pyarrow as pa
import pytest

from smame.meter import OutputConfig
from smame.readings import Period, Quality, Quantity
from smame.registers import REGISTER_MODULUS, register_delta
from tests.meter.conftest import make_fleet, per_meter, rows_of


@pytest.mark.parametrize("quantity", [Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT])
def test_derived_intervals_are_sums_of_one_minute_values(one_minute_day, quantity):
    fleet, table = one_minute_day
    minutes = per_meter(rows_of(table, quantity, Period.MIN1), fleet.n)
    assert minutes.shape == (fleet.n, 1440)
    assert (minutes >= 0).all()
    five = per_meter(rows_of(table, quantity, Period.MIN5), fleet.n)
    np.testing.assert_array_equal(five, minutes.reshape(fleet.n, 288, 5).sum(axis=2))
    fifteen_rows = rows_of(table, quantity, Period.MIN15)
    thirty_rows = rows_of(table, quantity, Period.MIN30)
    on_15 = fleet.soft_switch == 15
    fifteen = fifteen_rows["value"].reshape(int(on_15.sum()), 96)
    np.testing.assert_array_equal(fifteen, minutes[on_15].reshape(-1, 96, 15).sum(axis=2))
    thirty = thirty_rows["value"].reshape(int((~on_15).sum()), 48)
    np.testing.assert_array_equal(thirty, minutes[~on_15].reshape(-1, 48, 30).sum(axis=2))


def test_soft_switch_selects_the_transmitted_interval(one_minute_day):
    fleet, table = one_minute_day
    on_15 = set(fleet.meter_ids[fleet.soft_switch == 15].tolist())
    fifteen = set(rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN15)["meter_id"].tolist())
    thirty = set(rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)["meter_id"].tolist())
    assert fifteen == on_15
    assert thirty == set(fleet.meter_ids.tolist()) - on_15


def test_interval_values_equal_register_differences_for_every_meter_and_period(one_minute_day):
    fleet, table = one_minute_day
    registers = rows_of(table, Quantity.ACTIVE_IMPORT, Period.REGISTER)
    intervals_30 = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)
    intervals_15 = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN15)
    for meter_id in fleet.meter_ids:
        mine = registers["meter_id"] == meter_id
        readings = registers["value"][mine]
        chosen = intervals_15 if fleet.soft_switch[fleet.index_of(meter_id)] == 15 else (
            intervals_30)
        values = chosen["value"][chosen["meter_id"] == meter_id]
        np.testing.assert_array_equal(values[1:], register_delta(readings[:-1], readings[1:]))
        assert int(values[1:].sum()) == register_delta(int(readings[0]), int(readings[-1]))
    # The register a meter object reports is the last one transmitted.
    meter = fleet.meter(1)
    assert meter.import_register == registers["value"][registers["meter_id"] == meter.meter_id][-1]


def test_a_register_wraps_past_99_999_999_and_deltas_stay_right():
    fleet = make_fleet(meters=4, output=OutputConfig(one_minute=True))
    fleet.preset_registers(0, imp=REGISTER_MODULUS - 20)  # installed 20 units below the wrap
    table = pa.concat_tables(fleet.advance(600))
    readings = rows_of(table, Quantity.ACTIVE_IMPORT, Period.REGISTER)
    mine = readings["value"][readings["meter_id"] == fleet.meter_ids[0]]
    minutes = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN1)
    used = int(minutes["value"][minutes["meter_id"] == fleet.meter_ids[0]].sum())
    assert used > 20, "the register should have wrapped"
    assert mine[-1] == used - 20
    assert used == register_delta(REGISTER_MODULUS - 20, int(mine[-1]))
    assert 0 <= fleet.meter(0).import_register < REGISTER_MODULUS


def test_reactive_energy_and_voltage_are_five_minute_values(one_minute_day):
    fleet, table = one_minute_day
    reactive = per_meter(rows_of(table, Quantity.REACTIVE_IMPORT, Period.MIN5), fleet.n)
    imported = per_meter(rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN5), fleet.n)
    assert reactive.shape == (fleet.n, 288)
    # Household power factors lie within 0.90–0.99: tan φ within 0.14–0.49.
    ratio = reactive.sum(axis=1) / imported.sum(axis=1)
    assert ((ratio > 0.12) & (ratio < 0.51)).all()
    volts = per_meter(rows_of(table, Quantity.VOLTAGE, Period.MIN5), fleet.n)
    assert volts.shape == (fleet.n, 288)
    assert (volts > 900).all()


def test_a_fleet_started_mid_interval_flags_the_first_interval_partial():
    fleet = make_fleet(meters=3, start=make_fleet().config.start.replace(minute=7))
    table = pa.concat_tables(fleet.advance(60))
    rows = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)
    first = rows["quality"][rows["end"] == rows["end"].min()]
    later = rows["quality"][rows["end"] == rows["end"].max()]
    assert (first & Quality.PARTIAL).all()
    assert not (later & Quality.PARTIAL).any()


def test_same_seed_same_data_and_another_seed_other_data():
    first = pa.concat_tables(make_fleet(meters=20, seed=5).advance(120))
    again = pa.concat_tables(make_fleet(meters=20, seed=5).advance(120))
    other = pa.concat_tables(make_fleet(meters=20, seed=6).advance(120))
    assert first.equals(again)
    assert not first.column("value").equals(other.column("value"))


def test_instantaneous_values_follow_the_last_minute():
    fleet = make_fleet(meters=20, pv_share=1.0)
    fleet.advance(12 * 60)  # noon in summer: PV homes export
    values = [fleet.meter(i).instantaneous() for i in range(fleet.n)]
    assert any(v.power_w < 0 for v in values)
    for row, v in enumerate(values):
        if fleet.traits.three_phase[row]:  # a 200 V three-phase shop (no PV)
            assert 182 <= v.voltage_v <= 222
            assert v.current_l1_a == pytest.approx(abs(v.power_w) / 346.4, rel=1e-3)
            continue
        # Every home exporting at noon lifts the voltage; it stays near the band.
        assert 95 <= v.voltage_v <= 112
        legs = v.current_l1_a + v.current_l2_a
        assert legs == pytest.approx(abs(v.power_w) / 100, rel=1e-3)
