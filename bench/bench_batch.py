"""Batch work on Dask: a day's national settlement over a sharded MDMS on 1 and 2 workers.

Builds a deployment root of ``--shards`` shards holding ``--meters`` meters between them
(one day of 30-minute import, registers and export per meter, 20 retailers, 4 balancing
groups, as ``bench_mdms.py --only settlement``), then settles the day ``--runs`` times with
``smame.batch`` on a local cluster of 1 worker process and of 2 (one thread each), and once
in this process shard after shard without Dask. Prints the medians, ranges, the scaling
from 1 to 2 workers and the CPU-seconds of the workers; writes bench/results/batch.json.

    python bench/bench_batch.py                        # 400,000 meters in 4 shards
    python bench/bench_batch.py --meters 40000 --runs 2  # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from distributed import Client, LocalCluster

from bench_mdms import FIRST, synthetic_day
from machine import git_commit, machine
from smame.batch.combine import combine_settlements
from smame.batch.runner import run_per_shard
from smame.batch.tasks import settle_task
from smame.clock import SimulatedClock
from smame.mdms.sharded import ShardedMdms
from smame.mdms.shards import ShardMap
from smame.registers import REGISTER_MODULUS
from smame.store import service_point_id
from smame.store.layout import day_start

RESULTS = Path(__file__).parent / "results"
FIRST_METER = 300_000_001
RETAILERS = [f"R{k:02d}" for k in range(1, 21)]
GROUPS = [f"BG{k}" for k in range(1, 5)]


def say(text: str) -> None:
    print(text, flush=True)


def register(mdms, ids: np.ndarray) -> None:
    """Service points, meters and supply contracts of ``ids`` on 20 retailers."""
    reg, meters = mdms.registry, ids.size
    sps = [service_point_id(3, int(m)) for m in ids]
    reg.load("retailers", {"retailer_id": RETAILERS, "name": RETAILERS})
    reg.load("balancing_groups", {"bg_id": GROUPS, "name": GROUPS})
    reg.load("retailer_groups", {"retailer_id": RETAILERS,
                                 "bg_id": [GROUPS[k % 4] for k in range(20)],
                                 "valid_from": [FIRST] * 20,
                                 "valid_to": pa.array([None] * 20, pa.date32())})
    reg.load("service_points", {"sp_id": sps, "transformer_id": pa.array(
        ids // 10 % 100_000, pa.int32()), "voltage": pa.array([100] * meters, pa.int16()),
        "contract_amps": pa.array([30] * meters, pa.int16())})
    reg.load("meters", {"meter_id": ids, "sp_id": sps, "kind": ["electric"] * meters})
    reg.load("supply_contracts", {"sp_id": sps,
                                  "retailer_id": [RETAILERS[int(m) % 20] for m in ids],
                                  "valid_from": [FIRST] * meters,
                                  "valid_to": pa.array([None] * meters, pa.date32())})


def build(root: Path, meters: int, shards: int) -> int:
    """The deployment root with one day of every meter; returns the readings stored."""
    rng = np.random.default_rng(11)
    shard_map = ShardMap.even(shards, FIRST_METER, meters)
    clock = SimulatedClock(day_start(FIRST) + 2 * 86400)
    rows = 0
    with ShardedMdms.create(root, shard_map, clock=clock) as sharded:
        for shard in range(shards):
            lo, hi = shard_map.range_of(shard)
            ids = np.arange(lo, hi, dtype=np.int64)
            mdms = sharded.shard(shard)
            register(mdms, ids)
            table = synthetic_day(ids, FIRST, rng.integers(0, REGISTER_MODULUS, ids.size),
                                  rng.lognormal(0, 0.4, ids.size), rng, export=True)
            mdms.ingest(table)
            mdms.compact(FIRST)
            rows += table.num_rows
    return rows


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settle_on(workers: int, root: Path, runs: int) -> dict:
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        run_per_shard(client, root, settle_task, FIRST, 30)  # imports and pools warm
        timings, cpu = [], []
        for _ in range(runs):
            before = sum(client.run(_cpu_now).values())
            began = time.perf_counter()
            done = run_per_shard(client, root, settle_task, FIRST, 30)
            national = combine_settlements(done.in_order())
            timings.append(time.perf_counter() - began)
            cpu.append(sum(client.run(_cpu_now).values()) - before)
            assert not done.failures
            assert national.retailers.num_rows == 20 * 48
    order = sorted(timings)
    return {"workers": workers, "runs": runs, "s_median": round(order[runs // 2], 3),
            "s_range": [round(order[0], 3), round(order[-1], 3)],
            "worker_cpu_s_median": round(sorted(cpu)[runs // 2], 2)}


def settle_in_process(root: Path, shards: int) -> float:
    began = time.perf_counter()
    parts = [settle_task(str(ShardMap.directory(root, k)), FIRST, 30) for k in range(shards)]
    combine_settlements(parts)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=400_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="scratch directory")
    parser.add_argument("--out", type=Path, default=RESULTS / "batch.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smame-batch-", dir=args.work))
    load_before = os.getloadavg()
    try:
        began = time.perf_counter()
        rows = build(work / "root", args.meters, args.shards)
        say(f"built {args.shards} shards of {args.meters:,} meters ({rows:,} readings) in "
            f"{time.perf_counter() - began:.0f} s")
        in_process = settle_in_process(work / "root", args.shards)
        say(f"settlement shard after shard in one process, no Dask: {in_process:.2f} s")
        one = settle_on(1, work / "root", args.runs)
        two = settle_on(2, work / "root", args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scaling = one["s_median"] / two["s_median"]
    for r in (one, two):
        say(f"settlement of {args.meters:,} meters in {args.shards} shards on {r['workers']} "
            f"worker(s): median {r['s_median']:.2f} s ({r['s_range'][0]:.2f}–"
            f"{r['s_range'][1]:.2f}), worker CPU {r['worker_cpu_s_median']:.1f} s")
    say(f"scaling 1 → 2 workers: {scaling:.2f}×; load average before {load_before}, after "
        f"{os.getloadavg()}")
    results = {"machine": machine(), **git_commit(), "meters": args.meters,
               "shards": args.shards, "readings": rows, "in_process_s": round(in_process, 3),
               "one_worker": one, "two_workers": two, "scaling_1_to_2": round(scaling, 2),
               "load_average_before": load_before, "load_average_after": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
