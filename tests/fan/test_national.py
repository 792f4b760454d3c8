"""The national model: strata weighted to their shares, figures meter-weighted."""

import numpy as np
import pytest

from smame.fan.config import load_config
from smame.fan.national import run_method, run_national


def test_fault_strata_carry_their_configured_share_of_the_meters():
    config = load_config(overrides={"fleet": {"sample_areas": 8}, "faults": {
        "concentrator_down": {"share": 0.1}, "interference_burst": {"share": 0.05}}})
    summary = run_method(config, "multihop", 1_000_000)
    meters = {}
    for result, weight in summary.areas:
        meters[result.stratum] = meters.get(result.stratum, 0) + weight * result.meters
    assert sum(meters.values()) == pytest.approx(1_000_000)
    assert meters["concentrator_down"] == pytest.approx(100_000)
    assert meters["interference_burst"] == pytest.approx(50_000)
    assert summary.expected == pytest.approx(1_000_000 * 48, rel=1e-9)
    normal = [r for r, _ in summary.areas if r.stratum == "normal"]
    down = [r for r, _ in summary.areas if r.stratum == "concentrator_down"]
    normal_rate = sum(r.on_time for r in normal) / sum(r.expected for r in normal)
    down_rate = sum(r.on_time for r in down) / sum(r.expected for r in down)
    assert down_rate < summary.share("on_time", "expected") < normal_rate


def test_methods_share_the_fleet_by_the_mix_renormalised_over_those_asked():
    config = load_config(overrides={"fleet": {"meters": 100_000, "sample_areas": 2}})
    results = run_national(config, ["1n", "plc"])
    assert results["1n"].meters == results["plc"].meters == 50_000
    with pytest.raises(ValueError, match="no meters"):
        run_national(load_config(overrides={"fleet": {
            "mix": {"multihop": 1.0, "1n": 0.0, "plc": 0.0}}}), ["plc"])


def test_the_same_seed_gives_the_same_figures():
    config = load_config(overrides={"fleet": {"sample_areas": 3}})
    first = run_method(config, "plc", 200_000)
    second = run_method(config, "plc", 200_000)
    assert first.on_time == second.on_time
    assert np.array_equal(first.latency_hist, second.latency_hist)
