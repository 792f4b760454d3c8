"""Outages, Last Gasp and restoration (SPEC M6)."""

import pyarrow as pa

from smame.meter import EventKind, LastGaspConfig
from smame.readings import Period, Quality, Quantity
from tests.meter.conftest import make_fleet, rows_of


def by_kind(events, kind):
    return [e for e in events if e.kind is kind]


def test_one_last_gasp_per_outage_and_none_when_switched_off():
    fleet = make_fleet(meters=60)
    transformer = fleet.meter(0).transformer
    members = list(fleet.topology.meters_of_transformer(transformer))
    assert len(members) >= 2
    silent = fleet.meter(members[1])
    silent.set_last_gasp(False)
    start = fleet.time + 3600
    fleet.schedule_outage(start, start + 45 * 60, transformers=(transformer,))
    table = pa.concat_tables(fleet.advance(180))
    events = fleet.events.drain()
    down = by_kind(events, EventKind.POWER_DOWN)
    gasps = by_kind(events, EventKind.LAST_GASP)
    restored = by_kind(events, EventKind.POWER_RESTORED)
    member_ids = {int(fleet.meter_ids[r]) for r in members}
    assert {e.meter_id for e in down} == member_ids
    assert sorted(e.meter_id for e in gasps) == sorted(member_ids - {silent.meter_id})
    assert all(e.time == start + 1 for e in gasps)
    assert {e.meter_id for e in restored} == member_ids
    assert all(e.time == start + 45 * 60 for e in restored)
    # No supply, no energy: the outage intervals are zero and flagged.
    rows = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)
    inside = (rows["end"] == start + 1800) & (rows["meter_id"] == silent.meter_id)
    assert rows["value"][inside].tolist() == [0]
    assert rows["quality"][inside] & Quality.POWER_OUTAGE
    outside = (rows["end"] == start) & (rows["meter_id"] == silent.meter_id)
    assert not rows["quality"][outside] & Quality.POWER_OUTAGE


def test_no_last_gasp_when_the_capacitor_has_not_recharged():
    fleet = make_fleet(meters=20, last_gasp=LastGaspConfig(recharge_seconds=300))
    transformer = fleet.meter(0).transformer
    start = fleet.time + 600
    fleet.schedule_outage(start, start + 600, transformers=(transformer,))
    fleet.schedule_outage(start + 720, start + 900, transformers=(transformer,))  # 2 min later
    fleet.advance(60)
    events = fleet.events.drain()
    members = len(fleet.topology.meters_of_transformer(transformer))
    assert len(by_kind(events, EventKind.POWER_DOWN)) == 2 * members
    gasps = by_kind(events, EventKind.LAST_GASP)
    assert len(gasps) == members
    assert {e.time for e in gasps} == {start + 1}


def test_feeder_outage_reaches_every_meter_of_the_feeder():
    fleet = make_fleet(meters=50)
    start = fleet.time + 120
    fleet.schedule_outage(start, start + 300, feeders=(0,))
    fleet.advance(30)
    down = {e.meter_id for e in by_kind(fleet.events.drain(), EventKind.POWER_DOWN)}
    assert down == set(fleet.meter_ids.tolist())
    assert all(fleet.meter(i).supplied for i in range(fleet.n))


def test_random_outages_follow_the_configured_rates():
    quiet = make_fleet(meters=3000)
    quiet.advance(1440)
    assert not by_kind(quiet.events.drain(), EventKind.POWER_DOWN)
    stormy = make_fleet(meters=3000, transformer_outages_per_year=30.0)
    stormy.advance(1440)
    down = by_kind(stormy.events.drain(), EventKind.POWER_DOWN)
    # 30 per transformer-year: about 8 % of transformers fail on one day.
    transformers = {stormy.meter(stormy.index_of(e.meter_id)).transformer for e in down}
    share = len(transformers) / stormy.topology.n_transformers
    assert 0.04 < share < 0.13


def test_an_outage_ending_on_a_window_boundary_is_restored():
    fleet = make_fleet(meters=20)
    transformer = fleet.meter(0).transformer
    start = fleet.time
    fleet.schedule_outage(start + 1800, start + 3600, transformers=(transformer,))
    table = pa.concat_tables(fleet.advance(120))
    restored = by_kind(fleet.events.drain(), EventKind.POWER_RESTORED)
    members = fleet.topology.meters_of_transformer(transformer)
    assert len(restored) == len(members)
    assert {e.time for e in restored} == {start + 3600}
    assert all(fleet.meter(r).supplied for r in members)
    rows = rows_of(table, Quantity.ACTIVE_IMPORT, Period.MIN30)
    last = (rows["end"] == start + 7200) & (rows["meter_id"] == fleet.meter_ids[members[0]])
    assert rows["value"][last][0] > 0
    assert not rows["quality"][last][0] & Quality.POWER_OUTAGE
