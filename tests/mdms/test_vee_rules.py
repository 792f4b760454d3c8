"""Every validation rule: one case that triggers it, one that does not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from smame.clock import SimulatedClock
from smame.mdms import Action, Mdms, Reason, VeeConfig
from smame.mdms.vee.config import default_rules
from smame.meter.events import EventKind, MeterEvent, events_table
from smame.readings import Quality, make_batch
from tests.mdms.helpers import day_batch, flat_day, slot_end


def reasons_of(mdms: Mdms, meter: int, channel: int, t: int) -> tuple[int, int]:
    """(reason bits, quality) of the current value of one key."""
    table = mdms.readings(meter, t, t, channels=[channel])
    assert table.num_rows == 1
    return table.column("reasons")[0].as_py(), table.column("quality")[0].as_py()


def assert_flag(mdms, meter, channel, t, reason: Reason, fails: bool) -> None:
    bits, quality = reasons_of(mdms, meter, channel, t)
    assert bits & reason, f"{reason.name} expected, got {Reason(bits)!r}"
    assert bool(quality & Quality.SUSPECT) == fails
    assert bool(quality & Quality.VALIDATED) == (not fails)


def assert_clean(mdms, meter, channel, t, reason: Reason) -> None:
    bits, quality = reasons_of(mdms, meter, channel, t)
    assert not bits & reason, f"{reason.name} not expected"
    assert quality & Quality.VALIDATED


@pytest.fixture
def history(mdms: Mdms) -> Mdms:
    """Meter 1 with a day of 20s (48 values of history), meter 2 likewise."""
    mdms.ingest(day_batch(flat_day(20, meters=2)))
    return mdms


def next_day(k: int) -> int:
    return slot_end(48 + k)


def test_negative(mdms: Mdms) -> None:
    mdms.ingest(make_batch([1, 2], slot_end(1), 140, [-5, 0]))
    assert_flag(mdms, 1, 140, slot_end(1), Reason.NEGATIVE, fails=True)
    assert_clean(mdms, 2, 140, slot_end(1), Reason.NEGATIVE)


def test_register_out_of_range(mdms: Mdms) -> None:
    mdms.ingest(make_batch([1, 2], slot_end(1), 100, [100_000_000, 99_999_999]))
    assert_flag(mdms, 1, 100, slot_end(1), Reason.OUT_OF_RANGE, fails=True)
    assert_clean(mdms, 2, 100, slot_end(1), Reason.OUT_OF_RANGE)


def test_spike_against_own_history(history: Mdms) -> None:
    history.ingest(make_batch([1, 2], next_day(1), 140, [500, 40]))
    assert_flag(history, 1, 140, next_day(1), Reason.SPIKE, fails=True)
    assert_clean(history, 2, 140, next_day(1), Reason.SPIKE)


def test_spike_needs_history(mdms: Mdms) -> None:
    mdms.ingest(make_batch(1, slot_end(1), 140, 500))
    assert_clean(mdms, 1, 140, slot_end(1), Reason.SPIKE)


def test_high_against_own_maximum_warns(history: Mdms) -> None:
    history.ingest(make_batch([1, 2], next_day(1), 140, [70, 50]))
    assert_flag(history, 1, 140, next_day(1), Reason.HIGH, fails=False)
    assert_clean(history, 2, 140, next_day(1), Reason.HIGH)


def test_low_voltage_against_own_mean(mdms: Mdms) -> None:
    ends = slot_end(0) + 300 * np.arange(1, 61)
    mdms.ingest(make_batch(np.repeat([1, 2], 60), np.tile(ends, 2), 420, 1010))
    t = int(ends[-1]) + 300
    mdms.ingest(make_batch([1, 2], t, 420, [800, 1000]))
    assert_flag(mdms, 1, 420, t, Reason.LOW, fails=False)
    assert_clean(mdms, 2, 420, t, Reason.LOW)


def test_sum_check_intervals_against_registers(mdms: Mdms) -> None:
    good = day_batch(flat_day(20), meters=[1])
    bad = day_batch(flat_day(20), meters=[2])
    value = bad.column("value").to_numpy().copy()
    rows = np.flatnonzero(bad.column("channel").to_numpy() == 140)
    value[rows[7]] = 21  # slot 8 claims 0.01 kWh more than the registers moved
    bad = bad.set_column(3, bad.schema.field("value"), pa.array(value))
    mdms.ingest(pa.concat_tables([good, bad]))
    assert_flag(mdms, 2, 140, slot_end(8), Reason.SUM_CHECK, fails=True)
    assert_flag(mdms, 2, 100, slot_end(8), Reason.SUM_CHECK, fails=True)
    assert_clean(mdms, 2, 140, slot_end(9), Reason.SUM_CHECK)
    assert_clean(mdms, 1, 140, slot_end(8), Reason.SUM_CHECK)


def test_sum_check_across_register_wrap_and_batches(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(30), register_start=99_999_000))  # wraps during the day
    t = next_day(1)
    last = (99_999_000 + 48 * 30) % 100_000_000
    mdms.ingest(make_batch([1, 1], t, [140, 100], [30, last + 30]))
    assert not any(r & Reason.SUM_CHECK for r in mdms.readings().column("reasons").to_pylist())
    mdms.ingest(make_batch([1, 1], next_day(2), [140, 100], [30, last + 70]))
    assert_flag(mdms, 1, 140, next_day(2), Reason.SUM_CHECK, fails=True)


def test_timestamp_in_future(mdms: Mdms, clock: SimulatedClock) -> None:
    now = int(clock.time()) // 1800 * 1800
    mdms.ingest(make_batch([1, 2], [now + 3600, now], 140, 5))
    assert_flag(mdms, 1, 140, now + 3600, Reason.TIME_FUTURE, fails=True)
    assert_clean(mdms, 2, 140, now, Reason.TIME_FUTURE)


def test_timestamp_misaligned(mdms: Mdms) -> None:
    mdms.ingest(make_batch([1, 2, 3], [slot_end(1) + 60, slot_end(1), slot_end(1) + 17],
                           [140, 140, 100], 5))
    assert_flag(mdms, 1, 140, slot_end(1) + 60, Reason.TIME_MISALIGNED, fails=True)
    assert_clean(mdms, 2, 140, slot_end(1), Reason.TIME_MISALIGNED)
    assert_clean(mdms, 3, 100, slot_end(1) + 17, Reason.TIME_MISALIGNED)  # registers: any time


def test_clock_adjusted_warns(mdms: Mdms) -> None:
    mdms.ingest(make_batch([1, 2], slot_end(1), 140, 5, quality=[Quality.CLOCK_ADJUSTED, 0]))
    assert_flag(mdms, 1, 140, slot_end(1), Reason.CLOCK_ADJUSTED, fails=False)
    assert_clean(mdms, 2, 140, slot_end(1), Reason.CLOCK_ADJUSTED)


def test_prolonged_zero_across_batches(tmp_path: Path, clock: SimulatedClock) -> None:
    config = VeeConfig({140: replace(default_rules(140), zero_run_limit=10)})
    with Mdms(tmp_path / "d", clock=clock, vee=config) as mdms:
        ends = [slot_end(k) for k in range(1, 13)]
        mdms.ingest(make_batch(1, ends[:6], 140, 0))
        mdms.ingest(make_batch(1, ends[6:], 140, 0))
        mdms.ingest(make_batch(2, ends[:9], 140, 0))
        assert_flag(mdms, 1, 140, ends[9], Reason.PROLONGED_ZERO, fails=False)
        assert_flag(mdms, 1, 140, ends[11], Reason.PROLONGED_ZERO, fails=False)
        assert_clean(mdms, 1, 140, ends[8], Reason.PROLONGED_ZERO)
        assert_clean(mdms, 2, 140, ends[8], Reason.PROLONGED_ZERO)


def test_prolonged_zero_is_not_raised_during_outage(tmp_path: Path, clock) -> None:
    config = VeeConfig({140: replace(default_rules(140), zero_run_limit=3)})
    with Mdms(tmp_path / "d", clock=clock, vee=config) as mdms:
        ends = [slot_end(k) for k in range(1, 6)]
        mdms.ingest(make_batch(1, ends, 140, 0, quality=Quality.POWER_OUTAGE))
        assert_clean(mdms, 1, 140, ends[4], Reason.PROLONGED_ZERO)
        assert_flag(mdms, 1, 140, ends[4], Reason.OUTAGE, fails=False)


def test_duplicates_that_disagree(mdms: Mdms) -> None:
    t = slot_end(1)
    mdms.ingest(make_batch([1, 1, 2, 2], t, 140, [5, 6, 7, 7]))
    assert_flag(mdms, 1, 140, t, Reason.DUPLICATE_CONFLICT, fails=True)
    assert reasons_of(mdms, 1, 140, t)
    assert mdms.readings(1, t, t).column("value")[0].as_py() == 6
    assert_clean(mdms, 2, 140, t, Reason.DUPLICATE_CONFLICT)


def test_outage_and_disconnected_flags(mdms: Mdms) -> None:
    t = slot_end(1)
    mdms.ingest(make_batch([1, 2, 3], t, 140, 0,
                           quality=[Quality.POWER_OUTAGE, Quality.DISCONNECTED, 0]))
    assert_flag(mdms, 1, 140, t, Reason.OUTAGE, fails=False)
    assert_flag(mdms, 2, 140, t, Reason.DISCONNECTED, fails=False)
    assert_clean(mdms, 3, 140, t, Reason.OUTAGE | Reason.DISCONNECTED)


def test_energy_while_disconnected_by_events(mdms: Mdms) -> None:
    off_from, off_to = slot_end(2), slot_end(6)
    mdms.ingest_events(events_table([
        MeterEvent(1, off_from, EventKind.DISCONNECTED),
        MeterEvent(1, off_to, EventKind.RECONNECTED),
        MeterEvent(2, off_from, EventKind.POWER_DOWN),
        MeterEvent(2, off_to, EventKind.POWER_RESTORED),
    ]))
    ends = [slot_end(k) for k in range(1, 9)]
    mdms.ingest(make_batch(np.repeat([1, 2], 8), ends * 2, 140,
                           [5, 5, 5, 0, 0, 0, 5, 5, 5, 5, 0, 0, 0, 0, 5, 5]))
    assert_flag(mdms, 1, 140, slot_end(3), Reason.ENERGY_WHILE_OFF, fails=True)
    assert_flag(mdms, 1, 140, slot_end(4), Reason.DISCONNECTED, fails=False)
    assert_clean(mdms, 1, 140, slot_end(1), Reason.DISCONNECTED | Reason.ENERGY_WHILE_OFF)
    assert_clean(mdms, 1, 140, slot_end(7), Reason.DISCONNECTED | Reason.ENERGY_WHILE_OFF)
    assert_flag(mdms, 2, 140, slot_end(4), Reason.OUTAGE, fails=False)
    assert_clean(mdms, 2, 140, slot_end(4), Reason.ENERGY_WHILE_OFF)


def test_rules_are_configurable_per_channel(tmp_path: Path, clock) -> None:
    config = VeeConfig({140: replace(default_rules(140), negative=Action.OFF)})
    with Mdms(tmp_path / "d", clock=clock, vee=config) as mdms:
        mdms.ingest(make_batch(1, slot_end(1), [140, 240], -5))
        assert_clean(mdms, 1, 140, slot_end(1), Reason.NEGATIVE)
        assert_flag(mdms, 1, 240, slot_end(1), Reason.NEGATIVE, fails=True)


def test_events_are_stored_once(mdms: Mdms) -> None:
    events = events_table([MeterEvent(1, slot_end(1), EventKind.POWER_DOWN)])
    assert mdms.ingest_events(events) == 1
    assert mdms.ingest_events(events) == 0


def test_events_are_read_back_by_meter_time_and_kind(mdms: Mdms) -> None:
    t = slot_end(1)
    mdms.ingest_events(events_table([
        MeterEvent(2, t + 60, EventKind.POWER_RESTORED), MeterEvent(1, t, EventKind.POWER_DOWN),
        MeterEvent(1, t + 60, EventKind.POWER_RESTORED), MeterEvent(3, t, EventKind.DISCONNECTED)]))

    def rows(**query) -> list[tuple[int, int, int]]:
        table = mdms.events(**query)
        return list(zip(*(table.column(c).to_pylist() for c in ("meter_id", "time", "kind")),
                        strict=True))

    assert rows() == [(1, t, 30), (3, t, int(EventKind.DISCONNECTED)), (1, t + 60, 32),
                      (2, t + 60, 32)]
    assert rows(meter_ids=[1]) == [(1, t, 30), (1, t + 60, 32)]
    assert rows(meter_ids=[]) == []
    assert rows(lo=t + 1) == [(1, t + 60, 32), (2, t + 60, 32)]
    assert rows(hi=t) == [(1, t, 30), (3, t, int(EventKind.DISCONNECTED))]
    assert rows(kinds=[int(EventKind.POWER_RESTORED)], meter_ids=[2, 3]) == [(2, t + 60, 32)]


def test_version_times_are_the_commit_times(tmp_path) -> None:
    clock = SimulatedClock(slot_end(3))
    with Mdms(tmp_path / "d", clock=clock) as mdms:
        first = mdms.ingest(make_batch(1, slot_end(1), [140], 5)).version
        clock.advance(600)
        second = mdms.ingest(make_batch(1, slot_end(2), [140], 6)).version
        assert mdms.version_times([second, first, first, 999]) == {
            first: slot_end(3), second: slot_end(3) + 600}
        assert mdms.version_times([]) == {}


