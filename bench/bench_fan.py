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
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path

import numpy as np
import simpy

from machine import git_commit, machine
from smame.clock import JST, jst_day_start
from smame.fan.config import load_config
from smame.fan.events import EventClock
from smame.fan.field import field_day
from smame.fan.mesh import FieldArea
from smame.fan.national import build_area, run_national
from smame.fan.radio import frames_for, medium_for
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HesConfig
from smame.mdms.collection import ON_TIME_S
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
    """The real head-end collecting ``meters`` for ``hours`` from 00:00 JST, then the hour
    S1 allows for the last slot; S1 on time by ``smame.mdms.collection``, then gap fill."""
    day = date(2026, 7, 1)
    fleet = Fleet(FleetConfig(meters=meters, start=datetime.combine(day, dt_time(0), JST),
                              seed=5, transformer_outages_per_year=0.0,
                              feeder_outages_per_year=0.0))
    rng = np.random.default_rng(2)
    concentrators = -(-meters // per_concentrator)
    concentrator = np.arange(meters) % concentrators
    hops = np.empty(meters, np.int64)
    for k in range(concentrators):
        rows = np.flatnonzero(concentrator == k)
        hops[rows] = build_area(config, "multihop", rows.size, rng).hops
    window = int(config.traffic.push_window_s)
    with tempfile.TemporaryDirectory() as work:
        field = field_day(fleet, Path(work), medium_for(config, "multihop"), hops,
                          config.multihop.link_per, rng, push_window=window,
                          config=HesConfig(session_timeout=3600.0,
                                           push_grace_seconds=window + config.traffic.pull_grace_s,
                                           pull_rounds=config.traffic.pull_rounds,
                                           pull_backoff_seconds=config.traffic.pull_backoff_s),
                          groups=FiveMinuteGroups.select(int(m) for m in fleet.meter_ids),
                          concentrator=concentrator)
        start = field.clock.time()
        simulated = hours * 3600 + ON_TIME_S

        async def collect_then_fill() -> tuple[float, dict, int]:
            started = time.perf_counter()
            await field.run(start + simulated, since=start)
            wall = time.perf_counter() - started
            on_time = field.sink.s1_figures(meters, jst_day_start(day))
            return wall, on_time, await field.settle(
                field.headend.fill_gaps(int(start), int(start + hours * 3600)))

        wall, on_time, refilled = asyncio.run(collect_then_fill())
        eventual = field.sink.s1_figures(meters, jst_day_start(day))
    return {"meters": meters, "concentrators": concentrators, "simulated_s": simulated,
            "wall_s": wall, "simulated_s_per_wall_s": simulated / wall,
            "events": field.clock.events, "slots_settled": on_time["slots_settled"],
            "on_time_rate": on_time["on_time_rate"], "late": on_time["late"],
            "missing_after_schedule": on_time["missing"], "refilled": refilled,
            "eventual_rate": eventual["rate"],
            "sessions_peak_per_concentrator": max(a.sessions_peak for a in field.areas)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area-meters", type=int, default=500)
    parser.add_argument("--hes-meters", type=int, default=200)
    parser.add_argument("--hes-hours", type=float, default=24.0)
    parser.add_argument("--meters-per-concentrator", type=int, default=500)
    parser.add_argument("--national-meters", type=int, default=80_000_000)
    parser.add_argument("--parts", default="per-packet,hes,national",
                        help="comma-separated: per-packet, hes, national")
    parser.add_argument("--out", type=Path, default=RESULTS / "fan.json")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if unknown := parts - {"per-packet", "hes", "national"}:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    config = load_config()
    figures: dict = {"machine": machine(), **git_commit()}
    if "per-packet" in parts:
        figures["per_packet"] = per_packet_figures(config, args.area_meters)
    if "hes" in parts:
        figures["hes_over_field"] = hes_figures(config, args)
    if "national" in parts:
        started = time.perf_counter()
        national_config = load_config(overrides={"fleet": {"meters": args.national_meters}})
        run_national(national_config, ["multihop", "1n", "plc"])
        national_s = time.perf_counter() - started
        print(f"national capacity model, {args.national_meters:,} meters, one day: "
              f"{national_s:.1f} s", flush=True)
        figures["national"] = {"meters": args.national_meters, "wall_s": national_s}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))


def per_packet_figures(config, area_meters: int) -> dict:
    rng = np.random.default_rng(0)
    area = build_area(config, "multihop", area_meters, rng)
    times = push_times(rng, area_meters, config.traffic.push_window_s)
    octets = config.traffic.push_bytes
    own_events, own_s = ours(config, area.hops, area.per, times, octets)
    simpy_events, simpy_s = with_simpy(config, area.hops, area.per, times, octets)
    per_packet = {"area_meters": area_meters, "ours_events": own_events,
                  "ours_s": own_s, "ours_events_per_s": own_events / own_s,
                  "simpy_events": simpy_events, "simpy_s": simpy_s,
                  "simpy_events_per_s": simpy_events / simpy_s,
                  "ratio": (own_events / own_s) / (simpy_events / simpy_s)}
    print(f"per-packet area of {area_meters} meters, a day of pushes: "
          f"ours {per_packet['ours_events_per_s']:,.0f} events/s, "
          f"SimPy {per_packet['simpy_events_per_s']:,.0f} events/s, "
          f"ratio {per_packet['ratio']:.2f}", flush=True)
    return per_packet


def hes_figures(config, args) -> dict:
    hes = hes_over_field(config, args.hes_meters, args.hes_hours, args.meters_per_concentrator)
    print(f"real HES over the per-packet model, {args.hes_meters} meters behind "
          f"{hes['concentrators']} concentrators, {args.hes_hours:g} h and the hour after: "
          f"{hes['simulated_s_per_wall_s']:,.0f} simulated s per wall s ({hes['wall_s']:.1f} s); "
          f"S1 on time {hes['on_time_rate']:.4%} over {hes['slots_settled']} slots "
          f"({hes['late']} late, {hes['missing_after_schedule']} not collected); "
          f"after gap fill ({hes['refilled']} intervals) {hes['eventual_rate']:.4%}",
          flush=True)
    return hes


if __name__ == "__main__":
    main()
