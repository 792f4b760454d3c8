"""VEE on series that are not a regular grid (gaps, sparse registers, clock offsets), and
validation in parts agreeing with validation whole."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from smame.mdms import Mdms, Reason, VeeConfig
from smame.mdms.events import OffSpans
from smame.mdms.rows import batch_rows, dedupe_keys
from smame.mdms.vee.state import STATE_COLUMNS, SeriesState
from smame.mdms.vee.validate import concat_states, meter_parts, validate_rows
from smame.readings import Quality, make_batch
from tests.mdms.helpers import START, day_batch, flat_day, slot_end


def bits(mdms: Mdms, meter: int, channel: int) -> dict[int, int]:
    """Reason bits of each stored value of a series, by interval end."""
    table = mdms.readings(meter, channels=[channel])
    ends = table.column("interval_end").cast(pa.int64()).to_pylist()
    return dict(zip(ends, table.column("reasons").to_pylist(), strict=True))


def test_sum_check_on_a_series_with_a_gap(mdms: Mdms) -> None:
    batch = day_batch(flat_day(20, meters=2))
    value = batch.column("value").to_numpy().copy()
    meter = batch.column("meter_id").to_numpy()
    channel = batch.column("channel").to_numpy()
    ends = batch.column("interval_end").cast(pa.int64()).to_numpy()
    value[(channel == 140) & (ends == slot_end(9))] = 21  # both meters: slot 9 is wrong
    keep = ~((meter == 1) & (channel == 140) & (ends == slot_end(5)))  # meter 1: a gap
    batch = batch.set_column(3, batch.schema.field("value"), pa.array(value))
    mdms.ingest(batch.filter(pa.array(keep)))
    for meter_id in (1, 2):
        flags = bits(mdms, meter_id, 140)
        assert flags[slot_end(9)] & Reason.SUM_CHECK
        assert not flags[slot_end(8)] & Reason.SUM_CHECK
        assert not flags[slot_end(10)] & Reason.SUM_CHECK
        assert bits(mdms, meter_id, 100)[slot_end(9)] & Reason.SUM_CHECK
    assert slot_end(5) not in bits(mdms, 1, 140)
    assert not any(b & Reason.SUM_CHECK for t, b in bits(mdms, 1, 100).items()
                   if t != slot_end(9))


def test_sum_check_with_registers_every_two_hours(mdms: Mdms) -> None:
    values = np.full(48, 10)
    values[13] = 11  # slot 14, in the segment (12, 16]
    ends = [slot_end(k) for k in range(1, 49)]
    register_ends = [slot_end(k) for k in range(0, 49, 4)]
    registers = 1000 + 10 * np.arange(0, 49, 4)
    mdms.ingest(pa.concat_tables([make_batch(1, ends, 140, values),
                                  make_batch(1, register_ends, 100, registers)]))
    flags = bits(mdms, 1, 140)
    failed = sorted(t for t, b in flags.items() if b & Reason.SUM_CHECK)
    assert failed == [slot_end(k) for k in (13, 14, 15, 16)]
    register_failed = [t for t, b in bits(mdms, 1, 100).items() if b & Reason.SUM_CHECK]
    assert register_failed == [slot_end(16)]


def test_misaligned_rows_along_regular_steps(mdms: Mdms) -> None:
    five = [START + 300 * k for k in range(1, 13)]
    shifted = [t + 60 for t in five]  # every end one minute late, steps regular
    one_off = list(five)
    one_off[5] += 30  # one end 30 s late, the rest on the boundary
    mdms.ingest(pa.concat_tables([make_batch(3, shifted, 120, 5),
                                  make_batch(4, one_off, 120, 5)]))
    assert all(b & Reason.TIME_MISALIGNED for b in bits(mdms, 3, 120).values())
    off = [t for t, b in bits(mdms, 4, 120).items() if b & Reason.TIME_MISALIGNED]
    assert off == [one_off[5]]


def random_rows(seed: int):
    rng = np.random.default_rng(seed)
    parts = []
    for meter in range(1, 41):
        register = int(rng.integers(0, 10**8))
        for channel, period in ((140, 1800), (120, 300), (100, 1800), (420, 300)):
            count = int(rng.integers(1, 60))
            ends = START + period * np.arange(1, count + 1)
            ends = ends[rng.random(count) > 0.1] if count > 3 else ends
            if channel == 100:
                values = (register + np.cumsum(rng.integers(0, 40, ends.size))) % 10**8
            else:
                values = rng.choice([0, 0, 5, 20, 900, -3], ends.size)
            quality = rng.choice([0, 0, 0, int(Quality.CLOCK_ADJUSTED),
                                  int(Quality.POWER_OUTAGE)], ends.size)
            parts.append(make_batch(meter * 7919, ends, channel, values, quality))
    rows, conflict = dedupe_keys(batch_rows(pa.concat_tables(parts)))
    keys = np.unique(rows.meter * 2048 + rows.channel)
    known = keys[rng.random(keys.size) < 0.6]
    size = known.size
    state = SeriesState(known, rng.integers(40, 200, size),
                        rng.integers(0, 8000, size).astype(np.float64),
                        rng.integers(0, 60, size), np.zeros(size, np.int64),
                        START - 1800 * rng.integers(0, 3, size),
                        rng.integers(0, 10**8, size), rng.integers(0, 150, size))
    return rows, conflict, state


def test_validation_in_parts_equals_validation_whole() -> None:
    no_spans = OffSpans(*(np.empty(0, np.int64) for _ in range(3)), np.empty(0, np.uint8))
    for seed in range(5):
        rows, conflict, state = random_rows(seed)
        now = float(START + 86400)
        whole = validate_rows(rows, state, VeeConfig(), now, no_spans, conflict)
        parts = [validate_rows(rows.slice(a, b), state, VeeConfig(), now, no_spans,
                               conflict[a:b])
                 for a, b in meter_parts(rows.meter, parts=3, min_rows=0)]
        assert len(parts) == 3
        assert np.array_equal(whole.quality, np.concatenate([p.quality for p in parts]))
        assert np.array_equal(whole.reasons, np.concatenate([p.reasons for p in parts]))
        joined = concat_states([p.state for p in parts])
        for name in ("key", *STATE_COLUMNS):
            assert np.array_equal(getattr(whole.state, name), getattr(joined, name)), name
        assert (whole.reasons & Reason.SUM_CHECK).any()
        assert (whole.reasons & Reason.TIME_MISALIGNED).sum() == 0


def test_sum_check_where_only_some_meters_have_the_interval_channel(mdms: Mdms) -> None:
    # Three meters with 30-minute values and registers; meter 2 alone also sends its first
    # hour in 5-minute values, one of which is 1 unit too high.
    five = [5] * 12
    five[8] = 6  # in the second half hour
    mdms.ingest(pa.concat_tables([
        day_batch(flat_day(30, meters=3)),
        make_batch(2, [START + 300 * k for k in range(1, 13)], 120, five)]))
    flags = bits(mdms, 2, 120)
    assert not any(flags[START + 300 * k] & Reason.SUM_CHECK for k in range(1, 7))
    assert all(flags[START + 300 * k] & Reason.SUM_CHECK for k in range(7, 13))
    assert bits(mdms, 2, 100)[slot_end(2)] & Reason.SUM_CHECK
    assert not bits(mdms, 2, 100)[slot_end(1)] & Reason.SUM_CHECK
    for meter in (1, 3):
        assert not any(b & Reason.SUM_CHECK for b in bits(mdms, meter, 100).values())
    assert not any(b & Reason.SUM_CHECK for m in (1, 2, 3) for b in bits(mdms, m, 140).values())
