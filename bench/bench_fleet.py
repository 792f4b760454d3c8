"""Fleet simulation speed and memory (issues 2 and 9).

Times `Fleet.advance` (measurement, breaker, outages, voltage, PV volt-rise suppression,
derived intervals and the reading batches it emits) in one process, ``--repeat`` times on a
fresh fleet each, and reports meter-minutes per second of wall time and of CPU time
(``time.process_time``: what the process itself used, so a figure taken while other work
shares the cores is still comparable). Writes bench/results/fleet.json with every run's
figures, the spread, the git commit, numpy's BLAS and the environment variables that change
numpy's speed. ``--profile`` adds a cProfile of one more run (top functions by own time).

    python bench/bench_fleet.py --meters 1000000 --minutes 1440 --repeat 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from machine import git_commit, machine
from smame.clock import JST
from smame.meter import Fleet, FleetConfig

NATIONAL_METERS = 80_000_000
RESULTS = Path(__file__).parent / "results"
GOAL = 30e6  # meter-minutes/s, issue 9
SPEED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES",
             "PYTHONMALLOC", "MALLOC_ARENA_MAX")


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def numpy_build() -> dict:
    """numpy's version, its BLAS and the SIMD extensions it dispatches to on this CPU."""
    config = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {})
    simd = config.get("SIMD Extensions", {})
    build = {"version": np.__version__, "blas": blas.get("name"),
             "blas_version": blas.get("version"), "simd_found": simd.get("found", [])}
    try:  # which BLAS kernel and thread count run (the fleet itself calls no BLAS)
        from threadpoolctl import threadpool_info
    except ImportError:
        return build
    build["threadpools"] = [{k: pool.get(k) for k in ("internal_api", "architecture",
                                                      "num_threads")}
                            for pool in threadpool_info()]
    return build


def build(args) -> Fleet:
    start = datetime.fromisoformat(args.start).replace(tzinfo=JST)
    return Fleet(FleetConfig(meters=args.meters, start=start, seed=args.seed, retention=None))


def run_once(args) -> dict:
    before = rss_kib()
    built = time.perf_counter()
    fleet = build(args)
    build_s = time.perf_counter() - built
    after_build = rss_kib()
    rows = 0

    def count(batch) -> None:
        nonlocal rows
        rows += batch.num_rows

    wall0, cpu0 = time.perf_counter(), time.process_time()
    fleet.advance(args.minutes, count)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    meter_minutes = args.meters * args.minutes
    return {
        "build_s": round(build_s, 2),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "wall_meter_minutes_per_s": round(meter_minutes / wall),
        "cpu_meter_minutes_per_s": round(meter_minutes / cpu),
        "readings_emitted": rows,
        "state_bytes_per_meter": round(fleet.state_nbytes() / args.meters, 1),
        "rss_after_build_bytes_per_meter": round((after_build - before) * 1024 / args.meters, 1),
    }


def profile_once(args, top: int) -> list[dict]:
    fleet = build(args)
    profiler = cProfile.Profile()
    profiler.enable()
    fleet.advance(args.minutes, lambda batch: None)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO()).sort_stats("tottime")
    rows = []
    for (path, line, name), (_, calls, own, total, _) in stats.stats.items():
        rows.append({"function": f"{Path(path).name}:{line}({name})", "calls": calls,
                     "own_s": round(own, 3), "total_s": round(total, 3)})
    rows.sort(key=lambda r: -r["own_s"])
    return rows[:top]


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-07-01")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="profile one more run and keep the TOP functions by own time")
    parser.add_argument("--out", type=Path, default=RESULTS / "fleet.json")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    runs = []
    for k in range(args.repeat):
        run = run_once(args)
        runs.append(run)
        print(f"run {k + 1}/{args.repeat}: {run['wall_meter_minutes_per_s'] / 1e6:.1f} M "
              f"meter-minutes/s wall, {run['cpu_meter_minutes_per_s'] / 1e6:.1f} M CPU "
              f"({run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU)", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    wall_rates = [r["wall_meter_minutes_per_s"] for r in runs]
    cpu_rates = [r["cpu_meter_minutes_per_s"] for r in runs]
    best_cpu = max(cpu_rates)
    result = {
        "benchmark": "fleet simulation",
        "command": "python bench/bench_fleet.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "taken_at_utc": datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git_commit(),
        "machine": machine(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "numpy": numpy_build(),
        "env": {name: os.environ.get(name) for name in SPEED_ENV},
        "meters": args.meters,
        "minutes": args.minutes,
        "start": args.start,
        "runs": runs,
        "wall_meter_minutes_per_s": spread(wall_rates),
        "cpu_meter_minutes_per_s": spread(cpu_rates),
        "goal_meter_minutes_per_s": GOAL,
        "peak_rss_bytes_per_meter": round(peak * 1024 / args.meters, 1),
        "national_day_core_hours": round(NATIONAL_METERS * 1440 / best_cpu / 3600, 2),
    }
    if args.profile:
        result["profile_top"] = profile_once(args, args.profile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    w, c = result["wall_meter_minutes_per_s"], result["cpu_meter_minutes_per_s"]
    print(f"fleet: {args.meters:,} meters × {args.minutes} min, {args.repeat} runs: "
          f"{w['min'] / 1e6:.1f}–{w['max'] / 1e6:.1f} M meter-minutes/s wall, "
          f"{c['min'] / 1e6:.1f}–{c['max'] / 1e6:.1f} M CPU (goal ≥ {GOAL / 1e6:.0f} M); "
          f"load average {result['load_average_1m']}")
    print(f"fleet state: {runs[-1]['state_bytes_per_meter']:.0f} B/meter (goal ≤ 2048); "
          f"peak RSS {result['peak_rss_bytes_per_meter']:.0f} B/meter incl. window buffers")
    print(f"national fleet (80 M meters): one simulated day = "
          f"{result['national_day_core_hours']} core-hours")
    if args.profile:
        print("hot spots (own time):")
        for row in result["profile_top"]:
            print(f"  {row['own_s']:8.3f} s  {row['calls']:7d}×  {row['function']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
