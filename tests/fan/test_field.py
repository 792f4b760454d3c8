"""The real head-end over the per-packet model of one area, and its calibration against the
vectorized model."""

import asyncio
import dataclasses

import numpy as np
import pytest

from smame.fan.area import LATENCY_EDGES, simulate_area
from smame.fan.config import load_config
from smame.fan.field import field_day
from smame.fan.national import build_area
from smame.fan.radio import medium_for
from smame.hes.groups import FiveMinuteGroups
from smame.meter import Fleet, FleetConfig
from tests.conftest import jst


def fleet_of(meters: int) -> Fleet:
    return Fleet(FleetConfig(meters=meters, start=jst(2026, 7, 1), seed=5,
                             transformer_outages_per_year=0.0, feeder_outages_per_year=0.0))


def delivered(headend, period: int, end: int) -> set[int]:
    return set(headend.delivered.get((period, end), {}))


def test_the_head_end_over_the_mesh_recovers_a_concentrator_fault_by_gap_fill(tmp_path):
    config = load_config()
    fleet = fleet_of(16)
    rng = np.random.default_rng(3)
    area = build_area(config, "multihop", fleet.n, rng)
    meters = {int(m) for m in fleet.meter_ids}
    groups = FiveMinuteGroups(fleet.n, set(), set())
    day = field_day(fleet, tmp_path, medium_for(config, "multihop"), area.hops, area.per, rng,
                    groups=groups)
    start = day.clock.time()
    day.area.down = [(start + 2 * 3600, start + 4 * 3600)]
    late_joiner = int(fleet.meter_ids[0])

    async def scenario():
        await day.run(start + 5 * 3600)
        groups.move([late_joiner], "realtime")  # S16: the group changes while it runs
        await day.run(start + 7 * 3600)
        before_fill = {end: delivered(day.headend, 30, end)
                       for end in range(int(start) + 1800, int(start) + 7 * 3600, 1800)}
        await day.settle(day.headend.fill_gaps(int(start), int(start) + 7 * 3600))
        return before_fill

    before_fill = asyncio.run(scenario())
    ends = sorted(before_fill)
    healthy = [e for e in ends if e <= start + 2 * 3600 - 1800 or e >= start + 4 * 3600]
    faulted = [e for e in ends if start + 2 * 3600 <= e < start + 4 * 3600 - 1800]
    # outside the fault, everything within the hour (pushes, then the pull at +120 s)
    assert all(before_fill[e] == meters for e in healthy)
    assert all(not before_fill[e] for e in faulted)  # nothing gets through a dead concentrator
    assert day.area.lost > 0
    # after it is back, gap fill reads the meters' profiles: every interval, nothing twice
    assert all(delivered(day.headend, 30, e) == meters for e in ends)
    five = [end for (p, end), who in day.headend.delivered.items() if p == 5
            and late_joiner in who]
    # 5-minute data only from the first real-time read after it joined (the 5 h boundary,
    # read at 5 h + 120 s), every 5 minutes from then on
    assert min(five) == start + 5 * 3600
    assert len(five) >= 2 * 12 - 1


def test_a_meter_off_the_mesh_for_hours_is_recovered_by_gap_fill(tmp_path):
    config = load_config()
    fleet = fleet_of(8)
    rng = np.random.default_rng(4)
    area = build_area(config, "multihop", fleet.n, rng)
    day = field_day(fleet, tmp_path, medium_for(config, "multihop"), area.hops, area.per, rng,
                    groups=FiveMinuteGroups(fleet.n, set(), set()))
    start = day.clock.time()
    lost_meter = int(fleet.meter_ids[3])
    day.area.off[lost_meter] = (start + 3600, start + 4 * 3600)

    async def scenario():
        await day.run(start + 5 * 3600, since=start)
        gone = [e for e in range(int(start) + 1800, int(start) + 5 * 3600, 1800)
                if lost_meter not in delivered(day.headend, 30, e)]
        await day.settle(day.headend.fill_gaps(int(start), int(start) + 5 * 3600))
        return gone

    gone = asyncio.run(scenario())
    # the intervals ending while it had no route (its push and the pull both fail) ...
    assert gone == list(range(int(start) + 3600, int(start) + 4 * 3600, 1800))
    # ... come back from its load profile once it rejoins; the others never missed one
    for end in range(int(start) + 1800, int(start) + 5 * 3600, 1800):
        assert delivered(day.headend, 30, end) == {int(m) for m in fleet.meter_ids}


def percentile_of_hist(hist, edges, q):
    cum = np.cumsum(hist) / hist.sum()
    return edges[1:][np.searchsorted(cum, q)]


def test_the_vectorized_model_matches_the_per_packet_model_for_the_same_area(tmp_path):
    """Same meters, hops and link error rate; the head-end pulls at boundary + 120 s."""
    config = load_config(overrides={
        "traffic": {"push_window_s": 0, "pull_grace_s": 120, "pull_rounds": 1,
                    "realtime_share": 0.0, "historical_share": 0.0},
        "faults": {"meter_off_mesh": {"share": 0.0}}})
    medium = medium_for(config, "multihop")
    fleet = fleet_of(40)
    rng = np.random.default_rng(11)
    area = dataclasses.replace(build_area(config, "multihop", fleet.n, rng), per=0.5)
    # every meter pushes at the boundary (no spreading): the queue at the concentrator shows
    day = field_day(fleet, tmp_path, medium, area.hops, area.per, rng, step_s=10, push_window=0,
                    groups=FiveMinuteGroups(fleet.n, set(), set()))
    hours = 8
    start = day.clock.time()
    asyncio.run(day.run(start + hours * 3600))
    report = [r for r in day.headend.collection_report(30) if r["end"] <= start + hours * 3600]
    expected = sum(r["expected"] for r in report)
    packet_push = sum(r["push"] for r in report) / expected
    packet_first_pull = (sum(r["push"] + r["pull"] for r in report)) / expected
    packet_latency = np.percentile(day.headend.push_latency, [50, 90])

    runs = [simulate_area(area, config, medium, np.random.default_rng(seed)) for seed in range(8)]
    vector_push = sum(r.pushed for r in runs) / sum(r.expected for r in runs)
    vector_first_pull = sum(r.first_pull for r in runs) / sum(r.expected for r in runs)
    hist = sum(r.latency_hist for r in runs)
    vector_latency = [percentile_of_hist(hist, LATENCY_EDGES, q) for q in (0.5, 0.9)]

    assert 0.5 < packet_push < 0.98  # the link error rate really bites
    # tolerances (docs/fan.md): 3 percentage points on the rates (sampling noise of
    # 40 meters × 16 intervals is about 1 point), 25 % on the push latency percentiles
    assert vector_push == pytest.approx(packet_push, abs=0.03)
    assert vector_first_pull == pytest.approx(packet_first_pull, abs=0.03)
    assert vector_latency == pytest.approx(packet_latency, rel=0.25)


def test_the_vectorized_cell_matches_the_per_packet_cell(tmp_path):
    """1:N: one transaction loss draw per push or session, connect and paging delays, the
    cell's capacity as a FIFO channel; the head-end pulls at boundary + 120 s."""
    config = load_config(overrides={
        "traffic": {"push_window_s": 0, "pull_grace_s": 120, "pull_rounds": 1,
                    "realtime_share": 0.0, "historical_share": 0.0},
        "1n": {"transaction_loss": 0.15, "coverage_hole_share": 0.0},
        "faults": {"meter_off_mesh": {"share": 0.0}}})
    medium = medium_for(config, "1n")
    fleet = fleet_of(60)
    rng = np.random.default_rng(12)
    area = build_area(config, "1n", fleet.n, rng)
    day = field_day(fleet, tmp_path, medium, area.hops, area.per, rng, step_s=10, push_window=0,
                    groups=FiveMinuteGroups(fleet.n, set(), set()))
    hours = 8
    start = day.clock.time()
    asyncio.run(day.run(start + hours * 3600, since=start))
    report = [r for r in day.headend.collection_report(30) if r["end"] <= start + hours * 3600]
    expected = sum(r["expected"] for r in report)
    packet_push = sum(r["push"] for r in report) / expected
    packet_first_pull = sum(r["push"] + r["pull"] for r in report) / expected
    # every delivery, pushed or pulled (the pulled ones wait for paging)
    packet_latency = np.percentile(day.headend.push_latency + day.headend.pull_latency,
                                   [50, 90])

    runs = [simulate_area(area, config, medium, np.random.default_rng(s)) for s in range(8)]
    vector_push = sum(r.pushed for r in runs) / sum(r.expected for r in runs)
    vector_first_pull = sum(r.first_pull for r in runs) / sum(r.expected for r in runs)
    hist = sum(r.latency_hist for r in runs)
    vector_latency = [percentile_of_hist(hist, LATENCY_EDGES, q) for q in (0.5, 0.9)]

    assert 0.75 < packet_push < 0.95
    assert vector_push == pytest.approx(packet_push, abs=0.03)
    assert vector_first_pull == pytest.approx(packet_first_pull, abs=0.03)
    assert vector_latency == pytest.approx(packet_latency, rel=0.25)
