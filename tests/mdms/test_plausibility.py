"""Physical plausibility: contract bounds, a history that learns only from clean values,
and readings of meters the registry does not know (issue 11.2)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from smame.mdms import Mdms, Reason
from smame.mdms.vee.physical import interval_limit_wh
from smame.readings import Quality, make_batch
from smame.store import service_point_id
from tests.mdms.helpers import day_batch, flat_day, slot_end


def register(mdms: Mdms, meter: int, volts: int = 100, amps: int | None = 30,
             rated: int | None = None) -> None:
    sp = service_point_id(3, meter)
    mdms.registry.load("service_points", {"sp_id": [sp], "transformer_id": [1],
                                          "voltage": [volts], "contract_amps": [amps]})
    mdms.registry.load("meters", {"meter_id": [meter], "sp_id": [sp], "kind": ["electric"],
                                  "installed": [date(2026, 1, 1)], "rated_amps": [rated]})


def outcome(mdms: Mdms, meter: int, t: int, channel: int = 140) -> tuple[int, int]:
    row = mdms.readings(meter, t, t, channels=[channel]).to_pylist()[0]
    return row["reasons"], row["quality"]


def test_the_bound_is_amperes_times_volts_times_the_interval() -> None:
    assert interval_limit_wh(30 * 100, 1800, 1.5) == 2250.0


def test_gradual_creep_is_not_learned(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(390), with_registers=False))
    creep = [3_000, 23_000, 180_000, 1_400_000]
    for k, value in enumerate(creep, start=1):
        mdms.ingest(make_batch(1, slot_end(48 + k), 140, value))
    reasons, quality = outcome(mdms, 1, slot_end(49))
    assert reasons & Reason.HIGH
    assert quality & Quality.VALIDATED
    for k in range(2, 5):
        reasons, quality = outcome(mdms, 1, slot_end(48 + k))
        assert reasons & Reason.SPIKE, k
        assert quality & Quality.SUSPECT, k


def test_a_new_meter_cannot_exceed_its_contract(mdms: Mdms) -> None:
    # 100/200 V, 30 A on each leg: 6 kW, at most 4.5 kWh (450 units) per 30 min with margin
    register(mdms, 1, volts=100, amps=30)
    register(mdms, 2, volts=200, amps=None, rated=60)  # three-phase, the 60 A rating: 20.8 kW
    mdms.ingest(make_batch([1, 1, 2, 2], [slot_end(1), slot_end(2)] * 2, 140,
                           [450, 5_000_000, 1558, 1560]))
    assert outcome(mdms, 1, slot_end(1))[1] & Quality.VALIDATED
    reasons, quality = outcome(mdms, 1, slot_end(2))
    assert reasons & Reason.PHYSICAL_LIMIT
    assert quality & Quality.SUSPECT
    assert not outcome(mdms, 2, slot_end(1))[0] & Reason.PHYSICAL_LIMIT
    assert outcome(mdms, 2, slot_end(2))[0] & Reason.PHYSICAL_LIMIT


def test_export_is_bounded_by_the_meter_rating_not_the_contract(mdms: Mdms) -> None:
    register(mdms, 1, volts=100, amps=30)  # PV of 5 kW behind a 30 A contract
    mdms.ingest(make_batch(1, [slot_end(1), slot_end(2)], 240, [250, 2_000]))
    assert not outcome(mdms, 1, slot_end(1), 240)[0] & Reason.PHYSICAL_LIMIT
    assert outcome(mdms, 1, slot_end(2), 240)[0] & Reason.PHYSICAL_LIMIT  # > 120 A × 200 V


def test_an_ev_charging_at_200_v_on_a_30_a_contract_is_plausible(mdms: Mdms) -> None:
    register(mdms, 1, volts=100, amps=30)  # 6 kW across both legs for the whole 30 minutes
    mdms.ingest(make_batch(1, [slot_end(1)], 140, [300]))
    assert not outcome(mdms, 1, slot_end(1))[0] & Reason.PHYSICAL_LIMIT


def test_a_sub_meter_is_bounded_by_its_kind(mdms: Mdms) -> None:
    register(mdms, 1)
    mdms.registry.load("sub_meters", {"sub_meter_id": [71], "main_meter_id": [1],
                                      "kind": ["ev"]})
    mdms.ingest(make_batch(71, [slot_end(1), slot_end(2)], 143, [4_000, 50_000]))
    assert not outcome(mdms, 71, slot_end(1), 143)[0] & Reason.PHYSICAL_LIMIT
    assert outcome(mdms, 71, slot_end(2), 143)[0] & Reason.PHYSICAL_LIMIT


def test_readings_of_unregistered_meters_are_quarantined(mdms: Mdms) -> None:
    register(mdms, 1)
    result = mdms.ingest(make_batch([1, 9], slot_end(1), 140, [20, 5_000_000]))
    assert result.suspect == 1
    reasons, quality = outcome(mdms, 9, slot_end(1))
    assert reasons & Reason.NOT_REGISTERED
    assert quality & Quality.SUSPECT
    assert mdms.readings(9, kind="imd").column("value").to_pylist() == [5_000_000]
    assert not outcome(mdms, 1, slot_end(1))[0] & Reason.NOT_REGISTERED


@pytest.mark.parametrize("value", [0, 224])
def test_values_within_the_bound_pass(mdms: Mdms, value: int) -> None:
    register(mdms, 1)
    mdms.ingest(make_batch(1, slot_end(1), 140, value))
    assert outcome(mdms, 1, slot_end(1))[0] & ~Reason.LATE_ARRIVAL == 0  # 5 days old: late
    assert np.uint16(outcome(mdms, 1, slot_end(1))[1]) & Quality.VALIDATED


def test_day_close_does_not_estimate_a_quarantined_meter(mdms: Mdms) -> None:
    from tests.mdms.helpers import DAY

    register(mdms, 1)
    mdms.ingest(make_batch([1, 9], slot_end(1), 140, 20))
    result = mdms.close_day(DAY)
    assert result.series == 1
    assert mdms.readings(9).num_rows == 1
