"""The load, generation and voltage profiles are ones a utility engineer would accept."""

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from smame.meter import OutputConfig, profiles
from smame.meter.simulate import BatchSummary
from smame.readings import Period, Quantity
from tests.conftest import jst
from tests.meter.conftest import make_fleet, rows_of


@pytest.fixture(scope="module")
def summer_day():
    fleet = make_fleet(meters=2000, seed=11, output=OutputConfig(five_minute_share=0.5))
    table = pa.concat_tables(fleet.advance(1440))
    return fleet, table


def fleet_kwh(table, quantity):
    rows = rows_of(table, quantity, Period.MIN30)
    slots = (rows["end"] - rows["end"].min()) // 1800
    return np.bincount(slots, weights=rows["value"], minlength=48) * 0.01


def test_household_consumption_is_in_the_range_of_japanese_homes(summer_day):
    fleet, table = summer_day
    homes = ~fleet.traits.three_phase
    rows = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)
    per_meter = rows["value"].reshape(fleet.n, 48).sum(axis=1) * 0.01
    # A July day: typical homes use 5–25 kWh, with a median near 11 kWh.
    assert 8 < np.median(per_meter[homes]) < 15
    assert np.percentile(per_meter[homes], 5) > 2
    assert np.percentile(per_meter[homes], 95) < 35


def test_daily_shape_has_an_evening_peak_and_an_early_morning_trough(summer_day):
    _, table = summer_day
    load = fleet_kwh(table, Quantity.ACTIVE_IMPORT)
    peak_slot, trough_slot = int(np.argmax(load)), int(np.argmin(load))
    assert 17 * 2 <= peak_slot <= 22 * 2, peak_slot
    assert 3 * 2 <= trough_slot <= 7 * 2 or trough_slot <= 1, trough_slot
    assert load.max() > 1.6 * load.min()


def test_pv_homes_export_at_midday_and_never_at_night(summer_day):
    fleet, table = summer_day
    export = fleet_kwh(table, Quantity.ACTIVE_EXPORT)
    assert export[:8].sum() == 0  # 00:00–04:00
    assert export[40:].sum() == 0  # 20:00–24:00
    assert export[22:28].min() > 0
    rows = rows_of(table, Quantity.ACTIVE_EXPORT, Period.MIN30)
    exporters = set(rows["meter_id"][rows["value"] > 0].tolist())
    pv_meters = set(fleet.meter_ids[fleet.traits.pv_kw > 0].tolist())
    assert exporters <= pv_meters
    assert len(exporters) > 0.7 * len(pv_meters)


def test_ev_homes_charge_in_the_evening_or_at_night(summer_day):
    fleet, table = summer_day
    rows = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)
    values = rows["value"].reshape(fleet.n, 48)
    ev = fleet.traits.ev_kw > 0
    night = np.r_[0:4, 36:48]
    assert values[ev][:, night].mean() > 1.5 * values[~ev & ~fleet.traits.three_phase][
        :, night].mean()


def test_season_and_weekday_shape_the_demand():
    january, may = profiles.day_shape_table(date(2026, 1, 15)), profiles.day_shape_table(
        date(2026, 5, 13))
    august = profiles.day_shape_table(date(2026, 8, 5))
    family = 1
    assert january[0][family].sum() > 1.25 * may[0][family].sum()
    assert august[0][family].sum() > 1.15 * may[0][family].sum()
    weekday, sunday = profiles.day_shape_table(date(2026, 5, 13)), profiles.day_shape_table(
        date(2026, 5, 17))
    midday = slice(10 * 60, 15 * 60)
    assert sunday[0][family][midday].mean() > 1.3 * weekday[0][family][midday].mean()
    assert profiles.is_holiday(date(2026, 1, 1))
    assert not profiles.is_holiday(date(2026, 1, 6))


def test_voltage_stays_in_the_statutory_bands_with_rare_excursions(summer_day):
    _, table = summer_day
    summary = BatchSummary()
    summary.add(table)
    volts = summary.as_dict()["voltage"]
    assert volts["100V"]["values"] > 200_000
    assert volts["100V"]["within_band_share"] > 0.99
    assert volts["200V"]["within_band_share"] > 0.99
    rows = rows_of(table, Quantity.VOLTAGE, Period.MIN5)
    v100 = rows["value"][rows["value"] < 1500] / 10
    assert 100.5 < v100.mean() < 104.5
    assert v100.std() > 0.5  # loading and PV move the voltage


def test_voltage_falls_with_transformer_loading(summer_day):
    fleet, table = summer_day
    rows = rows_of(table, Quantity.VOLTAGE, Period.MIN5)
    v = rows["value"].reshape(-1, 288).astype(float)
    homes = (~fleet.traits.three_phase)[np.isin(fleet.meter_ids, rows["meter_id"])]
    evening, dawn = v[homes][:, 19 * 12:21 * 12].mean(), v[homes][:, 3 * 12:5 * 12].mean()
    assert dawn > evening + 0.3 * 10 / 10


def test_outage_rates_are_a_poisson_process_per_transformer():
    outages = profiles.draw_outages(
        date(2026, 3, 1), [range(0, 5000)], transformer_rate_per_year=73.0,
        feeder_rate_per_year=0.0, seed=(1, 0))
    assert 800 < len(outages) < 1200  # 5000 × 73 / 365 = 1000
    start = int(jst(2026, 3, 1).timestamp()) // 60
    assert all(start <= o.start < start + 1440 and o.end > o.start for o in outages)
