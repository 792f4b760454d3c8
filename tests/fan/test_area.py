"""One area's day: collection, faults and their recovery by gap fill, groups, load."""

import dataclasses

import numpy as np
import pytest

from smame.fan.area import DAY_S, simulate_area
from smame.fan.config import load_config
from smame.fan.national import build_area
from smame.fan.radio import medium_for

QUIET = {"faults": {"meter_off_mesh": {"share": 0.0}}}


def run(method="multihop", meters=400, seed=0, config=None, stratum="normal", **changes):
    config = config or load_config(overrides=QUIET)
    rng = np.random.default_rng(seed)
    area = build_area(config, method, meters, rng, stratum)
    area = dataclasses.replace(area, **changes)
    return area, simulate_area(area, config, medium_for(config, method), rng)


@pytest.mark.parametrize("method", ["multihop", "1n", "plc"])
def test_a_healthy_area_collects_everything_within_the_hour(method):
    _area, result = run(method, meters=300)
    assert result.expected == 300 * 48 - result.holes * 48
    assert result.on_time / result.expected > 0.997
    assert result.by_horizon == result.expected
    assert result.eventual == result.expected
    assert result.lost == 0
    assert result.realtime_on_time / result.realtime_expected > 0.9
    assert result.historical_delivered == result.historical_expected > 0


def test_a_concentrator_down_for_four_hours_is_recovered_by_gap_fill():
    config = load_config(overrides=QUIET)
    area, result = run(config=config, stratum="concentrator_down")
    down_h = config.faults.concentrator_down.hours
    assert area.down == (10 * 3600, (10 + down_h) * 3600)
    t = config.traffic
    last_pull = t.push_window_s + t.pull_grace_s + (t.pull_rounds - 1) * t.pull_backoff_s
    ends = 1800 * np.arange(1, 49)
    # late: intervals whose push and every pull round fall while it is down
    stranded = ((ends >= area.down[0]) & (ends + last_pull < area.down[1])).sum()
    assert stranded == 7
    late_intervals = (result.expected - result.on_time) / area.meters
    assert late_intervals == pytest.approx(stranded, abs=0.2)
    assert result.by_horizon == result.expected  # gap fill brings every one back
    assert result.lost == 0


def test_a_meter_off_the_mesh_longer_than_retention_loses_what_it_no_longer_keeps():
    config = load_config(overrides={"faults": {"meter_off_mesh": {
        "share": 1.0, "start_h": 1.0, "hours": 50 * 24.0}}})
    _, result = run(config=config, meters=50)
    assert result.on_time < result.expected * 2 / 48 + 1
    assert result.lost > 0
    assert result.eventual == result.expected - result.lost
    # intervals ending before it dropped off arrived; later ones are beyond 45 days
    assert result.by_horizon == pytest.approx(result.expected * 2 / 48, abs=50)


def test_an_interference_burst_costs_pulls_and_a_long_one_delays_but_loses_nothing():
    _, calm = run(seed=5)
    _, burst = run(seed=5, stratum="interference_burst")  # 30 minutes: pulls catch up
    assert burst.jobs > calm.jobs
    assert burst.on_time / burst.expected > 0.997
    config = load_config(overrides={**QUIET, "faults": {"interference_burst": {"hours": 3.0}}})
    _, long = run(seed=5, config=config, stratum="interference_burst")
    assert long.on_time < calm.on_time
    assert long.by_horizon == long.expected


def test_more_meters_on_a_slow_channel_load_it_more_and_leave_less_headroom():
    config = load_config(overrides={**QUIET, "multihop": {"phy_kbps": 50}})
    _, small = run(config=config, meters=300)
    _, large = run(config=config, meters=2500)
    assert large.peak_utilisation_5min > small.peak_utilisation_5min
    assert large.max_realtime_share < small.max_realtime_share
    assert large.capacity_meters == pytest.approx(small.capacity_meters, rel=0.6)


def test_first_generation_meters_send_no_five_minute_data():
    config = load_config(overrides={**QUIET, "fleet": {"first_generation_share": 1.0}})
    area, result = run(config=config)
    assert not area.second_generation.any()
    assert result.realtime_expected == 0
    assert result.historical_expected == 0
    assert result.max_realtime_share == 0
    assert result.on_time / result.expected > 0.997  # 30-minute data as before


def test_the_hourly_channel_use_covers_the_whole_day():
    _, result = run()
    assert result.hourly_utilisation.shape == (24,)
    assert (result.hourly_utilisation > 0).all()
    assert result.mean_utilisation < result.peak_utilisation_5min < 1
    assert result.peak_concentrator_tx_s_per_h < load_config().multihop.hourly_tx_budget_s
    assert DAY_S == 86400
