"""Link arithmetic against brute force."""

import numpy as np
import pytest

from smame.fan.area import lindley_departures
from smame.fan.config import load_config
from smame.fan.radio import (
    area_depth,
    expected_attempts,
    frame_airtime_s,
    hop_depths,
    link_success,
    medium_for,
)


def test_expected_attempts_match_drawn_retries():
    rng = np.random.default_rng(1)
    per, retries = 0.3, 3
    failures = rng.random((200_000, retries + 1)) < per
    # attempts = index of the first success + 1, or all of them
    first_ok = np.where(~failures.all(1), (~failures).argmax(1) + 1, retries + 1)
    assert expected_attempts(per, retries) == pytest.approx(first_ok.mean(), rel=0.01)
    assert link_success(per, retries) == pytest.approx((~failures).any(1).mean(), abs=0.003)
    assert expected_attempts(1.0, 3) == 4


def test_hop_depths_follow_a_uniform_disc():
    hops = hop_depths(np.random.default_rng(2), 400_000, 8)
    share = np.bincount(hops, minlength=9)[1:] / hops.size
    assert share == pytest.approx((2 * np.arange(1, 9) - 1) / 64, abs=0.003)


def test_depth_grows_with_the_square_root_of_the_area_and_is_capped():
    depth = area_depth(np.array([125, 500, 2000, 10**6]), 7, 24)
    assert depth.tolist() == [4, 7, 14, 24]


def test_airtime_of_a_frame():
    assert frame_airtime_s(200, 60, 100) == pytest.approx(260 * 8 / 100_000)


def test_lindley_matches_a_queue_simulated_job_by_job():
    rng = np.random.default_rng(3)
    arrival = np.sort(rng.random(2000) * 100)
    service = rng.random(2000) * 0.1
    free, expected = 0.0, []
    for a, s in zip(arrival, service, strict=True):
        free = max(free, a) + s
        expected.append(free)
    assert lindley_departures(arrival, service) == pytest.approx(np.array(expected))


def test_deeper_meters_cost_the_concentrator_no_more_than_the_shared_hops():
    medium = medium_for(load_config(), "multihop")
    hops = np.array([1, 2, 10])
    channel = medium.channel_s(120, hops, 0.1)
    assert channel[0] < channel[1] == channel[2]
    path = medium.path_s(120, hops, 0.1)
    assert path[0] == path[1] == 0 < path[2]
    assert medium.success(hops, 0.1, 2)[2] < medium.success(hops, 0.1, 1)[2]
    # every frame must cross: a longer transfer in as many legs is riskier
    assert medium.success(hops, 0.1, 2, 2000)[2] < medium.success(hops, 0.1, 2, 200)[2]
