"""Voltage against the statutory band (SPEC A3) and tap recommendations."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from smame.analytics.voltage import TAP_STEP, analyse_voltage, statutory_band

T = 1_782_864_000


def _readings(series: dict[int, list[float]]) -> pa.Table:
    meter, end, value = [], [], []
    for m, volts in series.items():
        for i, v in enumerate(volts):
            meter.append(m)
            end.append(T + 300 * (i + 1))
            value.append(round(v * 10))
    return pa.table({
        "meter_id": pa.array(meter, pa.int64()),
        "interval_end": pa.array(end, pa.int64()).cast(pa.timestamp("s", tz="UTC")),
        "channel": pa.array([420] * len(meter), pa.uint16()),
        "value": pa.array(value, pa.int64()),
    })


def _meters(rows: list[tuple[int, int, int]]) -> pa.Table:
    meter, transformer, nominal = zip(*rows, strict=True)
    return pa.table({"meter_id": pa.array(meter, pa.int64()),
                     "transformer": pa.array(transformer, pa.int64()),
                     "service_voltage": pa.array(nominal, pa.int16())})


def test_the_statutory_band() -> None:
    low, high = statutory_band(np.array([100, 200]))
    assert low.tolist() == [95, 182]
    assert high.tolist() == [107, 222]
    with pytest.raises(ValueError, match="100 or 200"):
        statutory_band(np.array([150]))


def test_deviation_events_per_meter_and_side() -> None:
    readings = _readings({1: [106, 108, 108.4, 107.2, 106, 94.8, 101],
                          2: [201, 181.5, 181.9, 190]})
    report = analyse_voltage(readings, _meters([(1, 10, 100), (2, 10, 200)]))
    assert [(e.meter_id, e.high, e.minutes, e.extreme_v) for e in report.events] == [
        (1, True, 15, 108.4), (1, False, 5, 94.8), (2, False, 10, 181.5)]
    assert report.events[0].start == T + 300  # the second interval starts 5 minutes in
    assert report.minutes_out == 30
    assert report.share_out == pytest.approx(6 / 11)
    assert report.worst_meters == [(1, 20), (2, 10)]


def test_a_value_on_the_limit_is_lawful() -> None:
    report = analyse_voltage(_readings({1: [107.0, 95.0]}), _meters([(1, 10, 100)]))
    assert report.events == []
    assert report.minutes_out == 0


def test_a_transformer_running_high_is_told_to_tap_down() -> None:
    readings = _readings({1: [108.5] * 12, 2: [109] * 12, 3: [104] * 12, 4: [101] * 12})
    report = analyse_voltage(readings, _meters([(1, 10, 100), (2, 10, 100), (3, 20, 100),
                                                (4, 20, 100)]))
    high, fine = report.transformers
    assert (high.transformer, high.meters, high.meters_out) == (10, 2, 2)
    assert (high.minutes_high, high.minutes_low) == (120, 0)
    assert (high.worst_meter, high.worst_v) == (2, 109.0)
    assert high.tap_steps == -1
    assert high.minutes_out_after == 0
    assert 109 * (1 - TAP_STEP) < 107
    assert (fine.transformer, fine.tap_steps, fine.minutes_out, fine.worst_meter) == (
        20, 0, 0, None)


def test_a_meter_missing_from_the_meters_table_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the meters table"):
        analyse_voltage(_readings({9: [101]}), _meters([(1, 10, 100)]))
