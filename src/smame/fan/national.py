"""The national capacity model: representative areas per method, weighted to the fleet.

A national fleet (80 M meters) has some 160,000 concentrator areas; their behaviour is a
distribution, not 160,000 different stories. Each method is simulated on ``sample_areas``
areas drawn from its size and link-quality distributions (the *normal* stratum) plus a few
areas per fault (the *fault* strata: a concentrator down, an interference burst, a cell
outage). Each simulated meter stands for ``weight`` meters of the fleet, so that the strata
carry their configured shares of the method's meters. Meters dropping off the mesh are drawn
inside every area. Figures are meter-weighted sums over the simulated areas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from smame.fan.area import LATENCY_EDGES, Area, AreaResult, simulate_area
from smame.fan.config import FanConfig, SizeRange
from smame.fan.radio import area_depth, hop_depths, medium_for

__all__ = ["MethodSummary", "build_area", "run_method", "run_national"]

FAULT_STRATA = {"multihop": ("concentrator_down", "interference_burst"),
                "plc": ("concentrator_down", "interference_burst"),
                "1n": ("cell_outage",)}


def _sizes(rng: np.random.Generator, size: SizeRange, count: int) -> np.ndarray:
    """Area sizes: lognormal (sigma 0.5) with the configured mean, clipped to [min, max]."""
    sigma = 0.5
    drawn = rng.lognormal(math.log(size.mean) - sigma**2 / 2, sigma, count)
    return np.clip(np.round(drawn), size.min, size.max).astype(np.int64)


def build_area(config: FanConfig, method: str, meters: int, rng: np.random.Generator,
               stratum: str = "normal") -> Area:
    """One area of ``meters`` meters of ``method``, with the faults of ``stratum``."""
    f, t = config.faults, config.traffic
    if method == "multihop":
        m = config.multihop
        depth = int(area_depth(np.array([meters]), m.hops_at_500, m.max_hops)[0])
        hops = hop_depths(rng, meters, depth)
        base, spread, evening = m.link_per, m.link_per_spread, 1.0
    elif method == "plc":
        p = config.plc
        hops = hop_depths(rng, meters, int(rng.integers(1, p.max_hops + 1)))
        base, spread, evening = p.link_per, p.link_per_spread, p.evening_noise_factor
    else:
        hops = np.ones(meters, np.int64)
        base, spread, evening = config.one_n.transaction_loss, 0.0, 1.0
    per = min(base * rng.lognormal(-spread**2 / 2, spread) if spread else base, 0.9)
    second = rng.random(meters) >= config.fleet.first_generation_share
    share_second = max(float(second.mean()), 1e-9)
    draw = rng.random(meters)
    realtime = second & (draw < t.realtime_share / share_second)
    historical = second & ~realtime & (
        draw < (t.realtime_share + t.historical_share) / share_second)
    off = rng.random(meters) < f.meter_off_mesh.share
    off_start = np.where(off, f.meter_off_mesh.start_h * 3600, np.inf)
    off_end = np.where(off, off_start + f.meter_off_mesh.hours * 3600, np.inf)
    hole = (rng.random(meters) < config.one_n.coverage_hole_share) if method == "1n" \
        else np.zeros(meters, bool)
    area = Area(method, hops, per, second, realtime, historical, off_start, off_end, hole,
                evening_factor=evening, stratum=stratum)
    if stratum in ("concentrator_down", "cell_outage"):
        outage = getattr(f, stratum)
        area.down = (outage.start_h * 3600, (outage.start_h + outage.hours) * 3600)
    elif stratum == "interference_burst":
        b = f.interference_burst
        area.burst = (b.start_h * 3600, (b.start_h + b.hours) * 3600, b.per)
    return area


@dataclass
class MethodSummary:
    """A method's national figures (meter-weighted over its simulated areas)."""

    method: str
    meters: int
    areas_simulated: int = 0
    areas_represented: float = 0.0
    concentrators_needed: float = 0.0
    expected: float = 0.0
    on_time: float = 0.0
    by_horizon: float = 0.0
    eventual: float = 0.0
    lost: float = 0.0
    holes: float = 0.0
    realtime_expected: float = 0.0
    realtime_on_time: float = 0.0
    historical_expected: float = 0.0
    historical_delivered: float = 0.0
    jobs: int = 0
    latency_hist: np.ndarray = field(default_factory=lambda: np.zeros(LATENCY_EDGES.size - 1))
    areas: list[tuple[AreaResult, float]] = field(default_factory=list)

    def share(self, part: str, whole: str) -> float:
        total = getattr(self, whole)
        return getattr(self, part) / total if total else 1.0

    def per_area(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A per-area figure and the meters each area stands for (weights)."""
        values = np.array([getattr(r, name) for r, _ in self.areas], float)
        weights = np.array([w * r.meters for r, w in self.areas], float)
        return values, weights

    def weighted_quantile(self, name: str, q: float) -> float:
        values, weights = self.per_area(name)
        order = np.argsort(values)
        cum = np.cumsum(weights[order]) / weights.sum()
        return float(values[order][min(np.searchsorted(cum, q), values.size - 1)])

    def weighted_mean(self, name: str) -> float:
        values, weights = self.per_area(name)
        return float((values * weights).sum() / weights.sum())


def run_method(config: FanConfig, method: str, meters: int,
               progress: Callable[[], None] | None = None) -> MethodSummary:
    """Simulate ``method``'s representative areas for one day and weight them to ``meters``."""
    rng = np.random.default_rng([config.fleet.seed, ("multihop", "1n", "plc").index(method)])
    medium = medium_for(config, method)
    size = {"multihop": config.multihop.meters_per_concentrator,
            "1n": config.one_n.meters_per_cell,
            "plc": config.plc.meters_per_concentrator}[method]
    k = config.fleet.sample_areas
    strata = [(name, getattr(config.faults, name).share, max(2, k // 8))
              for name in FAULT_STRATA[method] if getattr(config.faults, name).share > 0]
    normal = max(1.0 - sum(s for _, s, _ in strata), 0.0)
    summary = MethodSummary(method, meters)
    for stratum, share, count in [("normal", normal, k), *strata]:
        sizes = _sizes(rng, size, count)
        weight = meters * share / sizes.sum()
        for n in sizes:
            result = simulate_area(build_area(config, method, int(n), rng, stratum), config,
                                   medium, rng)
            summary.areas.append((result, weight))
            if progress:
                progress()
    for result, weight in summary.areas:
        for name in ("expected", "on_time", "by_horizon", "eventual", "lost", "holes",
                     "realtime_expected", "realtime_on_time", "historical_expected",
                     "historical_delivered"):
            setattr(summary, name, getattr(summary, name) + weight * getattr(result, name))
        summary.latency_hist += weight * result.latency_hist
        summary.areas_represented += weight
        cap = max(min(result.capacity_meters, result.meters), 1.0)
        summary.concentrators_needed += weight * math.ceil(result.meters / cap)
        summary.jobs += result.jobs
    summary.areas_simulated = len(summary.areas)
    return summary


def areas_to_simulate(config: FanConfig, methods: list[str]) -> int:
    k = config.fleet.sample_areas
    return sum(k + sum(max(2, k // 8) for name in FAULT_STRATA[m]
                       if getattr(config.faults, name).share > 0) for m in methods)


def run_national(config: FanConfig, methods: list[str],
                 progress: Callable[[], None] | None = None) -> dict[str, MethodSummary]:
    """Every method of ``methods`` with its share of ``config.fleet.meters`` (the mix,
    renormalised over the methods asked for)."""
    shares = config.fleet.mix.shares()
    total = sum(shares[m] for m in methods)
    if total <= 0:
        raise ValueError("the mix gives no meters to the methods asked for")
    return {m: run_method(config, m, round(config.fleet.meters * shares[m] / total), progress)
            for m in methods if shares[m] > 0}
