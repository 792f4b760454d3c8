"""A meter's breaker state as its log tells it (SPEC M7); the days the fleet summary lists."""

from smame.meter.events import EventKind, MeterEvent, events_table
from tests.api.support import START, Api


def test_a_trip_and_the_lockout_of_the_same_second_leave_the_breaker_locked_out(api: Api):
    meter_id = api.dataset.meters[-1]
    trip = START + 2 * 86400 + 18 * 3600 + 120  # the third trip within 120 s locks it
    api.dataset.mdms.ingest_events(events_table([
        MeterEvent(meter_id, trip - 60, EventKind.BREAKER_TRIP, 20),
        MeterEvent(meter_id, trip - 45, EventKind.BREAKER_RECLOSE),
        MeterEvent(meter_id, trip, EventKind.BREAKER_TRIP, 20),
        MeterEvent(meter_id, trip, EventKind.BREAKER_LOCKOUT, 3),
        MeterEvent(meter_id, trip + 600, EventKind.BREAKER_RESET),  # later, for other tests
    ]))
    data = api.state.data
    meter = data.view.meters[meter_id]
    assert data.meter_state(meter, trip + 10)["breaker"] == "locked_out"
    assert data.meter_state(meter, trip - 50)["breaker"] == "tripped"
    assert data.meter_state(meter, trip + 601)["breaker"] == "closed"


def test_the_fleet_summary_lists_a_day_as_soon_as_its_first_value_arrives(api: Api):
    import numpy as np

    from smame.readings import Period, Quantity, channel_code, make_batch

    later = START + 20 * 86400 + 1800  # 2026-07-21 00:30 JST: ingested, not validated yet
    api.dataset.mdms.ingest(make_batch(
        np.array([api.dataset.meters[0]]), np.array([later]),
        np.array([channel_code(Quantity.ACTIVE_IMPORT, Period.MIN30)]), np.array([12])),
        validate=False)
    token = api.token("distribution")
    days = api.get("/v1/fleet/summary", token).json()["days"]
    assert "2026-07-21" in days
    assert "2026-07-01" in days
