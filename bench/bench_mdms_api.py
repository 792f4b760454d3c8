"""The MDMS and the API together: ingest beside a serving API (issue 13, item 1).

Prints its figures and writes bench/results/mdms_api.json.

* a store of ``--meters`` simulated meters (default 10,000) with their first JST day;
* ``smame api serve`` over it (the store's owner), and a load generator in another process:
  an httpx client asking ``--connections`` (default 10) at a time for one random meter's
  one-day 30-minute curve, timing every request;
* while the load runs: first, for comparison, ``smame mdms ingest`` of day 2 into a copy of
  the store (a process of its own: the machine is as busy, the API's process is not), then
  of each further day (``--days`` - 1) into the served store, handed to the API process
  over its job socket.

Figures: the time from each ingest command's exit to the API answering a reading of the new
day (the read model looks for new versions every second), the ingest's own time, and the
API's p50/p99 while an ingest runs at the owner, against the same load with no job running
and with the ingest in another process.

    python bench/bench_mdms_api.py                  # 10,000 meters, 3 ingested days
    python bench/bench_mdms_api.py --meters 2000    # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from machine import git_commit, machine
from smame.clock import JST

RESULTS = Path(__file__).parent / "results"
DAY1 = date(2026, 7, 1)


def say(text: str) -> None:
    print(text, flush=True)


def smame(*args: str) -> list[str]:
    return [sys.executable, "-m", "smame.cli", *args]


def build_store(meters: int, days: int, root: Path) -> tuple[list[Path], list[int], dict]:
    """The first day ingested into ``root/data``; the later days' reading directories."""
    from smame.mdms import Mdms, ingest_simulation
    from smame.meter import FleetConfig, OutputConfig
    from smame.meter.simulate import simulate

    started = time.perf_counter()
    output = OutputConfig(five_minute_share=0.0, joint=False)
    for out, count in ((root / "first", 1), (root / "all", days)):
        simulate(FleetConfig(meters=meters, start=datetime(2026, 7, 1, tzinfo=JST), seed=1,
                             retention=None, output=output), count, out)
    with Mdms(root / "data") as mdms:
        stored = ingest_simulation(mdms, root / "first").rows_stored
        ids = sorted(int(m) for m in mdms.registry.table("meters").column("meter_id")
                     .to_pylist())
    later = sorted((root / "all" / "readings").glob("date=*"))[1:]
    return later, ids, {"meters": meters, "first_day_rows": stored,
                        "build_s": round(time.perf_counter() - started, 1)}


def token_for(data: Path, base: str) -> str:
    import httpx

    from smame.api.state import open_access

    db, clients, _ = open_access(data / "api")
    client, secret = clients.add("bench operator", "distribution")
    db.close()
    answer = httpx.post(f"{base}/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client.client_id,
        "client_secret": secret}, timeout=60)
    return answer.json()["access_token"]


def path_of(meter: int, day: date) -> str:
    return f"/v1/meters/{meter}/readings?date={day.isoformat()}&period=30&quantity=import"


async def _load(base: str, token: str, meters: list[int], connections: int,
                stop_file: Path) -> list[tuple[float, float, int]]:
    """(wall start, seconds, status) of every request until ``stop_file`` appears."""
    import httpx

    samples: list[tuple[float, float, int]] = []
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as client:

        async def worker() -> None:
            while not stop_file.exists():
                began, wall = time.perf_counter(), time.time()
                answer = await client.get(path_of(rng.choice(meters), DAY1))
                samples.append((wall, time.perf_counter() - began, answer.status_code))

        await asyncio.gather(*(worker() for _ in range(connections)))
    return samples


def percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    if not ordered:
        return {"requests": 0}
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)  # noqa: E731
    return {"requests": len(ordered), "p50_ms": pick(0.5), "p90_ms": pick(0.9),
            "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def wait_visible(base: str, token: str, meter: int, day: date, seconds: float = 120) -> float:
    """Poll until the API gives ``meter``'s 48 values of ``day``; when it did (monotonic)."""
    import httpx

    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        while time.monotonic() < deadline:
            answer = client.get(path_of(meter, day))
            if answer.status_code == 200:
                blocks = answer.json()["MeterReadings"][0]["IntervalBlocks"]
                if sum(len(b["IntervalReadings"]) for b in blocks) == 48:
                    return time.monotonic()
            time.sleep(0.01)  # the poll's own pace; the figure is when the answer came
    raise RuntimeError(f"{day} never became visible")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=4, help="the first, then ingested ones")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--load", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        spec = json.loads(Path(args.load).read_text())
        samples = asyncio.run(_load(spec["base"], spec["token"], spec["meters"],
                                    spec["connections"], Path(spec["stop"])))
        Path(spec["out"]).write_text(json.dumps(samples))
        return

    with tempfile.TemporaryDirectory(prefix="smame-bench-mdms-api-") as tmp:
        work = Path(tmp)
        say(f"building a store of {args.meters:,} meters, first of {args.days} days …")
        later, meters, store = build_store(args.meters, args.days, work)
        data = work / "data"
        say(f"  {store['first_day_rows']:,} readings stored in {store['build_s']} s")
        shutil.copytree(data, work / "apart")  # for an ingest in a process of its own
        server = subprocess.Popen(smame("api", "serve", "--data", str(data), "--port", "0",
                                        "--read-rate", "1000000"),
                                  stdout=subprocess.PIPE, text=True)
        loader = None
        try:
            base = re.search(r"http://[\d.]+:\d+", server.stdout.readline()).group(0)
            token = token_for(data, base)
            wait_visible(base, token, meters[0], DAY1)  # loads the day into the read model
            spec = work / "load.json"
            stop, samples_file = work / "stop", work / "samples.json"
            spec.write_text(json.dumps({"base": base, "token": token, "meters": meters,
                                        "connections": args.connections, "stop": str(stop),
                                        "out": str(samples_file)}))
            loader = subprocess.Popen([sys.executable, __file__, "--load", str(spec)])
            idle_from = time.time()
            say(f"load: {args.connections} connections; {args.idle_seconds:g} s with no job …")
            time.sleep(args.idle_seconds)  # the idle window of the load is measured, not waited on
            idle_to = time.time()
            apart_from = time.time()
            subprocess.run(smame("mdms", "ingest", str(later[0]), "--data",
                                 str(work / "apart")), check=True, capture_output=True)
            apart_to = time.time()
            alone = round(apart_to - apart_from, 2)
            say(f"  day 2 into a copy of the store, in a process of its own: {alone} s")
            ingests = []
            for k, directory in enumerate(later, start=1):
                day = DAY1 + timedelta(days=k)
                began_wall, began = time.time(), time.monotonic()
                done = subprocess.run(smame("mdms", "ingest", str(directory), "--data",
                                            str(data)), capture_output=True, text=True)
                ended_wall, ended = time.time(), time.monotonic()
                if done.returncode != 0:
                    raise RuntimeError(done.stderr)
                visible = wait_visible(base, token, meters[-1], day)
                ingests.append({"day": day.isoformat(), "ingest_s": round(ended - began, 2),
                                "visible_after_exit_s": round(visible - ended, 3),
                                "window": (began_wall, ended_wall)})
                say(f"  {day}: ingest {ended - began:.2f} s via the API's job socket; "
                    f"visible in the API {visible - ended:.3f} s after the command exited")
            stop.write_text("")
            loader.wait(120)
            samples = json.loads(samples_file.read_text())
        finally:
            if loader is not None and loader.poll() is None:
                loader.kill()
            server.terminate()
            server.wait(60)
    idle = [s for s in samples if idle_from <= s[0] < idle_to]
    busy = [s for s in samples if any(w[0] <= s[0] < w[1] for w in
                                      (i["window"] for i in ingests))]
    apart = [s for s in samples if apart_from <= s[0] < apart_to]
    figures = {"idle": percentiles([s[1] for s in idle]),
               "during_ingest_in_another_process": percentiles([s[1] for s in apart]),
               "during_ingest": percentiles([s[1] for s in busy]),
               "non_2xx": sum(1 for s in samples if s[2] != 200)}
    visible = [i["visible_after_exit_s"] for i in ingests]
    say(f"API with no job: p50 {figures['idle'].get('p50_ms')} ms, p99 "
        f"{figures['idle'].get('p99_ms')} ms ({figures['idle']['requests']:,} requests)")
    say(f"API during an ingest in another process (another store): p50 "
        f"{figures['during_ingest_in_another_process'].get('p50_ms')} ms, p99 "
        f"{figures['during_ingest_in_another_process'].get('p99_ms')} ms")
    say(f"API during ingest at the owner: p50 {figures['during_ingest'].get('p50_ms')} ms, p99 "
        f"{figures['during_ingest'].get('p99_ms')} ms "
        f"({figures['during_ingest']['requests']:,} requests); {figures['non_2xx']} non-2xx")
    say(f"new day visible after ingest's exit: {min(visible):.3f}–{max(visible):.3f} s")
    RESULTS.mkdir(exist_ok=True)
    for entry in ingests:
        entry.pop("window")
    result = {"benchmark": "mdms_api", "machine": machine(), "git": git_commit(),
              "store": store, "connections": args.connections,
              "ingest_in_another_process_s": alone, "ingests": ingests,
              "latency": figures, "request": "GET " + path_of(0, DAY1).replace("/0/",
                                                                              "/{meter}/")}
    (RESULTS / "mdms_api.json").write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {RESULTS / 'mdms_api.json'}")


if __name__ == "__main__":
    main()
