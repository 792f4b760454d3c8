"""Fleet simulation speed and memory (issue 2).

Prints meter-minutes per second of `Fleet.advance` (measurement, breaker, outages, voltage,
derived intervals and the reading batches it emits) in one process, and the fleet state per
meter. Writes bench/results/fleet.json.

    python bench/bench_fleet.py --meters 1000000 --minutes 1440
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import datetime
from pathlib import Path

from machine import machine
from smame.clock import JST
from smame.meter import Fleet, FleetConfig

NATIONAL_METERS = 80_000_000
RESULTS = Path(__file__).parent / "results"


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-07-01")
    args = parser.parse_args()

    start = datetime.fromisoformat(args.start).replace(tzinfo=JST)
    before = rss_kib()
    built = time.perf_counter()
    fleet = Fleet(FleetConfig(meters=args.meters, start=start, seed=args.seed, retention=None))
    build_s = time.perf_counter() - built
    after_build = rss_kib()
    rows = 0

    def count(batch) -> None:
        nonlocal rows
        rows += batch.num_rows

    began = time.perf_counter()
    fleet.advance(args.minutes, count)
    elapsed = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    rate = args.meters * args.minutes / elapsed
    result = {
        "benchmark": "fleet simulation",
        "machine": machine(),
        "meters": args.meters,
        "minutes": args.minutes,
        "build_s": round(build_s, 2),
        "simulate_s": round(elapsed, 2),
        "meter_minutes_per_s": round(rate),
        "readings_emitted": rows,
        "state_bytes_per_meter": round(fleet.state_nbytes() / args.meters, 1),
        "rss_after_build_bytes_per_meter": round((after_build - before) * 1024 / args.meters, 1),
        "peak_rss_bytes_per_meter": round((peak - before) * 1024 / args.meters, 1),
        "national_day_core_hours": round(NATIONAL_METERS * 1440 / rate / 3600, 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fleet.json").write_text(json.dumps(result, indent=2))
    print(f"fleet: {args.meters:,} meters × {args.minutes} min in {elapsed:.1f} s "
          f"→ {rate / 1e6:.1f} M meter-minutes/s (goal ≥ 20 M)")
    print(f"fleet state: {result['state_bytes_per_meter']:.0f} B/meter (goal ≤ 2048); "
          f"peak RSS {result['peak_rss_bytes_per_meter']:.0f} B/meter incl. window buffers")
    print(f"national fleet (80 M meters): one simulated day = "
          f"{result['national_day_core_hours']} core-hours")


if __name__ == "__main__":
    main()
