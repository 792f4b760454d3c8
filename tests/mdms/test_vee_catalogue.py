"""The rules an Oracle-class VEE catalogue has that were missing (issue 11.7)."""

from __future__ import annotations

from datetime import date

import pytest

from smame.clock import SimulatedClock
from smame.mdms import Mdms, Reason
from smame.readings import Quality, make_batch
from smame.store import service_point_id
from tests.mdms.helpers import START, slot_end


@pytest.fixture
def now_mdms(tmp_path) -> Mdms:
    """A store whose clock is just after the first slots of the day (nothing is late)."""
    service = Mdms(tmp_path / "d", clock=SimulatedClock(START + 86400))
    yield service
    service.close()


def register(mdms: Mdms, meter: int, volts: int = 200, installed: date | None = None,
             removed: date | None = None, generation: bool = False) -> None:
    sp = service_point_id(3, meter)
    mdms.registry.load("service_points", {"sp_id": [sp], "transformer_id": [1],
                                          "voltage": [volts], "contract_amps": [60]})
    mdms.registry.load("meters", {"meter_id": [meter], "sp_id": [sp], "kind": ["electric"],
                                  "installed": [installed], "removed": [removed]})
    if generation:
        mdms.registry.load("sub_meters", {"sub_meter_id": [meter + 8000],
                                          "main_meter_id": [meter], "kind": ["pv"]})


def outcome(mdms: Mdms, meter: int, t: int, channel: int) -> tuple[int, int]:
    row = mdms.readings(meter, t, t, channels=[channel]).to_pylist()[0]
    return row["reasons"], row["quality"]


def test_a_register_that_goes_backwards_fails_without_intervals(now_mdms: Mdms) -> None:
    now_mdms.ingest(make_batch(1, [slot_end(1), slot_end(2)], 100, [5000, 5010]))
    now_mdms.ingest(make_batch(1, [slot_end(3), slot_end(4)], 100, [4990, 5020]))
    now_mdms.ingest(make_batch(2, [slot_end(1), slot_end(2)], 100, [99_999_990, 4]))  # wrap
    reasons, quality = outcome(now_mdms, 1, slot_end(3), 100)
    assert reasons & Reason.REGISTER_DECREASE
    assert quality & Quality.SUSPECT
    assert not outcome(now_mdms, 1, slot_end(4), 100)[0] & Reason.REGISTER_DECREASE
    assert not outcome(now_mdms, 2, slot_end(2), 100)[0] & Reason.REGISTER_DECREASE


def test_export_without_generation_behind_the_meter_warns(now_mdms: Mdms) -> None:
    register(now_mdms, 1)
    register(now_mdms, 2, generation=True)
    now_mdms.ingest(make_batch([1, 2], slot_end(1), 240, 30))
    reasons, quality = outcome(now_mdms, 1, slot_end(1), 240)
    assert reasons & Reason.UNEXPECTED_EXPORT
    assert quality & Quality.VALIDATED
    assert not outcome(now_mdms, 2, slot_end(1), 240)[0] & Reason.UNEXPECTED_EXPORT


@pytest.mark.parametrize(("volts", "reading", "outside"), [
    (100, 1010, False), (100, 1075, True), (100, 945, True), (100, 950, False),
    (200, 2020, False), (200, 2230, True), (200, 1810, True), (200, 1830, False),
])
def test_statutory_voltage_limits(now_mdms: Mdms, volts: int, reading: int, outside: bool
                                  ) -> None:
    register(now_mdms, 1, volts=volts)
    now_mdms.ingest(make_batch(1, slot_end(1) + 11, 490, reading))
    reasons, _ = outcome(now_mdms, 1, slot_end(1) + 11, 490)
    assert bool(reasons & Reason.VOLTAGE_STATUTORY) == outside


def test_statutory_voltage_without_a_registry_takes_the_level_read(now_mdms: Mdms) -> None:
    now_mdms.ingest(make_batch([1, 2], slot_end(1), 420, [1080, 2050]))
    assert outcome(now_mdms, 1, slot_end(1), 420)[0] & Reason.VOLTAGE_STATUTORY
    assert not outcome(now_mdms, 2, slot_end(1), 420)[0] & Reason.VOLTAGE_STATUTORY


def test_late_and_stale_values_are_flagged(tmp_path) -> None:
    clock = SimulatedClock(START + 86400)
    with Mdms(tmp_path / "d", clock=clock) as mdms:
        mdms.ingest(make_batch(1, [slot_end(40), slot_end(41)], 140, 10))
        mdms.ingest(make_batch(1, slot_end(39), 140, 10))  # older than what is there
        assert outcome(mdms, 1, slot_end(39), 140)[0] & Reason.STALE
        assert not outcome(mdms, 1, slot_end(41), 140)[0] & Reason.STALE
        assert not outcome(mdms, 1, slot_end(41), 140)[0] & Reason.LATE_ARRIVAL
        clock.advance(3 * 86400)
        mdms.ingest(make_batch(2, slot_end(41), 140, 10))
        reasons, quality = outcome(mdms, 2, slot_end(41), 140)
        assert reasons & Reason.LATE_ARRIVAL
        assert quality & Quality.VALIDATED


def test_readings_outside_the_installation_period_fail(now_mdms: Mdms) -> None:
    register(now_mdms, 1, installed=date(2026, 7, 1))
    register(now_mdms, 2, removed=date(2026, 7, 1))
    day_before = START - 1800
    now_mdms.ingest(make_batch([1, 1, 2, 2], [day_before, slot_end(1)] * 2, 140, 10))
    assert outcome(now_mdms, 1, day_before, 140)[0] & Reason.OUTSIDE_INSTALLATION
    assert not outcome(now_mdms, 1, slot_end(1), 140)[0] & Reason.OUTSIDE_INSTALLATION
    assert outcome(now_mdms, 2, slot_end(1), 140)[0] & Reason.OUTSIDE_INSTALLATION
    assert outcome(now_mdms, 2, slot_end(1), 140)[1] & Quality.SUSPECT
    assert not outcome(now_mdms, 2, day_before, 140)[0] & Reason.OUTSIDE_INSTALLATION


def test_every_reason_has_an_iec_61968_9_quality_code() -> None:
    from smame.mdms.vee.quality_codes import REASON_QUALITY_CODES, quality_codes

    assert set(REASON_QUALITY_CODES) == {r for r in Reason if r.value}
    assert quality_codes(int(Reason.SPIKE | Reason.HIGH)) == ("2.5.256",)
    assert quality_codes(int(Reason.LOW)) == ("2.5.257",)
    assert quality_codes(int(Reason.GAP | Reason.EST_LINEAR)) == ("2.8.0", "2.8.1016")
    assert quality_codes(int(Reason.NEGATIVE)) == ("2.6.1004",)
    assert quality_codes(int(Reason.EDITED)) == ("2.7.0",)
    assert quality_codes(0) == ()


def test_readings_of_an_inactive_meter_fail(now_mdms: Mdms) -> None:
    register(now_mdms, 1)
    register(now_mdms, 2)
    now_mdms.registry.backend.execute("UPDATE meters SET state = 'inactive' WHERE meter_id = 2")
    now_mdms.ingest(make_batch([1, 2], slot_end(1), 140, 10))
    assert not outcome(now_mdms, 1, slot_end(1), 140)[0] & Reason.OUTSIDE_INSTALLATION
    reasons, quality = outcome(now_mdms, 2, slot_end(1), 140)
    assert reasons & Reason.OUTSIDE_INSTALLATION
    assert quality & Quality.SUSPECT


def test_an_export_register_is_not_held_to_an_interval_history(now_mdms: Mdms) -> None:
    # A new PV installation: the export register starts near 0 and grows day by day, far
    # beyond 3 × its first days' maximum; that is what a register does, not a HIGH value.
    register(now_mdms, 1, generation=True)
    ends = [START - 86400 * 10 + 1800 * k for k in range(1, 49)]
    now_mdms.ingest(make_batch(1, ends, 200, list(range(1, 49))))
    now_mdms.ingest(make_batch(1, slot_end(1), 200, 500))
    reasons, quality = outcome(now_mdms, 1, slot_end(1), 200)
    assert not reasons & (Reason.HIGH | Reason.SPIKE)
    assert quality & Quality.VALIDATED
