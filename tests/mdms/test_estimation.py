"""Estimation at day close: linear, profile, register-scaled, off periods, failed values."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from smame.mdms import Mdms, Reason
from smame.mdms.vee.estimate import apportion, linear_fill
from smame.meter.events import EventKind, MeterEvent, events_table
from smame.readings import Quality, Source, make_batch
from smame.registers import register_delta
from tests.mdms.helpers import DAY, day_batch, flat_day, slot_end


def drop_slots(batch: pa.Table, slots: list[int], channels=(140,), meter: int | None = None
               ) -> pa.Table:
    t = batch.column("interval_end").cast(pa.int64()).to_numpy()
    c = batch.column("channel").to_numpy()
    m = batch.column("meter_id").to_numpy()
    gone = np.isin(t, [slot_end(k) for k in slots]) & np.isin(c, channels)
    if meter is not None:
        gone &= m == meter
    return batch.filter(pa.array(~gone))


def day_values(mdms: Mdms, meter: int = 1, channel: int = 140) -> pa.Table:
    return mdms.readings(meter, slot_end(1), slot_end(48), channels=[channel])


def test_short_gap_is_interpolated_linearly(mdms: Mdms) -> None:
    values = np.arange(1, 49, dtype=np.int64)[None, :] * 10
    mdms.ingest(drop_slots(day_batch(values, with_registers=False), [10, 11]))
    result = mdms.close_day(DAY)
    assert result.estimated == 2
    table = day_values(mdms)
    assert table.column("value").to_pylist() == values[0].tolist()
    est = table.filter(pa.compute.equal(table.column("source"), Source.ESTIMATION))
    assert len(est) == 2
    assert all(r & Reason.EST_LINEAR and r & Reason.GAP for r in est.column("reasons").to_pylist())
    assert all(q & Quality.ESTIMATED for q in est.column("quality").to_pylist())


def test_long_gap_uses_proxy_days(mdms: Mdms) -> None:
    shape = (np.arange(48) % 12 + 1) * 10
    for back in (1, 2):
        mdms.ingest(day_batch(shape[None, :], day=DAY - timedelta(days=back),
                              with_registers=False))
    mdms.ingest(drop_slots(day_batch(shape[None, :] * 3, with_registers=False),
                           list(range(20, 31))))
    mdms.close_day(DAY)
    table = day_values(mdms)
    est = table.filter(pa.compute.equal(table.column("source"), Source.ESTIMATION))
    assert est.num_rows == 11
    assert est.column("value").to_pylist() == shape[19:30].tolist()
    assert all(r & Reason.EST_PROFILE for r in est.column("reasons").to_pylist())


def test_estimates_add_up_to_register_difference(mdms: Mdms) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 90, (3, 48))
    batch = day_batch(values, register_start=[99_998_000, 5, 123_456])
    mdms.ingest(drop_slots(batch, list(range(5, 25)), channels=(140, 100)))
    result = mdms.close_day(DAY)
    assert result.scaled == 3 * 20
    assert result.unbalanced == 0
    for meter, start in zip((1, 2, 3), (99_998_000, 5, 123_456), strict=True):
        table = day_values(mdms, meter)
        total = sum(table.column("value").to_pylist())
        assert table.num_rows == 48
        end = (start + int(values[meter - 1].sum())) % 100_000_000
        assert total == register_delta(start, end)
        est = table.filter(pa.compute.equal(table.column("source"), Source.ESTIMATION))
        assert all(r & Reason.EST_REGISTER_SCALED for r in est.column("reasons").to_pylist())
        registers = mdms.readings(meter, slot_end(4), slot_end(25), channels=[100])
        r4, r25 = registers.column("value").to_pylist()
        assert sum(table.column("value").to_pylist()[4:25]) == register_delta(r4, r25)


def test_off_periods_are_estimated_as_zero(mdms: Mdms) -> None:
    mdms.ingest_events(events_table([
        MeterEvent(1, slot_end(9), EventKind.POWER_DOWN),
        MeterEvent(1, slot_end(20), EventKind.POWER_RESTORED),
    ]))
    values = flat_day(25)
    values[0, 9:20] = 0
    mdms.ingest(drop_slots(day_batch(values), list(range(10, 21)), channels=(140, 100)))
    mdms.close_day(DAY)
    table = day_values(mdms)
    est = table.filter(pa.compute.equal(table.column("source"), Source.ESTIMATION))
    assert est.num_rows == 11
    assert set(est.column("value").to_pylist()) == {0}
    assert all(r & Reason.EST_OFF for r in est.column("reasons").to_pylist())
    assert all(q & Quality.POWER_OUTAGE for q in est.column("quality").to_pylist())


def test_failed_values_are_replaced_by_estimates(mdms: Mdms) -> None:
    values = flat_day(20)
    mdms.ingest(drop_slots(day_batch(values, with_registers=False), [12]))
    t = slot_end(12)
    mdms.ingest(make_batch(1, t, 140, -40))
    result = mdms.close_day(DAY)
    assert result.replaced_failed == 1
    table = mdms.readings(1, t, t, channels=[140])
    assert table.column("value").to_pylist() == [20]
    assert table.column("reasons")[0].as_py() & Reason.REPLACED_FAILED
    history = mdms.readings(1, t, t, channels=[140], current=False)
    assert history.column("value").to_pylist() == [-40, 20]


def test_a_failed_revision_does_not_replace_a_validated_actual(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20), with_registers=False))
    t = slot_end(12)
    mdms.ingest(make_batch(1, t, 140, -40))
    assert mdms.readings(1, t, t, channels=[140]).column("value").to_pylist() == [20]
    assert mdms.close_day(DAY).estimated == 0


def test_closing_a_complete_day_estimates_nothing(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20, meters=2)))
    assert mdms.close_day(DAY).estimated == 0
    assert mdms.readings(channels=[140]).num_rows == 96


def test_whole_missing_day_of_a_known_meter_is_estimated(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20, meters=2), day=DAY - timedelta(days=1),
                          with_registers=False))
    mdms.ingest(day_batch(flat_day(20, meters=1), with_registers=False))
    result = mdms.close_day(DAY)
    assert result.estimated == 48
    assert day_values(mdms, 2).column("value").to_pylist() == [20] * 48


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 1000)), min_size=1, max_size=40),
       st.lists(st.integers(0, 10**6), min_size=4, max_size=4))
def test_apportion_adds_up_exactly(cells, targets) -> None:
    group = np.array([g for g, _ in cells], np.int64)
    weights = np.array([w for _, w in cells])
    target = np.array(targets, np.int64)
    shares = apportion(target, weights, group, 4)
    present = np.unique(group)
    assert (np.bincount(group, weights=shares, minlength=4)[present] == target[present]).all()
    assert (shares >= 0).all()


def test_linear_fill_needs_both_neighbours() -> None:
    values = np.array([[np.nan, 2.0, np.nan, 4.0, np.nan]])
    estimate, filled = linear_fill(values, np.isnan(values), np.array([3]))
    assert filled.tolist() == [[False, False, True, False, False]]
    assert estimate[0, 2] == 3.0


def test_a_soft_switched_meter_is_not_a_gap_and_its_30_minute_values_are_derived(
        mdms: Mdms) -> None:
    """Meter 1 transmits 30-minute values until 06:00, then 15-minute values (SPEC M4)."""
    thirty = np.full((1, 48), 40, np.int64)
    before = drop_slots(day_batch(thirty, with_registers=False), list(range(13, 49)))
    fifteen_ends = [slot_end(12) + 900 * k for k in range(1, 73)]
    after = make_batch(1, fifteen_ends, 130, [15 + k % 2 * 10 for k in range(72)])
    mdms.ingest(pa.concat_tables([before, after]))
    result = mdms.close_day(DAY)
    assert result.estimated == 0
    assert result.derived == 36
    table = day_values(mdms)
    assert table.num_rows == 48
    derived = table.filter(pa.compute.greater(table.column("interval_end").cast(pa.int64()),
                                              slot_end(12)))
    assert set(derived.column("value").to_pylist()) == {40}  # 15 + 25 per half hour
    reasons = derived.column("reasons").to_pylist()
    assert all(r & Reason.DERIVED_15 for r in reasons)
    assert not any(q & Quality.ESTIMATED for q in derived.column("quality").to_pylist())
    fifteen = mdms.readings(1, slot_end(1), slot_end(48), channels=[130])
    assert fifteen.num_rows == 72  # nothing estimated before the switch


def test_proxy_days_are_of_the_same_day_type(mdms: Mdms) -> None:
    from smame.meter.profiles import is_holiday

    for back in range(1, 8):
        day = DAY - timedelta(days=back)
        level = 50 if is_holiday(day) else 10  # the weekend of 27-28 June uses more
        mdms.ingest(day_batch(flat_day(level), day=day, with_registers=False))
    mdms.ingest(drop_slots(day_batch(flat_day(12), with_registers=False), list(range(20, 31))))
    mdms.close_day(DAY)  # a Wednesday: only weekdays are its proxy days
    est = day_values(mdms).to_pylist()[19:30]
    assert {r["value"] for r in est} == {10}
    assert all(r["reasons"] & Reason.EST_PROFILE for r in est)


def test_proxy_day_choice() -> None:
    from smame.mdms.close import proxy_days
    from smame.store.layout import epoch_day

    wednesday = int(epoch_day(np.array([slot_end(1)]))[0])
    candidates = np.arange(wednesday - 14, wednesday)
    chosen = proxy_days(wednesday, candidates, 7)
    assert chosen.size == 7
    assert wednesday - 3 not in chosen  # Sunday 28 June
    assert wednesday - 1 in chosen
    weekend_only = np.array([wednesday - 3, wednesday - 4])
    assert sorted(proxy_days(wednesday, weekend_only, 7)) == sorted(weekend_only)
