"""On-meter storage and its retention (SPEC M3)."""

import numpy as np
import pyarrow as pa
import pytest

from smame.meter import RetentionConfig
from smame.meter.storage import IntervalStore
from smame.readings import Period, Quantity
from tests.meter.conftest import make_fleet, rows_of


def test_store_keeps_exactly_its_retention():
    store = IntervalStore(n=2, period=30, retention_minutes=120, names=("imp",))
    for k in range(10):
        store.record(30 * k, {"imp": np.array([k, 100 + k])})
    # 120 minutes of 30-minute intervals need 5 readings: boundaries 150..270.
    assert store.oldest == 150
    assert store.latest == 270
    kept = store.read(0, 10_000)
    assert kept.boundaries.tolist() == [150, 180, 210, 240, 270]
    assert kept.values["imp"].tolist() == [[5, 6, 7, 8, 9], [105, 106, 107, 108, 109]]
    assert kept.intervals("imp").tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    assert store.read(0, 149).boundaries.size == 0
    assert store.read(200, 240).boundaries.tolist() == [210, 240]
    with pytest.raises(ValueError, match="not a 30-minute boundary"):
        store.record(301, {"imp": np.array([0, 0])})
    with pytest.raises(ValueError, match="does not follow"):
        store.record(360, {"imp": np.array([0, 0])})
    assert store.read(0, 10_000).values["imp"].tolist() == kept.values["imp"].tolist()


def test_billing_retention_is_at_least_a_month():
    with pytest.raises(ValueError, match="at least 31 days"):
        RetentionConfig(minute30_days=30)
    assert RetentionConfig(minute30_days=0).minutes(30) == 0


@pytest.fixture(scope="module")
def month():
    fleet = make_fleet(meters=3, retention=RetentionConfig(
        minute1_minutes=60, minute5_days=2, minute15_days=31, minute30_days=31))
    batches = fleet.advance(33 * 1440)
    return fleet, pa.concat_tables(batches)


def test_meter_storage_drops_exactly_what_is_older_than_retention(month):
    fleet, _ = month
    now = fleet.minute
    expected = {1: 60, 5: 2 * 1440, 15: 31 * 1440, 30: 31 * 1440}
    for period, minutes in expected.items():
        store = fleet.storage[period]
        assert store.latest == now
        assert store.oldest == now - minutes, period
        held = fleet.meter(0).stored(period, 0, now * 60)
        assert held.boundaries[0] == now - minutes
        assert held.values["imp"].shape == (1, minutes // period + 1)
        assert held.intervals("imp").shape[1] == minutes // period


def test_stored_readings_are_the_transmitted_registers(month):
    fleet, table = month
    meter = fleet.meter(2)
    held = meter.stored(30, (fleet.minute - 1440) * 60, fleet.minute * 60)
    sent = rows_of(table, Quantity.ACTIVE_IMPORT, Period.REGISTER)
    mine = sent["meter_id"] == meter.meter_id
    by_time = dict(zip(sent["end"][mine] // 60, sent["value"][mine], strict=True))
    assert held.values["imp"][0].tolist() == [by_time[b] for b in held.boundaries]
    one_minute = meter.stored(1, 0, fleet.minute * 60)
    assert one_minute.intervals("imp").sum() == (
        held.values["imp"][0][-1] - held.values["imp"][0][-3]) % 10**8
    with pytest.raises(KeyError):
        make_fleet(meters=1, retention=None).meter(0).stored(30, 0, 1)


def test_fleets_larger_than_one_chunk_store_and_emit_every_meter():
    from smame.meter.fleet import CHUNK_METERS

    fleet = make_fleet(meters=CHUNK_METERS + 700)
    table = pa.concat_tables(fleet.advance(90))
    sent = rows_of(table, Quantity.ACTIVE_IMPORT, Period.REGISTER)
    assert np.array_equal(np.unique(sent["meter_id"]), fleet.meter_ids)
    last = sent["end"] == sent["end"].max()
    stored = fleet.storage[1].read(fleet.minute, fleet.minute)
    assert stored.values["imp"][:, 0].tolist() == sent["value"][last].tolist()
    assert fleet.storage[1].oldest == fleet.minute - 60
