"""Breaker, ampere limits, reservations and the remote switch (SPEC M7, M8)."""

import numpy as np
import pyarrow as pa
import pytest

from smame.meter import BreakerConfig, EventKind
from smame.readings import Period, Quality, Quantity
from tests.meter.conftest import make_fleet, rows_of


def kinds(events, kind):
    return [e for e in events if e.kind is kind]


def test_breaker_trips_recloses_after_15_s_and_a_shedding_customer_is_not_locked_out():
    fleet = make_fleet(meters=30, breaker=BreakerConfig(shed_probability=1.0))
    for row in range(fleet.n):
        fleet.set_limit(row, 10)
    fleet.advance(1440)
    events = fleet.events.drain()
    trips = kinds(events, EventKind.BREAKER_TRIP)
    recloses = kinds(events, EventKind.BREAKER_RECLOSE)
    assert trips, "a 10 A limit should trip somewhere in a day"
    assert len(recloses) == len(trips)
    reclose_at = {(e.meter_id, e.time) for e in recloses}
    assert all((t.meter_id, t.time + 15) in reclose_at for t in trips)
    assert not kinds(events, EventKind.BREAKER_LOCKOUT)


def test_repeated_trips_lock_the_breaker_open_until_a_remote_reset():
    fleet = make_fleet(meters=30, breaker=BreakerConfig(shed_probability=0.0))
    for row in range(fleet.n):
        fleet.set_limit(row, 10)
    batches = fleet.advance(12 * 60)
    events = fleet.events.drain()
    lockouts = kinds(events, EventKind.BREAKER_LOCKOUT)
    assert lockouts
    locked = lockouts[0]
    row = fleet.index_of(locked.meter_id)
    meter = fleet.meter(row)
    assert meter.breaker_locked
    trips = [e.time for e in kinds(events, EventKind.BREAKER_TRIP) if e.meter_id == locked.meter_id]
    window = fleet.config.breaker.lockout_window_seconds
    assert sum(locked.time - window <= t <= locked.time for t in trips) == 3
    # While locked, the meter measures nothing and flags its intervals.
    table = pa.concat_tables(fleet.advance(60) + batches)
    rows = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)
    after = (rows["meter_id"] == locked.meter_id) & (rows["end"] > locked.time + 1800)
    assert (rows["value"][after] == 0).all()
    assert (rows["quality"][after] & Quality.BREAKER_TRIP).all()
    meter.reset_breaker()
    assert not meter.breaker_locked
    assert kinds(fleet.events.drain(), EventKind.BREAKER_RESET)
    meter.set_limit(60)
    registers = (meter.import_register, meter.export_register)
    fleet.advance(60)
    assert meter.instantaneous().power_w != 0
    assert (meter.import_register, meter.export_register) != registers


@pytest.mark.parametrize("amps", [9, 61, 0, -10, 25.5])
def test_limits_outside_10_to_60_amperes_are_refused(amps):
    meter = make_fleet(meters=2).meter(0)
    with pytest.raises(ValueError, match="10–60 A"):
        meter.set_limit(amps)
    with pytest.raises(ValueError, match="10–60 A"):
        meter.reserve_limit(meter.time + 600, amps)


def test_a_reservation_executes_at_its_time_and_a_cancelled_one_does_not():
    fleet = make_fleet(meters=3)
    meter = fleet.meter(1)
    start = fleet.time
    first = meter.reserve_limit(start + 3600 + 17, 20)
    cancelled = meter.reserve_limit(start + 2 * 3600, 60)
    later = meter.reserve_limit(start + 3 * 3600, 40)
    assert [r.id for r in meter.reservations()] == [first.id, cancelled.id, later.id]
    meter.cancel_reservation(cancelled.id)
    assert [r.id for r in meter.reservations()] == [first.id, later.id]
    with pytest.raises(KeyError):
        meter.cancel_reservation(cancelled.id)
    before = meter.limit_a
    fleet.advance(60)
    assert meter.limit_a == before
    fleet.advance(61)  # to start + 2 h 1 min, past the first reservation only
    assert meter.limit_a == 20
    fleet.advance(120)
    assert meter.limit_a == 40
    assert meter.reservations() == []
    executed = kinds(meter.events(), EventKind.RESERVATION_EXECUTED)
    assert [(e.reference, e.time, e.value) for e in executed] == [
        (first.id, first.time, 20), (later.id, later.time, 40)]
    assert kinds(meter.events(), EventKind.RESERVATION_CANCELLED)[0].reference == cancelled.id


def test_a_reservation_in_the_past_is_refused():
    meter = make_fleet(meters=2).meter(0)
    with pytest.raises(ValueError, match="not in the future"):
        meter.reserve_limit(meter.fleet.time, 30)


def test_remote_disconnect_stops_measurement_and_reconnect_resumes_it():
    fleet = make_fleet(meters=5)
    meter = fleet.meter(2)
    fleet.advance(60)
    meter.disconnect()
    assert not meter.connected
    off = pa.concat_tables(fleet.advance(60))
    meter.reconnect()
    on = pa.concat_tables(fleet.advance(60))
    off_rows = rows_of(off, Quantity.ACTIVE_IMPORT, Period.MIN30)
    mine = off_rows["meter_id"] == meter.meter_id
    assert (off_rows["value"][mine] == 0).all()
    assert (off_rows["quality"][mine] & Quality.DISCONNECTED).all()
    others = off_rows["value"][~mine]
    assert (others > 0).all()
    on_rows = rows_of(on, Quantity.ACTIVE_IMPORT, Period.MIN30)
    assert (on_rows["value"][on_rows["meter_id"] == meter.meter_id] > 0).all()
    assert [e.kind for e in meter.events()] == [EventKind.DISCONNECTED, EventKind.RECONNECTED]


def test_soft_switch_only_takes_15_or_30():
    meter = make_fleet(meters=2).meter(0)
    with pytest.raises(ValueError, match="15 or 30"):
        meter.set_soft_switch(5)
    meter.set_soft_switch(15)
    assert meter.soft_switch == 15
    assert np.count_nonzero(meter.fleet.soft_switch == 15) == 1
