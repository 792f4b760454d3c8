"""MDMS benchmark: ingest speed, storage size, query latency and settlement time.

Prints its figures and writes bench/results/mdms.json, with the sizes it ran at:

* ingest: simulated fleet days (all channels) through ``Mdms.ingest`` (Arrow batch → IMD →
  VEE → durable measurement store), in readings/s, next to a raw DuckDB insert (and
  checkpoint) of the same Arrow tables in the same run, and their ratio; ``--ingest-runs``
  runs (fresh stores each), reported as median and range, with the CPU seconds each side
  used (other work on the machine moves wall time, much less CPU time);
* storage: bytes per stored 30-minute reading on simulated 30-minute fleet data
  (channels 140/240 and their registers 100/200), after compaction (and as ingested);
* query: one meter's year of 30-minute data (p50/p99) from ``--query-meters`` ×
  ``--query-days`` of synthetic 30-minute data, compacted by month;
* settlement: one day's sums for all retailers and balancing groups with
  ``--settle-meters`` meters.

    python bench/bench_mdms.py                       # default sizes (several minutes)
    python bench/bench_mdms.py --meters 2000 --days 2 --query-meters 2000 --query-days 30 \
        --settle-meters 20000                        # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from machine import git_commit, machine
from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.mdms.seed import seed_registry
from smame.meter import FleetConfig, OutputConfig
from smame.meter.simulate import simulate
from smame.readings import make_batch
from smame.registers import REGISTER_MODULUS
from smame.store import MEAS, service_point_id
from smame.store.layout import day_start

JST = timezone(timedelta(hours=9))
RESULTS = Path(__file__).parent / "results"
FIRST = date(2026, 7, 1)
GOALS = {"ingest_readings_per_s": 5_000_000, "ingest_vs_raw_duckdb": 0.3,
         "bytes_per_30min_reading": 1.0, "meter_year_p99_ms": 20.0, "settlement_day_s": 2.0}


def say(text: str) -> None:
    print(text, flush=True)


def simulated_days(meters: int, days: int, out: Path, five_minute_share: float = 0.13,
                   joint: bool = True) -> list[pa.Table]:
    config = FleetConfig(meters=meters, start=datetime(2026, 7, 1, tzinfo=JST), seed=1,
                         retention=None,
                         output=OutputConfig(five_minute_share=five_minute_share, joint=joint))
    simulate(config, days, out)
    return [pa.concat_tables([pq.read_table(p) for p in sorted(d.glob("*.parquet"))])
            .combine_chunks() for d in sorted((out / "readings").glob("date=*"))]


def warm_up(table: pa.Table, work: Path) -> None:
    """Ingest a slice once in a throwaway store and DuckDB: thread pools, libraries and
    allocator warm, as in a running service; nothing of it is measured."""
    sample = table.slice(0, min(table.num_rows, 500_000))
    clock = SimulatedClock(day_start(FIRST) + 30 * 86400)
    with Mdms(work / "warm", clock=clock) as mdms:
        mdms.ingest(sample)
    con = duckdb.connect(str(work / "warm.duckdb"))
    con.register("batch", sample)
    con.execute("CREATE TABLE t AS SELECT * FROM batch")
    con.close()


def cpu_seconds() -> float:
    """CPU time of this process so far (all its threads, DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fleet_table(fleet: Path, name: str) -> pa.Table | None:
    """``name.parquet`` or the parts ``name/*.parquet`` of a simulation directory."""
    if (fleet / f"{name}.parquet").exists():
        return pq.read_table(fleet / f"{name}.parquet")
    parts = sorted((fleet / name).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None


def seed(mdms: Mdms, fleet: Path | None) -> None:
    """Register the simulated fleet (meters, and the gas and water meters they relay) and
    store its meter events, as a utility's MDMS would have them, so that the registry
    checks (physical bounds, registration, installation dates) and the outage spans run."""
    if fleet is None:
        return
    seed_registry(mdms.registry, fleet_table(fleet, "meters"), fleet_table(fleet, "joint_meters"),
                  FIRST)
    for path in sorted((fleet / "events").glob("date=*/*.parquet")):
        mdms.ingest_events(pq.read_table(path))


def ingest_run(tables: list[pa.Table], work: Path, fleet: Path | None = None
               ) -> dict:
    """One run: every table through Mdms.ingest, then the same table raw into DuckDB."""
    clock = SimulatedClock(day_start(FIRST))
    mdms = Mdms(work / "store", clock=clock)
    seed(mdms, fleet)
    raw = duckdb.connect(str(work / "raw.duckdb"))
    raw.execute("CREATE TABLE readings (meter_id BIGINT, interval_end TIMESTAMPTZ, "
                "channel USMALLINT, value BIGINT, quality USMALLINT, source UTINYINT)")
    ours = theirs = ours_cpu = theirs_cpu = 0.0
    rows = suspect = 0
    load = os.getloadavg()[0]
    for day, table in enumerate(tables, start=1):
        clock.set(day_start(FIRST) + day * 86400 + 3600)  # the day arrives an hour after it ends
        started, cpu = time.perf_counter(), cpu_seconds()
        suspect += mdms.ingest(table, source_name="bench").suspect
        ours += time.perf_counter() - started
        ours_cpu += cpu_seconds() - cpu
        started, cpu = time.perf_counter(), cpu_seconds()
        raw.register("batch", table)
        raw.execute("INSERT INTO readings SELECT * FROM batch")
        raw.execute("CHECKPOINT")
        raw.unregister("batch")
        theirs += time.perf_counter() - started
        theirs_cpu += cpu_seconds() - cpu
        rows += table.num_rows
    raw.close()
    stored = mdms.store.stored_bytes()
    mdms.close()
    shutil.rmtree(work, ignore_errors=True)
    return {"readings": rows, "ingest_s": ours, "ingest_cpu_s": ours_cpu, "raw_duckdb_s": theirs,
            "raw_duckdb_cpu_s": theirs_cpu, "stored_bytes": stored, "suspect": suspect,
            "load_average": load}


def bench_ingest(meters: int, days: int, runs: int, work: Path) -> dict:
    tables = simulated_days(meters, days, work / "fleet")
    warm_up(tables[0], work)
    done = [ingest_run(tables, work / f"run{k}", work / "fleet") for k in range(runs)]
    rows = done[0]["readings"]
    rates = [rows / d["ingest_s"] for d in done]
    raw_rates = [rows / d["raw_duckdb_s"] for d in done]
    ratios = [d["raw_duckdb_s"] / d["ingest_s"] for d in done]  # each within one run
    middle = sorted(range(runs), key=lambda k: rates[k])[runs // 2]  # the median run
    pick = done[middle]
    result = {
        "meters": meters, "days": days, "readings": rows, "runs": runs,
        "ingest_s": round(pick["ingest_s"], 3), "ingest_readings_per_s": round(rates[middle]),
        "raw_duckdb_s": round(pick["raw_duckdb_s"], 3),
        "raw_duckdb_readings_per_s": round(raw_rates[middle]),
        "ingest_vs_raw_duckdb": round(ratios[middle], 3),
        "ingest_readings_per_s_range": [round(min(rates)), round(max(rates))],
        "raw_duckdb_readings_per_s_range": [round(min(raw_rates)), round(max(raw_rates))],
        "ingest_vs_raw_duckdb_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "ingest_cpu_s": round(pick["ingest_cpu_s"], 3),
        "ingest_readings_per_cpu_s": round(rows / pick["ingest_cpu_s"]),
        "raw_duckdb_cpu_s": round(pick["raw_duckdb_cpu_s"], 3),
        "stored_bytes_per_reading_imd_and_meas": round(pick["stored_bytes"] / rows, 3),
        "suspect_readings": pick["suspect"],
        "per_run": [{"readings_per_s": round(rates[k]), "ingest_cpu_s": round(d["ingest_cpu_s"], 3),
                     "vs_raw_duckdb": round(ratios[k], 3), "load_average": d["load_average"]}
                    for k, d in enumerate(done)],
    }
    say(f"ingest: {rows:,} readings of {meters:,} meters × {days} day(s), {runs} run(s): "
        f"{rates[middle] / 1e6:.2f} M readings/s end to end "
        f"({min(rates) / 1e6:.2f}–{max(rates) / 1e6:.2f}), raw DuckDB insert "
        f"{raw_rates[middle] / 1e6:.2f} M/s "
        f"({min(raw_rates) / 1e6:.2f}–{max(raw_rates) / 1e6:.2f}), ratio "
        f"{ratios[middle]:.2f} ({min(ratios):.2f}–{max(ratios):.2f}); "
        f"ingest CPU {result['ingest_cpu_s']:.2f} s "
        f"({result['ingest_readings_per_cpu_s'] / 1e6:.2f} M readings per CPU-second), "
        f"raw DuckDB CPU {result['raw_duckdb_cpu_s']:.2f} s; "
        f"CPU per run {', '.join(format(d['ingest_cpu_s'], '.2f') for d in done)} s; "
        f"load average {', '.join(format(d['load_average'], '.1f') for d in done)}; "
        f"{pick['suspect']:,} readings suspect")
    return result


def bench_bytes(meters: int, days: int, work: Path) -> dict:
    tables = simulated_days(meters, days, work / "fleet30", five_minute_share=0.0, joint=False)
    clock = SimulatedClock(day_start(FIRST) + (days + 1) * 86400)
    with Mdms(work / "store30", clock=clock) as mdms:
        for table in tables:
            mdms.ingest(table)
        ingested = mdms.store.stored_bytes(MEAS), mdms.store.stored_bytes()
        mdms.compact(FIRST, FIRST + timedelta(days=days - 1))
        rows = sum(t.num_rows for t in tables)
        meas = mdms.store.stored_bytes(MEAS)
        total = mdms.store.stored_bytes()
    channels = sorted({int(c) for t in tables for c in np.unique(t.column("channel"))})
    result = {"meters": meters, "days": days, "readings": rows, "channels": channels,
              "bytes_per_30min_reading": round(meas / rows, 3),
              "bytes_per_30min_reading_imd_and_meas": round(total / rows, 3),
              "before_compaction_bytes_per_30min_reading": round(ingested[0] / rows, 3),
              "before_compaction_bytes_per_30min_reading_imd_and_meas": round(
                  ingested[1] / rows, 3),
              "bytes_per_meter_slot_all_four_channels": round(meas / (meters * days * 48), 3)}
    say(f"storage: {result['bytes_per_30min_reading']:.3f} bytes per stored 30-minute reading "
        f"(validated store; {result['bytes_per_30min_reading_imd_and_meas']:.3f} with the raw "
        f"IMD copy) over {rows:,} readings, channels {channels}, after compaction; as "
        f"ingested {result['before_compaction_bytes_per_30min_reading']:.3f} "
        f"({result['before_compaction_bytes_per_30min_reading_imd_and_meas']:.3f})")
    return result


def synthetic_day(meter_ids: np.ndarray, day: date, registers: np.ndarray, scale: np.ndarray,
                  rng: np.random.Generator, export: bool) -> pa.Table:
    """30-minute import values (and registers), optionally export: Poisson around a
    household shape scaled per meter; registers advance exactly by the values."""
    hours = (np.arange(48) + 0.5) / 2
    shape = 6 + 10 * np.exp(-((hours - 7.5) ** 2) / 2) + 18 * np.exp(-((hours - 19.5) ** 2) / 5)
    values = rng.poisson(shape[None, :] * scale[:, None]).astype(np.int64)
    regs = np.mod(registers[:, None] + np.cumsum(values, axis=1), REGISTER_MODULUS)
    registers[:] = regs[:, -1]
    ends = day_start(day) + 1800 * np.arange(1, 49)
    ids = np.repeat(meter_ids, 48)
    times = np.tile(ends, meter_ids.size)
    parts = [make_batch(ids, times, 140, values.ravel()), make_batch(ids, times, 100, regs.ravel())]
    if export:
        sun = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None) * 30
        pv = (rng.random(meter_ids.size) < 0.15)[:, None]
        parts.append(make_batch(ids, times, 240, np.where(pv, np.rint(sun), 0).astype(np.int64)
                                .ravel()))
    return pa.concat_tables(parts).combine_chunks()


def bench_queries(meters: int, days: int, samples: int, work: Path) -> dict:
    rng = np.random.default_rng(7)
    ids = np.arange(200_000_001, 200_000_001 + meters, dtype=np.int64)
    registers = rng.integers(0, REGISTER_MODULUS, meters)
    scale = rng.lognormal(0, 0.4, meters)
    clock = SimulatedClock(day_start(FIRST) + (days + 1) * 86400)
    started = time.perf_counter()
    rows = 0
    with Mdms(work / "query", clock=clock) as mdms:
        month_first = FIRST
        for offset in range(days):
            day = FIRST + timedelta(days=offset)
            table = synthetic_day(ids, day, registers, scale, rng, export=False)
            rows += table.num_rows
            mdms.ingest(table)
            last_of_month = (day + timedelta(days=1)).month != day.month
            if last_of_month or offset == days - 1:
                mdms.compact(month_first, day, month=True)
                month_first = day + timedelta(days=1)
        loaded = time.perf_counter() - started
        end = day_start(FIRST) + days * 86400
        chosen = random.Random(3).sample(list(ids), min(samples, meters))
        # As in a running service, every file's footer has been parsed once (a month is
        # several files of meter ranges; the first query to touch one would parse it).
        files = mdms.warm()
        latencies = []
        for meter in chosen:
            began = time.perf_counter()
            table = mdms.readings(int(meter), day_start(FIRST) + 1, end, channels=[140])
            latencies.append(time.perf_counter() - began)
            assert table.num_rows == days * 48
        stored = mdms.store.stored_bytes(MEAS)
    latencies_ms = np.array(latencies) * 1000
    result = {"meters": meters, "days": days, "readings_stored": rows, "samples": len(chosen),
              "load_s": round(loaded, 1), "meas_bytes": stored, "meas_files": files,
              "meter_year_p50_ms": round(float(np.percentile(latencies_ms, 50)), 2),
              "meter_year_p99_ms": round(float(np.percentile(latencies_ms, 99)), 2)}
    say(f"query: one meter's {days} days of 30-minute data among {meters:,} meters "
        f"({rows:,} stored readings): p50 {result['meter_year_p50_ms']:.1f} ms, "
        f"p99 {result['meter_year_p99_ms']:.1f} ms")
    return result


def bench_settlement(meters: int, runs: int, work: Path) -> dict:
    rng = np.random.default_rng(11)
    ids = np.arange(300_000_001, 300_000_001 + meters, dtype=np.int64)
    clock = SimulatedClock(day_start(FIRST) + 2 * 86400)
    with Mdms(work / "settle", clock=clock) as mdms:
        reg = mdms.registry
        sps = [service_point_id(3, int(m)) for m in ids]
        retailers = [f"R{k:02d}" for k in range(1, 21)]
        groups = [f"BG{k}" for k in range(1, 5)]
        nulls = pa.array([None] * meters, pa.date32())
        reg.load("retailers", {"retailer_id": retailers, "name": retailers})
        reg.load("balancing_groups", {"bg_id": groups, "name": groups})
        reg.load("retailer_groups", {"retailer_id": retailers,
                                     "bg_id": [groups[k % 4] for k in range(20)],
                                     "valid_from": [FIRST] * 20,
                                     "valid_to": pa.array([None] * 20, pa.date32())})
        reg.load("service_points", {"sp_id": sps, "transformer_id": pa.array(
            ids // 10 % 100_000, pa.int32()), "voltage": pa.array([100] * meters, pa.int16()),
            "contract_amps": pa.array([30] * meters, pa.int16())})
        reg.load("meters", {"meter_id": ids, "sp_id": sps, "kind": ["electric"] * meters})
        reg.load("supply_contracts", {"sp_id": sps,
                                      "retailer_id": [retailers[int(m) % 20] for m in ids],
                                      "valid_from": [FIRST] * meters, "valid_to": nulls})
        table = synthetic_day(ids, FIRST, rng.integers(0, REGISTER_MODULUS, meters),
                              rng.lognormal(0, 0.4, meters), rng, export=True)
        mdms.ingest(table)
        mdms.compact(FIRST)
        timings = []
        for _ in range(runs):
            began = time.perf_counter()
            sums = mdms.settle(FIRST)
            timings.append(time.perf_counter() - began)
        assert sums.retailers.num_rows == 20 * 48
    result = {"meters": meters, "retailers": 20, "balancing_groups": 4, "runs": runs,
              "readings": table.num_rows,
              "settlement_day_s_p50": round(float(np.median(timings)), 3),
              "settlement_day_s_max": round(max(timings), 3)}
    say(f"settlement: one day, {meters:,} meters, 20 retailers, 4 balancing groups: "
        f"median {result['settlement_day_s_p50']:.3f} s, "
        f"max {result['settlement_day_s_max']:.3f} s")
    return result


PARTS = ("ingest", "storage", "settlement", "query")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=10_000, help="ingest/storage fleet size")
    parser.add_argument("--days", type=int, default=3, help="ingest/storage days")
    parser.add_argument("--ingest-runs", type=int, default=3,
                        help="ingest runs (fresh stores each); the median is reported")
    parser.add_argument("--query-meters", type=int, default=100_000)
    parser.add_argument("--query-days", type=int, default=365)
    parser.add_argument("--query-samples", type=int, default=200)
    parser.add_argument("--settle-meters", type=int, default=100_000)
    parser.add_argument("--settle-runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="scratch directory")
    parser.add_argument("--out", type=Path, default=RESULTS / "mdms.json")
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only this part (repeatable); default all")
    args = parser.parse_args()
    runs = {
        "ingest": lambda: bench_ingest(args.meters, args.days, args.ingest_runs, work),
        "storage": lambda: bench_bytes(args.meters, args.days, work),
        "settlement": lambda: bench_settlement(args.settle_meters, args.settle_runs, work),
        "query": lambda: bench_queries(args.query_meters, args.query_days, args.query_samples,
                                       work),
    }
    work = Path(tempfile.mkdtemp(prefix="smame-bench-", dir=args.work))
    try:
        results = {"machine": machine(), "commit": git_commit(), "goals": GOALS}
        for part in args.only or PARTS:
            results[part] = runs[part]()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
