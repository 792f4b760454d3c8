"""The measurement lake: the MDMS's own store against a Delta Lake table (issue 13, item 4).

The same simulated days are written (a) by ``Mdms.ingest`` — IMD, VEE and measurements, a
catalog version per batch — and as IMD only (``validate=False``), and (b) as a Delta table
(``deltalake``) partitioned by JST day and meter range, appended batch by batch (each append
a Delta version); for the point query also a Delta table partitioned by month and meter
range. Printed and written to bench/results/lake.json:

* write: readings/s and CPU-seconds of each writer over ``--meters`` × ``--days`` of
  simulated fleet data (all channels), ``--runs`` runs on fresh stores, median and range;
* storage: bytes per stored reading of each, as written and compacted (the store's month
  compaction; Delta's ``optimize.compact``, which merges files inside a partition only, or
  for the month partitions ``optimize.z_order`` by meter);
* query: one meter's ``--query-days`` of 30-minute import among ``--query-meters`` meters
  (``bench_mdms.py --only query``'s synthetic days), p50/p99 over ``--query-samples``;
* concurrent: a reader thread asking one meter's data over and over while the writer
  appends days: queries done, failed, and their p50/p99.

    python bench/bench_lake.py                 # default sizes (about 10 minutes here)
    python bench/bench_lake.py --meters 500 --days 1 --query-meters 200 --query-days 30 \
        --runs 1                               # a quick run
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, WriterProperties, write_deltalake

from bench_mdms import FIRST, cpu_seconds, simulated_days, synthetic_day
from machine import git_commit, machine
from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.mdms.shards import ShardMap
from smame.registers import REGISTER_MODULUS
from smame.store import MEAS
from smame.store.layout import day_start

RESULTS = Path(__file__).parent / "results"
JST_S = 9 * 3600
RANGES = 4  # meter ranges (shards) of the Delta partitioning
ROW_GROUP = 16_384  # rows per Parquet row group, as the store's compacted files
WRITER = WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP)


def say(text: str) -> None:
    print(text, flush=True)


def delta_rows(table: pa.Table, shard_map: ShardMap, period: str = "day") -> pa.Table:
    """A reading batch as Delta rows: partition columns ``period`` (the JST day, ISO, or
    with ``period="month"`` its month) and ``meter_range``; unsigned codes widened (Delta
    has no unsigned integers), interval ends in µs (Delta's timestamp); sorted by meter,
    channel and time like the store's files, so that Parquet statistics prune a meter's
    row groups."""
    table = table.sort_by([("meter_id", "ascending"), ("channel", "ascending"),
                           ("interval_end", "ascending")])
    ends = table.column("interval_end").cast(pa.int64()).to_numpy()
    days = (ends - 1 + JST_S) // 86400  # an end at 00:00 JST is the day before's
    day_text = pa.array(_period_text(days, period))
    return pa.table({
        "meter_id": table.column("meter_id"),
        "interval_end": table.column("interval_end").cast(pa.timestamp("us", tz="UTC")),
        "channel": table.column("channel").cast(pa.int32()),
        "value": table.column("value"),
        "quality": table.column("quality").cast(pa.int32()),
        "source": table.column("source").cast(pa.int16()),
        "period": day_text,
        "meter_range": pa.array(shard_map.shard_of(table.column("meter_id").to_numpy()),
                                pa.int32()),
    })


def _period_text(days: np.ndarray, period: str) -> list[str]:
    """Partition values of JST day numbers (days since 1970-01-01): ISO day or month."""
    text = days.astype("datetime64[D]").astype(str)
    return [t[:7] for t in text] if period == "month" else list(text)


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class DeltaLake:
    """The Delta table writer and point reader of the benchmark."""

    def __init__(self, path: Path, shard_map: ShardMap, period: str = "day") -> None:
        self.path, self.shard_map, self.period = path, shard_map, period
        self._table: DeltaTable | None = None

    def append(self, batch: pa.Table) -> None:
        write_deltalake(self.path, delta_rows(batch, self.shard_map, self.period),
                        partition_by=["period", "meter_range"], mode="append",
                        writer_properties=WRITER)

    def open(self) -> None:
        """Load the table's newest snapshot (what a reader does before it queries)."""
        if self._table is None:
            self._table = DeltaTable(self.path)
        else:
            self._table.update_incremental()
        self._dataset = self._table.to_pyarrow_dataset()

    def meter(self, meter_id: int, lo: int, hi: int, channel: int) -> pa.Table:
        r = int(self.shard_map.shard_of([meter_id])[0])
        first, last = ((t - 1 + JST_S) // 86400 for t in (lo, hi))
        periods = pa.array(sorted(set(_period_text(np.arange(first, last + 1), self.period))))
        where = ((pc.field("meter_range") == r) & pc.field("period").isin(periods)
                 & (pc.field("meter_id") == meter_id) & (pc.field("channel") == channel)
                 & (pc.field("interval_end") >= pa.scalar(lo * 1_000_000, pa.timestamp(
                     "us", tz="UTC"))) & (pc.field("interval_end") <= pa.scalar(
                         hi * 1_000_000, pa.timestamp("us", tz="UTC"))))
        return self._dataset.to_table(filter=where)

    def compact(self) -> None:
        """Merge each partition's files; a month's merged days are Z-ordered by meter (its
        days' files are each sorted by meter, their concatenation is not), so that row-group
        statistics prune a meter's rows again."""
        optimize = DeltaTable(self.path).optimize
        if self.period == "month":
            optimize.z_order(["meter_id"], writer_properties=WRITER)
        else:
            optimize.compact(writer_properties=WRITER)
        DeltaTable(self.path).vacuum(retention_hours=0, enforce_retention_duration=False,
                                     dry_run=False)


def write_run(tables: list[pa.Table], shard_map: ShardMap, work: Path) -> dict:
    """Every table through each writer, on fresh stores; seconds and CPU-seconds."""
    rows = sum(t.num_rows for t in tables)
    out: dict = {"readings": rows}
    clock = SimulatedClock(day_start(FIRST) + (len(tables) + 1) * 86400)
    for name, validate in (("mdms_vee", True), ("mdms_imd", False)):
        began, cpu = time.perf_counter(), cpu_seconds()
        with Mdms(work / name, clock=clock) as mdms:
            for table in tables:
                mdms.ingest(table, source_name="bench", validate=validate)
            out[name] = {"s": time.perf_counter() - began, "cpu_s": cpu_seconds() - cpu,
                         "bytes": mdms.store.stored_bytes()}
            if validate:
                out[name]["meas_bytes"] = mdms.store.stored_bytes(MEAS)
    lake = DeltaLake(work / "delta", shard_map)
    began, cpu = time.perf_counter(), cpu_seconds()
    for table in tables:
        lake.append(table)
    out["delta"] = {"s": time.perf_counter() - began, "cpu_s": cpu_seconds() - cpu,
                    "bytes": directory_bytes(work / "delta"),
                    "versions": DeltaTable(work / "delta").version() + 1}
    for name in ("mdms_vee", "mdms_imd", "delta"):
        shutil.rmtree(work / name, ignore_errors=True)
    return out


def bench_write(meters: int, days: int, runs: int, work: Path) -> dict:
    tables = simulated_days(meters, days, work / "fleet")
    ids = np.unique(np.concatenate([t.column("meter_id").to_numpy() for t in tables]))
    shard_map = ShardMap((int(ids[0]), *ShardMap.even(RANGES, int(ids[0]),
                                                      int(ids[-1]) - int(ids[0]) + 1
                                                      ).bounds[1:]))
    done = [write_run(tables, shard_map, work / f"run{k}") for k in range(runs)]
    rows = done[0]["readings"]
    result: dict = {"meters": meters, "days": days, "readings": rows, "runs": runs}
    for name in ("mdms_vee", "mdms_imd", "delta"):
        rates = sorted(rows / d[name]["s"] for d in done)
        cpus = sorted(d[name]["cpu_s"] for d in done)
        result[name] = {"readings_per_s": round(rates[runs // 2]),
                        "readings_per_s_range": [round(rates[0]), round(rates[-1])],
                        "cpu_s": round(cpus[runs // 2], 2),
                        "cpu_s_range": [round(cpus[0], 2), round(cpus[-1], 2)],
                        "readings_per_cpu_s": round(rows / cpus[runs // 2]),
                        "bytes_per_reading": round(done[0][name]["bytes"] / rows, 3)}
        say(f"write {name}: {rates[runs // 2] / 1e6:.2f} M readings/s "
            f"({rates[0] / 1e6:.2f}–{rates[-1] / 1e6:.2f}), CPU {cpus[runs // 2]:.1f} s "
            f"({cpus[0]:.1f}–{cpus[-1]:.1f}), {result[name]['bytes_per_reading']:.2f} bytes "
            "per reading as written")
    result["delta"]["versions"] = done[0]["delta"]["versions"]
    return result


def _load(meters: int, days: int, work: Path
          ) -> tuple[Mdms, dict[str, DeltaLake], np.ndarray, dict[str, float]]:
    rng = np.random.default_rng(7)
    ids = np.arange(200_000_001, 200_000_001 + meters, dtype=np.int64)
    registers = rng.integers(0, REGISTER_MODULUS, meters)
    scale = rng.lognormal(0, 0.4, meters)
    clock = SimulatedClock(day_start(FIRST) + (days + 1) * 86400)
    mdms = Mdms(work / "query-mdms", clock=clock)
    ranges = ShardMap.even(RANGES, int(ids[0]), meters)
    lakes = {"delta": DeltaLake(work / "query-delta", ranges),
             "delta_month": DeltaLake(work / "query-delta-month", ranges, "month")}
    seconds = dict.fromkeys(("mdms", *lakes), 0.0)
    month_first = FIRST
    for offset in range(days):
        day = FIRST + timedelta(days=offset)
        table = synthetic_day(ids, day, registers, scale, rng, export=False)
        began = time.perf_counter()
        mdms.ingest(table)
        last_of_month = (day + timedelta(days=1)).month != day.month
        if last_of_month or offset == days - 1:
            mdms.compact(month_first, day, month=True)
            month_first = day + timedelta(days=1)
        seconds["mdms"] += time.perf_counter() - began
        for name, lake in lakes.items():
            began = time.perf_counter()
            lake.append(table)
            seconds[name] += time.perf_counter() - began
    return mdms, lakes, ids, seconds


def _percentiles(latencies: list[float]) -> dict:
    ms = np.array(latencies) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def bench_query(meters: int, days: int, samples: int, rounds: int, work: Path) -> dict:
    mdms, lakes, ids, seconds = _load(meters, days, work)
    stored = meters * days * 96
    result: dict = {"meters": meters, "days": days, "samples": samples, "rounds": rounds,
                    "mdms_load_s": round(seconds["mdms"], 1),
                    "mdms_meas_bytes_per_reading": round(
                        mdms.store.stored_bytes(MEAS) / stored, 3)}
    for name, lake in lakes.items():
        began = time.perf_counter()
        lake.compact()
        result[f"{name}_load_s"] = round(seconds[name], 1)
        result[f"{name}_compact_s"] = round(time.perf_counter() - began, 1)
        result[f"{name}_bytes_per_reading"] = round(directory_bytes(lake.path) / stored, 3)
        result[f"{name}_files"] = len(DeltaTable(lake.path).file_uris())
        lake.open()
    lo, hi = day_start(FIRST) + 1, day_start(FIRST) + days * 86400
    mdms.warm()
    asks = {"mdms": lambda m: mdms.readings(m, lo, hi, channels=[140]),
            **{name: (lambda m, lake=lake: lake.meter(m, lo, hi, 140))
               for name, lake in lakes.items()}}
    for name, ask in asks.items():
        per_round = []
        for k in range(rounds):
            latencies = []
            for meter in random.Random(3 + k).sample(list(ids.tolist()), min(samples, meters)):
                t0 = time.perf_counter()
                table = ask(int(meter))
                latencies.append(time.perf_counter() - t0)
                assert table.num_rows == days * 48, (name, table.num_rows)
            per_round.append(_percentiles(latencies))
        result[name] = {"rounds": per_round,
                        "p50_ms": sorted(r["p50_ms"] for r in per_round)[rounds // 2],
                        "p99_ms": sorted(r["p99_ms"] for r in per_round)[rounds // 2]}
        rounds_text = ", ".join(f"{r['p50_ms']:.1f}/{r['p99_ms']:.1f}" for r in per_round)
        say(f"query {name}: one meter's {days} days among {meters:,} meters: p50 "
            f"{result[name]['p50_ms']:.1f} ms, p99 {result[name]['p99_ms']:.1f} ms "
            f"(rounds p50/p99: {rounds_text})")
    mdms.close()
    return result


def bench_concurrent(meters: int, days: int, work: Path) -> dict:
    """A reader thread querying one meter while the writer appends ``days`` days."""
    rng = np.random.default_rng(5)
    ids = np.arange(200_000_001, 200_000_001 + meters, dtype=np.int64)
    registers = rng.integers(0, REGISTER_MODULUS, meters)
    scale = rng.lognormal(0, 0.4, meters)
    tables = [synthetic_day(ids, FIRST + timedelta(days=k), registers, scale, rng, False)
              for k in range(days)]
    clock = SimulatedClock(day_start(FIRST) + (days + 1) * 86400)
    mdms = Mdms(work / "conc-mdms", clock=clock)
    lake = DeltaLake(work / "conc-delta", ShardMap.even(RANGES, int(ids[0]), meters))
    mdms.ingest(tables[0])
    lake.append(tables[0])
    lo, hi, meter = day_start(FIRST) + 1, day_start(FIRST) + days * 86400, int(ids[meters // 2])

    def delta_read() -> pa.Table:
        lake.open()
        return lake.meter(meter, lo, hi, 140)

    result: dict = {"meters": meters, "days": days}
    for name, write, read in (("mdms", mdms.ingest, lambda: mdms.readings(meter, lo, hi,
                                                                          channels=[140])),
                              ("delta", lake.append, delta_read)):
        stop = threading.Event()
        latencies: list[float] = []
        errors: list[str] = []
        seen: list[int] = []

        def reader(ask=read, lat=latencies, err=errors, rows=seen, halt=stop) -> None:
            while not halt.is_set():
                t0 = time.perf_counter()
                try:
                    rows.append(ask().num_rows)
                    lat.append(time.perf_counter() - t0)
                except Exception as exc:
                    err.append(f"{type(exc).__name__}: {exc}")
        thread = threading.Thread(target=reader)
        thread.start()
        began = time.perf_counter()
        for table in tables[1:]:
            write(table)
        written_s = time.perf_counter() - began
        stop.set()
        thread.join()
        monotone = all(b >= a for a, b in itertools.pairwise(seen))
        result[name] = {"write_s": round(written_s, 2), "queries": len(latencies),
                        "errors": len(errors), "first_error": errors[0] if errors else None,
                        "rows_never_shrank": monotone, **_percentiles(latencies or [0.0])}
        say(f"concurrent {name}: {len(latencies)} reads while writing {days - 1} days in "
            f"{written_s:.1f} s, {len(errors)} failed, p50 {result[name]['p50_ms']:.1f} ms, "
            f"p99 {result[name]['p99_ms']:.1f} ms, rows never shrank: {monotone}")
    mdms.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=2_000, help="write fleet size")
    parser.add_argument("--days", type=int, default=2, help="write days")
    parser.add_argument("--runs", type=int, default=3, help="write runs (fresh stores each)")
    parser.add_argument("--query-meters", type=int, default=2_000)
    parser.add_argument("--query-days", type=int, default=365)
    parser.add_argument("--query-samples", type=int, default=100)
    parser.add_argument("--query-rounds", type=int, default=3)
    parser.add_argument("--concurrent-meters", type=int, default=20_000)
    parser.add_argument("--concurrent-days", type=int, default=6)
    parser.add_argument("--work", type=Path, default=None, help="scratch directory")
    parser.add_argument("--out", type=Path, default=RESULTS / "lake.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smame-lake-", dir=args.work))
    load_before, cpu_before, began = os.getloadavg(), cpu_seconds(), time.perf_counter()
    try:
        results = {"machine": machine(), **git_commit(), "load_average_before": load_before,
                   "write": bench_write(args.meters, args.days, args.runs, work),
                   "query": bench_query(args.query_meters, args.query_days,
                                        args.query_samples, args.query_rounds, work),
                   "concurrent": bench_concurrent(args.concurrent_meters,
                                                  args.concurrent_days, work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_average_after"] = os.getloadavg()
    results["cpu_s"] = round(cpu_seconds() - cpu_before, 1)
    results["wall_s"] = round(time.perf_counter() - began, 1)
    say(f"load average before {load_before}, after {results['load_average_after']}; "
        f"{results['cpu_s']} CPU-s in {results['wall_s']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
