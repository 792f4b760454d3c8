"""A meter's breaker state as its log tells it (SPEC M7)."""

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
