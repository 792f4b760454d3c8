"""Field-network figures (issue 10):

* per-packet model: MAC attempts (one event each) per wall second for one concentrator area
  pushing a simulated day, and the same model written for SimPy, and the ratio;
* the real head-end over the per-packet model of one area: simulated seconds per wall second;
* the national capacity run (``smame capacity --meters 80000000``): wall seconds.

Writes bench/results/fan.json.

    python bench/bench_fan.py --area-meters 500 --hes-meters 200 --hes-hours 24
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import simpy

from machine import machine
from smame.clock import JST
from smame.fan.config import load_config
from smame.fan.events import EventClock
from smame.fan.field import field_day
from smame.fan.mesh import FieldArea
from smame.fan.national import build_area, run_national
from smame.fan.radio import frames_for, medium_for
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HesConfig
from smame.meter import Fleet, FleetConfig

RESULTS = Path(__file__).parent / "results"
DAY = 86400


def push_times(rng: np.random.Generator, meters: int, window: float) -> np.ndarray:
    """[interval, meter] push moments of one day, s."""
    return 1800 * np.arange(1, 49)[:, None] + rng.random((48, meters)) * window


def ours(config, hops, per, times, octets) -> tuple[int, float]:
    clock = EventClock(0.0)
    area = FieldArea(clock, medium_for(config, "multihop"),
                     {i: int(h) for i, h in enumerate(hops)}, per, np.random.default_rng(1))
    for (_, meter), at in np.ndenumerate(times):
        clock.call_at(at, lambda m=meter: area.transfer(m, octets, True, lambda ok: None))
    started = time.perf_counter()
    clock.run_callbacks(DAY + 3600)
    return area.attempts, time.perf_counter() - started


def with_simpy(config, hops, per, times, octets) -> tuple[int, float]:
    """The same frames, hops, retries and shared concentrator channel as SimPy processes."""
    medium = medium_for(config, "multihop")
    env = simpy.Environment()
    channel = simpy.Resource(env, capacity=1)
    rng = np.random.default_rng(1)
    attempts = 0
    frames = int(frames_for(octets, medium.payload_octets))

    def transfer(at: float, h: int):
        nonlocal attempts
        yield env.timeout(at)
        for _frame in range(frames):
            for hop in range(h):
                for _attempt in range(medium.retries + 1):
                    attempts += 1
                    if h - hop <= medium.collision_hops:
                        with channel.request() as turn:
                            yield turn
                            yield env.timeout(medium.attempt_s)
                    else:
                        yield env.timeout(medium.attempt_s)
                    if rng.random() >= per:
                        break
                else:
                    return

    for (_, meter), at in np.ndenumerate(times):
        env.process(transfer(float(at), int(hops[meter])))
    started = time.perf_counter()
    env.run(until=DAY + 3600)
    return attempts, time.perf_counter() - started


def hes_over_field(config, meters: int, hours: float, per_concentrator: int) -> dict:
    fleet = Fleet(FleetConfig(meters=meters, start=datetime(2026, 7, 1, tzinfo=JST), seed=5,
                              transformer_outages_per_year=0.0, feeder_outages_per_year=0.0))
    rng = np.random.default_rng(2)
    concentrators = -(-meters // per_concentrator)
    concentrator = np.arange(meters) % concentrators
    hops = np.empty(meters, np.int64)
    for k in range(concentrators):
        rows = np.flatnonzero(concentrator == k)
        hops[rows] = build_area(config, "multihop", rows.size, rng).hops
    window = int(config.traffic.push_window_s)
    with tempfile.TemporaryDirectory() as work:
        day = field_day(fleet, Path(work), medium_for(config, "multihop"), hops,
                        config.multihop.link_per, rng, push_window=window,
                        config=HesConfig(session_timeout=3600.0,
                                         push_grace_seconds=window + config.traffic.pull_grace_s),
                        groups=FiveMinuteGroups.select(int(m) for m in fleet.meter_ids),
                        concentrator=concentrator)
        start = day.clock.time()
        started = time.perf_counter()
        asyncio.run(day.run(start + hours * 3600, since=start))
        wall = time.perf_counter() - started
        report = day.headend.collection_report(30)
    expected = sum(r["expected"] for r in report)
    got = sum(r["push"] + r["pull"] for r in report)
    return {"meters": meters, "concentrators": concentrators, "simulated_s": hours * 3600,
            "wall_s": wall,
            "simulated_s_per_wall_s": hours * 3600 / wall, "events": day.clock.events,
            "collected_within_hour": got / expected if expected else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area-meters", type=int, default=500)
    parser.add_argument("--hes-meters", type=int, default=200)
    parser.add_argument("--hes-hours", type=float, default=24.0)
    parser.add_argument("--meters-per-concentrator", type=int, default=500)
    parser.add_argument("--national-meters", type=int, default=80_000_000)
    args = parser.parse_args()
    config = load_config()
    rng = np.random.default_rng(0)
    area = build_area(config, "multihop", args.area_meters, rng)
    times = push_times(rng, args.area_meters, config.traffic.push_window_s)
    octets = config.traffic.push_bytes
    own_events, own_s = ours(config, area.hops, area.per, times, octets)
    simpy_events, simpy_s = with_simpy(config, area.hops, area.per, times, octets)
    per_packet = {"area_meters": args.area_meters, "ours_events": own_events,
                  "ours_s": own_s, "ours_events_per_s": own_events / own_s,
                  "simpy_events": simpy_events, "simpy_s": simpy_s,
                  "simpy_events_per_s": simpy_events / simpy_s,
                  "ratio": (own_events / own_s) / (simpy_events / simpy_s)}
    print(f"per-packet area of {args.area_meters} meters, a day of pushes: "
          f"ours {per_packet['ours_events_per_s']:,.0f} events/s, "
          f"SimPy {per_packet['simpy_events_per_s']:,.0f} events/s, "
          f"ratio {per_packet['ratio']:.2f}", flush=True)
    hes = hes_over_field(config, args.hes_meters, args.hes_hours, args.meters_per_concentrator)
    print(f"real HES over the per-packet model, {args.hes_meters} meters behind "
          f"{hes['concentrators']} concentrators, "
          f"{args.hes_hours:g} h: {hes['simulated_s_per_wall_s']:,.0f} simulated s per wall s "
          f"({hes['wall_s']:.1f} s), collected within the hour {hes['collected_within_hour']:.4f}",
          flush=True)
    started = time.perf_counter()
    national_config = load_config(overrides={"fleet": {"meters": args.national_meters}})
    run_national(national_config, ["multihop", "1n", "plc"])
    national_s = time.perf_counter() - started
    print(f"national capacity model, {args.national_meters:,} meters, one day: "
          f"{national_s:.1f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fan.json").write_text(json.dumps(
        {"machine": machine(), "per_packet": per_packet, "hes_over_field": hes,
         "national": {"meters": args.national_meters, "wall_s": national_s}}, indent=2))


if __name__ == "__main__":
    main()
