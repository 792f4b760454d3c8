"""Head-end figures (issue 3): push ingest, pull sessions, command fan-out.

* push ingest: authenticated, deciphered and decoded interval notifications per second
  into reading batches, one core (pushes built beforehand by real meters);
* pull sessions: complete sessions per second (TCP connect, association with HLS-GMAC,
  one 30-minute profile read by range, release) against meters served by another process;
* command fan-out: time to change the ampere limit of N meters, each confirmed.

Writes bench/results/hes.json.

    python bench/bench_hes.py --push-meters 2000 --pull-meters 200 --fanout-meters 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from machine import machine
from smame.clock import JST, WallClock
from smame.dlms import DEMO_KEYS, build_interval_push, push_frame
from smame.dlms.security import MeterSecurity, system_title_of
from smame.hes import operations as ops
from smame.hes.commands import CommandKind, CommandStatus
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.keystore import KeyStore, MasterKey
from smame.hes.registry import Registry
from smame.hes.session import Endpoint
from smame.meter import Fleet, FleetConfig

RESULTS = Path(__file__).parent / "results"


class CountingSink:
    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, batch) -> None:
        self.rows += batch.num_rows


def _keystore(directory: Path, meter_ids) -> KeyStore:
    store = KeyStore(directory / "keys.db", MasterKey(bytes(32)))
    store.put_many({int(m): DEMO_KEYS for m in meter_ids})
    return store


def bench_push_ingest(meters: int, work: Path) -> dict:
    fleet = Fleet(FleetConfig(meters=meters, start=datetime(2026, 7, 1, tzinfo=JST), seed=3))
    fleet.advance(1440)
    frames = []
    for row in range(meters):
        meter = fleet.meter(row)
        security = MeterSecurity(DEMO_KEYS, system_title_of(meter.meter_id))
        for k in range(1, 49):
            frames.append(push_frame(build_interval_push(meter, security, period=30,
                                                         end=fleet.time - (48 - k) * 1800)))
    registry = Registry([Endpoint(int(m), "127.0.0.1", 1) for m in fleet.meter_ids])
    sink = CountingSink()
    headend = HeadEnd(registry, _keystore(work, fleet.meter_ids), sink, WallClock(),
                      HesConfig(flush_rows=100_000))
    began = time.perf_counter()
    for frame in frames:
        headend.receive_push(frame)
    headend.flush()
    elapsed = time.perf_counter() - began
    assert headend.pushes == len(frames), headend.events[:3]
    return {"notifications": len(frames), "seconds": round(elapsed, 3),
            "notifications_per_s": round(len(frames) / elapsed), "rows": sink.rows}


def serve(meters: int, work: Path) -> tuple[subprocess.Popen, Path]:
    manifest = work / f"manifest-{meters}.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "meter", "serve", "--meters", str(meters),
         "--port", "0", "--demo-keys", "--speed", "60", "--manifest", str(manifest)],
        stdout=subprocess.PIPE, text=True)
    for line in server.stdout:
        if "manifest written" in line:
            break
    return server, manifest


def bench_pull_sessions(meters: int, sessions: int, concurrency: int, work: Path) -> dict:
    server, manifest = serve(meters, work)
    try:
        registry = Registry.from_manifest(manifest, meters_per_cell=meters)
        headend = HeadEnd(registry, _keystore(work, registry.meter_ids()), CountingSink(),
                          WallClock(), HesConfig(per_cell=concurrency,
                                                 total_sessions=concurrency))
        ids = registry.meter_ids()
        latencies: list[float] = []

        async def one(k: int) -> None:
            now = int(time.time())
            started = time.perf_counter()
            await headend.session_with(ids[k % len(ids)],
                                       lambda s: ops.read_profile(s, 30, now - 3 * 3600, now))
            latencies.append(time.perf_counter() - started)

        async def workers(count: int) -> None:
            """``concurrency`` clients, each running sessions back to back: latency is one
            session's, not time spent queueing for a place."""
            todo = iter(range(count))

            async def worker() -> None:
                for k in todo:
                    await one(k)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        async def run() -> float:
            await workers(min(100, sessions))  # warm up
            latencies.clear()
            began = time.perf_counter()
            await workers(sessions)
            return time.perf_counter() - began

        elapsed = asyncio.run(run())
    finally:
        server.terminate()
        server.wait()
    summary = HeadEnd.latency_summary(latencies)
    return {"meters": meters, "sessions": sessions, "concurrency": concurrency,
            "seconds": round(elapsed, 3), "sessions_per_s": round(sessions / elapsed),
            "session_p50_ms": round(summary["p50"] * 1000, 1),
            "session_p99_ms": round(summary["p99"] * 1000, 1)}


def bench_fanout(meters: int, concurrency: int, work: Path) -> dict:
    server, manifest = serve(meters, work)
    try:
        registry = Registry.from_manifest(manifest, meters_per_cell=100)
        headend = HeadEnd(registry, _keystore(work, registry.meter_ids()), CountingSink(),
                          WallClock(), HesConfig(per_cell=8, total_sessions=concurrency))

        async def run():
            began = time.perf_counter()
            command = headend.commands.submit(CommandKind.SET_LIMIT, registry.meter_ids(),
                                              {"amps": 40})
            await headend.commands.wait(command.correlation_id)
            return command, time.perf_counter() - began

        command, elapsed = asyncio.run(run())
    finally:
        server.terminate()
        server.wait()
    info = command.summary()
    return {"meters": meters, "cells": len({registry.cell_of(m) for m in registry.meter_ids()}),
            "per_cell": 8, "concurrency": concurrency, "seconds": round(elapsed, 2),
            "confirmed": info["confirmed"], "failed": info["failed"],
            "succeeded": command.status is CommandStatus.SUCCEEDED,
            "meters_per_s": round(meters / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--push-meters", type=int, default=2000)
    parser.add_argument("--pull-meters", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fanout-meters", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "push").mkdir()
        (work / "pull").mkdir()
        (work / "fan").mkdir()
        push = bench_push_ingest(args.push_meters, work / "push")
        print(f"push ingest: {push['notifications_per_s']:,} notifications/s "
              f"({push['notifications']:,} in {push['seconds']} s, one core; goal ≥ 20,000)")
        pull = bench_pull_sessions(args.pull_meters, args.sessions, args.concurrency,
                                   work / "pull")
        print(f"pull sessions: {pull['sessions_per_s']:,} sessions/s at {args.concurrency} "
              f"concurrent (p50 {pull['session_p50_ms']} ms, p99 {pull['session_p99_ms']} ms; "
              "goal ≥ 500)")
        fan = bench_fanout(args.fanout_meters, args.concurrency, work / "fan")
        print(f"command fan-out: ampere limit on {fan['meters']:,} meters confirmed in "
              f"{fan['seconds']} s ({fan['meters_per_s']:,} meters/s, "
              f"{fan['failed']} failed)")
    result = {"benchmark": "head-end", "machine": machine(), "push_ingest": push,
              "pull_sessions": pull, "command_fanout": fan}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hes.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
