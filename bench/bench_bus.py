"""Bus benchmark (issue 13): a fleet day through 2 head-end shards, NATS JetStream and
1 then 2 MDMS ingest workers, against the same data straight into ``Mdms.ingest``.

The head-end shards publish the fleet simulator's day (``smame.meter.simulate``, 30-minute
data: import, export and their registers, plus gas and water) as their collected output:
each is a process reading its half of the fleet's Parquet, row group by row group, into
``BusPublisher`` (split by MDMS shard, acknowledged by the bus before the next). The DLMS
decode cost of a push is measured apart by ``bench/bench_hes.py``. The fleet is 2 MDMS
shards whose meter ranges are those of the 2 head-end shards (the second also holds the
gas and water meters). With 1 ingest worker, one process (``smame bus ingest --shard 0
--shard 1``) owns both shards' subjects; with 2, each worker process owns one shard.
Every run starts its own nats-server and fresh MDMS stores, and VEE runs at ingest as in
production.

Passes, each timed from the first publish to the last commit (the stream empty):

* direct 1 / direct 2: the same readings straight into ``Mdms.ingest`` by 1 process (both
  shards in turn) or 2 processes (one shard each), no bus, as many readings per commit as
  a worker commits from one fetch of full messages (8 × 289,000);
* bus 1 / bus 2: 2 head-end shard processes → bus → 1 or 2 ingest worker processes.

The bus's share of the cost is ``1 - t_direct / t_bus`` with the same number of ingest
processes, in wall time and in CPU time (all processes of the pass, nats-server included;
CPU time moves less than wall time when other work shares the machine). Writes
bench/results/bus.json.

    python bench/bench_bus.py                      # 1,000,000 meters (long)
    python bench/bench_bus.py --meters 20000       # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nats
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from machine import git_commit, machine
from smame.bus.stream import STREAM
from smame.bus.wire import IPC_OVERHEAD_BYTES, ROW_BYTES
from smame.clock import JST
from smame.mdms.shards import ShardMap
from smame.meter import FleetConfig, OutputConfig
from smame.meter.simulate import simulate
from smame.servers.nats import MAX_PAYLOAD_BYTES, LocalNats

RESULTS = Path(__file__).parent / "results"
FIRST_METER = 100_000_001
HEAD_ENDS = 2
WORKER_FETCH = 8  # `smame bus ingest --fetch`: full messages committed at once


def say(text: str) -> None:
    print(text, flush=True)


def head_end_parts(fleet: Path) -> dict[int, list[Path]]:
    """Each head-end shard's Parquet files (``part-<shard>.parquet`` of each day)."""
    found: dict[int, list[Path]] = {}
    for path in sorted((fleet / "readings").rglob("part-*.parquet")):
        found.setdefault(int(path.stem.split("-")[1]), []).append(path)
    return found


def row_groups(paths: list[Path]):
    for path in paths:
        source = pq.ParquetFile(path)
        for k in range(source.num_row_groups):
            yield source.read_row_group(k)


def publish_part(url: str, root: Path, files: list[Path]) -> None:
    """One head-end shard: its collected day, batch by batch, onto the bus."""
    from smame.bus.publisher import BusPublisher

    with BusPublisher(url, ShardMap.load(root)) as publisher:
        for batch in row_groups(files):
            publisher(batch)
    say(json.dumps({"rows": publisher.rows, "messages": publisher.batches}))


def split_for_direct(fleet: Path, shard_map: ShardMap, out: Path) -> None:
    """The fleet's row groups split by MDMS shard into ``out/shard-K.parquet`` (untimed), so
    a direct ingest reads exactly its shard's rows, in batches of the same size."""
    out.mkdir()
    writers: dict[int, pq.ParquetWriter] = {}
    for files in head_end_parts(fleet).values():
        for batch in row_groups(files):
            for shard, part in shard_map.split(batch).items():
                if shard not in writers:
                    writers[shard] = pq.ParquetWriter(out / f"shard-{shard}.parquet",
                                                      part.schema)
                writers[shard].write_table(part)
    for writer in writers.values():
        writer.close()


def fleet_shard_map(fleet: Path, meters: int) -> ShardMap:
    """Two MDMS shards with the head-end shards' meter ranges; the second also owns the
    gas and water meters (ids above the electricity meters')."""
    highest = max(pc.max(batch.column("meter_id")).as_py()
                  for files in head_end_parts(fleet).values() for batch in row_groups(files))
    return ShardMap((FIRST_METER, FIRST_METER + meters // 2,
                     max(highest, FIRST_METER + meters - 1) + 1))


def commits(batches, rows: int):
    """``batches`` joined into tables of at least ``rows`` rows (the last may be smaller)."""
    held: list[pa.Table] = []
    for batch in batches:
        held.append(batch)
        if sum(t.num_rows for t in held) >= rows:
            yield pa.concat_tables(held)
            held = []
    if held:
        yield pa.concat_tables(held)


def ingest_direct(root: Path, shards: list[int], split: Path, commit_rows: int) -> None:
    """Row groups straight into the shards' MDMS, no bus, ``commit_rows`` per commit."""
    from smame.mdms import Mdms

    stored = 0
    for shard in shards:
        with Mdms(ShardMap.directory(root, shard)) as mdms:
            for batch in commits(row_groups([split / f"shard-{shard}.parquet"]), commit_rows):
                stored += mdms.ingest(batch, source_name="direct").stored
    say(json.dumps({"stored": stored}))


def script(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


def children_cpu_s() -> float:
    """CPU seconds of the benchmark's finished (waited-for) child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    """CPU seconds a running process has used (``/proc/PID/stat`` utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_direct(fleet: Path, workers: int, scratch: Path, shard_map: ShardMap,
               commit_rows: int) -> dict:
    root = scratch / f"direct-{workers}"
    shard_map.save(root)
    shards = list(range(shard_map.shards))
    groups = [shards] if workers == 1 else [[shard] for shard in shards]
    cpu = children_cpu_s()
    started = time.perf_counter()
    processes = [subprocess.Popen(script("--direct", str(fleet.parent / "split"), str(root),
                                         str(commit_rows),
                                         *[str(k) for k in group]),
                                  stdout=subprocess.PIPE, text=True) for group in groups]
    stored = sum(json.loads(process.communicate()[0].splitlines()[-1])["stored"]
                 for process in processes)
    return {"seconds": time.perf_counter() - started, "stored": stored,
            "cpu_s": children_cpu_s() - cpu}


async def stream_empty(url: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(STREAM)
        return int(info.state.messages)
    finally:
        await nc.close()


def run_bus(fleet: Path, workers: int, scratch: Path, shard_map: ShardMap) -> dict:
    root = scratch / f"bus-{workers}"
    shard_map.save(root)
    cpu = children_cpu_s()
    with LocalNats(scratch / f"nats-{workers}") as server:
        url = server.url
        assert url is not None
        shards = [["--shard", "0", "--shard", "1"]] if workers == 1 else [
            ["--shard", str(k)] for k in range(shard_map.shards)]
        ingest = [subprocess.Popen([sys.executable, "-m", "smame.cli", "bus", "ingest",
                                    "--nats", url, "--data", str(root), *shard_args],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                  for shard_args in shards]
        try:
            for process in ingest:  # each says when it is subscribed
                for line in process.stdout:
                    if line.startswith("ingest worker"):
                        break
            started = time.perf_counter()
            publishers = [subprocess.Popen(script("--publish", url, str(root),
                                                  *[str(f) for f in files]),
                                           stdout=subprocess.PIPE, text=True)
                          for files in head_end_parts(fleet).values()]
            published = [json.loads(p.communicate()[0].splitlines()[-1]) for p in publishers]
            published_at = time.perf_counter() - started
            while asyncio.run(stream_empty(url)):
                time.sleep(0.1)  # a benchmark's poll: the last commit is within 0.1 s of this
            seconds = time.perf_counter() - started
            assert server.pid is not None
            server_cpu = process_cpu_s(server.pid)
            totals = []
            for process in ingest:
                process.terminate()
                totals.append(json.loads(process.communicate(timeout=120)[0].splitlines()[-1]))
        finally:
            for process in ingest:
                if process.poll() is None:
                    process.kill()
    return {"seconds": seconds, "published_s": published_at,
            "cpu_s": children_cpu_s() - cpu, "nats_server_cpu_s": server_cpu,
            "published_rows": sum(p["rows"] for p in published),
            "messages": sum(p["messages"] for p in published),
            "stored": sum(t["stored"] for t in totals),
            "redelivered": sum(t["redelivered"] for t in totals)}


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def write_results(args: argparse.Namespace, rows: int, shard_map: ShardMap,
                  results: dict[str, list[dict]]) -> dict:
    """bench/results/bus.json with the passes so far (a long run keeps what it measured)."""
    figures = {name: spread([r["readings_per_s"] for r in runs])
               for name, runs in results.items()}
    per_cpu = {name: spread([r["readings_per_cpu_s"] for r in runs])
               for name, runs in results.items()}
    document = {
        "command": " ".join(["python", "bench/bench_bus.py", *sys.argv[1:]]),
        **git_commit(), "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "meters": args.meters, "readings": rows, "runs": args.runs,
        "head_end_shards": HEAD_ENDS, "mdms_shards": shard_map.shards,
        "mdms_shard_bounds": list(shard_map.bounds), "readings_per_s": figures,
        "readings_per_cpu_s": per_cpu,
        "passes": results,
    }
    if {"bus_1", "bus_2", "direct_1", "direct_2"} <= set(figures):
        document["scaling_1_to_2_workers"] = (figures["bus_2"]["median"]
                                              / figures["bus_1"]["median"])
        document["bus_share_of_cost"] = {
            str(n): 1 - figures[f"bus_{n}"]["median"] / figures[f"direct_{n}"]["median"]
            for n in (1, 2)}
        document["bus_share_of_cpu"] = {
            str(n): 1 - per_cpu[f"bus_{n}"]["median"] / per_cpu[f"direct_{n}"]["median"]
            for n in (1, 2)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bus.json").write_text(json.dumps(document, indent=2) + "\n")
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1_000_000, help="an even number")
    parser.add_argument("--runs", type=int, default=1, help="runs of each pass (spread)")
    parser.add_argument("--publish", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--direct", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        url, root, *files = args.publish
        publish_part(url, Path(root), [Path(f) for f in files])
        return
    if args.direct:
        split, root, commit_rows, *shards = args.direct
        ingest_direct(Path(root), [int(k) for k in shards], Path(split), int(commit_rows))
        return

    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        scratch = Path(tmp)
        say(f"simulating a {args.meters:,}-meter day as {HEAD_ENDS} head-end shards …")
        config = FleetConfig(meters=args.meters, start=datetime(2026, 7, 1, tzinfo=JST),
                             seed=5, first_meter_id=FIRST_METER, retention=None,
                             output=OutputConfig(five_minute_share=0.0))
        summary = simulate(config, 1, scratch / "fleet", -(-args.meters // HEAD_ENDS),
                           workers=HEAD_ENDS)
        rows = sum(pq.ParquetFile(p).metadata.num_rows
                   for files in head_end_parts(scratch / "fleet").values() for p in files)
        say(f"  {rows:,} readings in {summary['elapsed_s']} s (not timed below)")
        shard_map = fleet_shard_map(scratch / "fleet", args.meters)
        split_for_direct(scratch / "fleet", shard_map, scratch / "split")
        results: dict[str, list[dict]] = {}
        commit_rows = WORKER_FETCH * (MAX_PAYLOAD_BYTES - IPC_OVERHEAD_BYTES) // ROW_BYTES
        for run in range(args.runs):
            for name, job in (("direct_1", lambda s: run_direct(scratch / "fleet", 1, s,
                                                                  shard_map, commit_rows)),
                              ("direct_2", lambda s: run_direct(scratch / "fleet", 2, s,
                                                                  shard_map, commit_rows)),
                              ("bus_1", lambda s: run_bus(scratch / "fleet", 1, s, shard_map)),
                              ("bus_2", lambda s: run_bus(scratch / "fleet", 2, s, shard_map))):
                place = scratch / f"run-{run}-{name}"
                place.mkdir()
                outcome = job(place)
                outcome["readings_per_s"] = rows / outcome["seconds"]
                outcome["readings_per_cpu_s"] = rows / outcome["cpu_s"]
                if outcome["stored"] != rows:
                    raise SystemExit(f"{name}: stored {outcome['stored']} of {rows} readings")
                results.setdefault(name, []).append(outcome)
                write_results(args, rows, shard_map, results)
                say(f"  run {run + 1} {name:8s} {outcome['seconds']:8.1f} s  "
                    f"{outcome['readings_per_s'] / 1e6:6.2f} M readings/s  "
                    f"{outcome['cpu_s']:7.1f} CPU-s "
                    + (f"(nats-server {outcome['nats_server_cpu_s']:.1f})"
                       if "nats_server_cpu_s" in outcome else ""))
                os.sync()

    document = write_results(args, rows, shard_map, results)
    figures, scaling = document["readings_per_s"], document["scaling_1_to_2_workers"]
    share = document["bus_share_of_cost"]
    say(f"end to end via the bus: {figures['bus_1']['median'] / 1e6:.2f} M readings/s with "
        f"1 worker, {figures['bus_2']['median'] / 1e6:.2f} M with 2 (×{scaling:.2f})")
    cpu_share = document["bus_share_of_cpu"]
    say(f"bus share of the cost: {share['1']:.0%} (1 worker), {share['2']:.0%} (2 workers) "
        f"of wall time; {cpu_share['1']:.0%} and {cpu_share['2']:.0%} of CPU time")
    load = os.getloadavg()
    say(f"wrote {RESULTS / 'bus.json'}; load average {load[0]:.1f}")


if __name__ == "__main__":
    main()
