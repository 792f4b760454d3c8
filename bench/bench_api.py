"""Data-provision API benchmark: one meter's one-day 30-minute curve as a retailer.

Prints its figures and writes bench/results/api.json with the sizes it ran at.

* a store of ``--meters`` simulated meters (default 100,000) and one JST day (channels
  100, 140, 200, 240), ingested into the MDMS, registry seeded (five retailers);
* the API served by uvicorn in a process of its own (one worker), the read rate limit
  raised for the benchmark client;
* a load generator in another process: ``wrk`` (Debian's package) with a Lua script that
  asks for a random meter of the retailer on every request, or, without wrk, an httpx
  async client; ``--connections`` concurrent clients (default 50) for ``--seconds``.

Goal: ≥ 2,000 requests/s and p99 ≤ 50 ms at 50 concurrent clients.

With ``--state both`` the same load runs against the API on its embedded state (SQLite,
rate-limit buckets in memory) and on the shared PostgreSQL state (started here; every
request takes its rate-limit tokens with one SQL upsert), alternating ``--repeat`` times,
and the cost of one bucket take is timed on its own; written to
bench/results/api_state_c<connections>.json.

    python bench/bench_api.py                   # 100,000 meters (about a minute to build)
    python bench/bench_api.py --meters 10000    # a quick run
    python bench/bench_api.py --meters 10000 --state both --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from machine import git_commit, machine
from smame.clock import JST

RESULTS = Path(__file__).parent / "results"
DAY = date(2026, 7, 1)
GOALS = {"requests_per_s": 2000.0, "p99_ms": 50.0}
RETAILER = "R01"


def say(text: str) -> None:
    print(text, flush=True)


def build_store(meters: int, root: Path) -> dict:
    from smame.mdms import Mdms, ingest_simulation
    from smame.meter import FleetConfig, OutputConfig
    from smame.meter.simulate import simulate

    started = time.perf_counter()
    config = FleetConfig(meters=meters, start=datetime(2026, 7, 1, tzinfo=JST), seed=1,
                         retention=None,
                         output=OutputConfig(five_minute_share=0.0, joint=False))
    simulate(config, 1, root / "fleet")
    simulated = time.perf_counter() - started
    with Mdms(root / "data") as mdms:
        result = ingest_simulation(mdms, root / "fleet")
        rows = result.rows_stored
    shutil.rmtree(root / "fleet")
    return {"meters": meters, "rows_stored": rows, "simulate_s": round(simulated, 1),
            "build_s": round(time.perf_counter() - started, 1)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data: Path, port: int, state_url: str | None = None) -> None:
    """The server process: the API over ``data`` on ``port`` (its state at ``state_url``)."""
    import uvicorn

    from smame.api import ApiConfig, RateLimit, create_app

    defaults = ApiConfig(data).rate_limits
    config = ApiConfig(data, state_url=state_url,
                       rate_limits={**defaults, "read": RateLimit(1e6, 1e6)})
    uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, http="httptools")


def client_and_meters(data: Path, state_url: str | None = None
                      ) -> tuple[str, str, list[int]]:
    from smame.api.state import open_access
    from smame.mdms import Mdms

    db, clients, _ = open_access(data / "api", state_url=state_url)
    client, secret = clients.add("bench retailer", "retailer", RETAILER)
    db.close()
    with Mdms(data) as mdms:
        assignments = mdms.registry.assignments(DAY).to_pylist()
    ids = [int(a["meter_id"]) for a in assignments if a["retailer_id"] == RETAILER]
    return client.client_id, secret, ids


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API server exited")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # waiting for a process to come up; nothing is measured here
    raise RuntimeError("the API server did not come up")


def path_of(meter: int) -> str:
    return f"/v1/meters/{meter}/readings?date={DAY.isoformat()}&period=30&quantity=import"


_LUA = """
local ids = {%s}
local token = "%s"
math.randomseed(7)
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/meters/" .. id ..
    "/readings?date=%s&period=30&quantity=import", {["Authorization"] = "Bearer " .. token})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%f %%f %%f %%f\\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.duration, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def run_wrk(base: str, token: str, meters: list[int], connections: int, seconds: int,
            work: Path) -> dict:
    script = work / "bench.lua"
    script.write_text(_LUA % (",".join(map(str, meters)), token, DAY.isoformat()))
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
                          base], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    total, bad_status, socket_errors, duration_us, p50, p90, p99, worst = line.split()[1:]
    duration = float(duration_us) / 1e6
    return {"generator": "wrk", "requests": int(total), "non_2xx": int(bad_status),
            "socket_errors": int(socket_errors), "seconds": round(duration, 2),
            "requests_per_s": round(int(total) / duration, 1),
            "p50_ms": round(float(p50) / 1000, 2), "p90_ms": round(float(p90) / 1000, 2),
            "p99_ms": round(float(p99) / 1000, 2), "max_ms": round(float(worst) / 1000, 2)}


async def _httpx_load(base: str, token: str, meters: list[int], connections: int,
                      seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    failures = 0
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < stop:
                began = time.perf_counter()
                answer = await client.get(path_of(rng.choice(meters)))
                latencies.append(time.perf_counter() - began)
                failures += answer.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"generator": "httpx", "requests": len(ordered), "non_2xx": failures,
            "seconds": round(elapsed, 2), "requests_per_s": round(len(ordered) / elapsed, 1),
            "p50_ms": round(pick(0.5), 2), "p90_ms": round(pick(0.9), 2),
            "p99_ms": round(pick(0.99), 2), "max_ms": round(ordered[-1] * 1000, 2),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2)}


def run_httpx(base: str, token: str, meters: list[int], connections: int, seconds: int,
              work: Path) -> dict:
    """The httpx load generator, in a process of its own."""
    spec = work / "load.json"
    spec.write_text(json.dumps({"base": base, "token": token, "meters": meters,
                                "connections": connections, "seconds": seconds}))
    out = subprocess.run([sys.executable, __file__, "--load", str(spec)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def serve_and_load(args, work: Path, generator: str, state_url: str | None = None
                   ) -> tuple[list[int], float, dict]:
    """Start the API over the store in ``work`` and put the load on it."""
    import httpx

    client_id, secret, meters = client_and_meters(work / "data", state_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(work / "data"),
                               str(port), *([state_url] if state_url else [])])
    try:
        wait_for(f"{base}/v1/openapi.json", server)
        token = httpx.post(f"{base}/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        first = httpx.get(base + path_of(meters[0]), headers=headers, timeout=120)
        cold = time.perf_counter() - started
        assert first.status_code == 200, first.text
        values = first.json()["MeterReadings"][0]["IntervalBlocks"][0]["IntervalReadings"]
        say(f"retailer {RETAILER}: {len(meters):,} meters; first request (loads the day "
            f"into the read model) {cold * 1000:.0f} ms, {len(values)} values, "
            f"{first.json()['digits']} digits")
        say(f"load: {generator}, {args.connections} connections, {args.seconds} s …")
        if generator == "httpx":
            say("  (an httpx client saturates a core before the server does: these are the "
                "client's figures; apt-get install wrk for the server's)")
        runner = run_wrk if generator == "wrk" else run_httpx
        load = runner(base, token, meters, args.connections, args.seconds, work)
    finally:
        server.terminate()
        server.wait(30)
    return meters, cold, load


def bucket_take_us(db, takes: int = 5000) -> float:
    """Microseconds per rate-limit take on ``db``'s buckets (a limit never reached)."""
    from smame.api.config import RateLimit
    from smame.api.ratelimit import MemoryBuckets, SqlBuckets

    buckets = MemoryBuckets() if db is None else SqlBuckets(db)
    limit = RateLimit(1e9, 1e9)
    started = time.perf_counter()
    for k in range(takes):
        buckets.take(f"bench-{k % 50}", "read", 1.0, limit, float(k))
    return (time.perf_counter() - started) / takes * 1e6


def state_work_us(work: Path, state_url: str | None, requests: int = 3000) -> float:
    """Microseconds of state work one authenticated request does: the client looked up
    (its cache checked against the change counter) and one rate-limit take."""
    from smame.api.config import RateLimit
    from smame.api.ratelimit import RateLimiter, SqlBuckets
    from smame.api.state import open_access
    from smame.clock import WallClock

    db, clients, _ = open_access(work / "state-bench", state_url=state_url, secret_cost=2**4)
    try:
        client, _secret = clients.add("bench", "retailer", RETAILER)
        limiter = RateLimiter(WallClock(), {"read": RateLimit(1e9, 1e9)},
                              SqlBuckets(db) if state_url else None)
        started = time.perf_counter()
        for _ in range(requests):
            clients.get(client.client_id)
            limiter.take(client.client_id, "read")
        return (time.perf_counter() - started) / requests * 1e6
    finally:
        db.close()


def copy_registry(data: Path, state_url: str) -> None:
    """The store's registry into the shared state, where the API then reads it."""
    from smame.mdms import Mdms
    from smame.store.registry import Registry

    target = Registry.postgres(state_url)
    try:
        with Mdms(data) as mdms:
            mdms.registry.copy_into(target)
    finally:
        target.close()


def both_states(args, work: Path, store: dict, generator: str) -> None:
    """The same load on the embedded and on the PostgreSQL state, alternating."""
    from smame.api.db import open_access_db
    from smame.servers.postgres import LocalPostgres

    work.chmod(0o755)  # as root the server runs as `postgres`, which must reach its directory
    runs: dict[str, list[dict]] = {"sqlite": [], "postgresql": []}
    with LocalPostgres(work / "pg") as server:
        url = server.create_database("smame_state")
        copy_registry(work / "data", url)
        for round_ in range(args.repeat):
            for name, state_url in (("sqlite", None), ("postgresql", url)):
                say(f"[{round_ + 1}/{args.repeat}] state: {name}")
                *_, load = serve_and_load(args, work, generator, state_url)
                say(f"  {load['requests_per_s']:,.0f} requests/s, p50 {load['p50_ms']} ms, "
                    f"p99 {load['p99_ms']} ms, {load['non_2xx']} non-2xx")
                runs[name].append(load)
        db = open_access_db(work, url)
        try:
            take_us = {"memory": round(bucket_take_us(None), 2),
                       "postgresql": round(bucket_take_us(db), 1)}
        finally:
            db.close()
        request_us = {"sqlite": round(state_work_us(work, None), 1),
                      "postgresql": round(state_work_us(work, url), 1)}
    say(f"one rate-limit take: {take_us['memory']} µs in memory, {take_us['postgresql']} µs "
        "as a PostgreSQL upsert (one round trip on loopback)")
    say(f"state work per request (client lookup + take): {request_us['sqlite']} µs embedded, "
        f"{request_us['postgresql']} µs on PostgreSQL")
    summary = {}
    for name, loads in runs.items():
        summary[name] = {key: [run[key] for run in loads]
                         for key in ("requests_per_s", "p50_ms", "p99_ms", "non_2xx")}
        say(f"{name:10}  p50 {min(summary[name]['p50_ms'])}–{max(summary[name]['p50_ms'])} ms"
            f"  p99 {min(summary[name]['p99_ms'])}–{max(summary[name]['p99_ms'])} ms  "
            f"{min(summary[name]['requests_per_s']):,.0f}–"
            f"{max(summary[name]['requests_per_s']):,.0f} requests/s")
    RESULTS.mkdir(exist_ok=True)
    result = {"benchmark": "api_state", "machine": machine(), **git_commit(), "store": store,
              "connections": args.connections, "seconds": args.seconds, "repeat": args.repeat,
              "generator": generator, "runs": runs, "summary": summary,
              "bucket_take_us": take_us, "state_work_per_request_us": request_us,
              "request": "GET " + path_of(0).replace("/0/", "/{meter}/")}
    out = RESULTS / f"api_state_c{args.connections}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--generator", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--state", choices=("sqlite", "both"), default="sqlite",
                        help="both: the embedded and the PostgreSQL state, alternating")
    parser.add_argument("--repeat", type=int, default=3, help="runs per state (--state both)")
    parser.add_argument("--serve", nargs="+", metavar="DATA PORT [STATE]",
                        help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), *args.serve[2:])
        return
    if args.load:
        spec = json.loads(Path(args.load).read_text())
        print(json.dumps(asyncio.run(_httpx_load(spec["base"], spec["token"], spec["meters"],
                                                 spec["connections"], spec["seconds"]))))
        return

    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "httpx"
    with tempfile.TemporaryDirectory(prefix="smame-bench-api-") as tmp:
        work = Path(tmp)
        say(f"building a store of {args.meters:,} meters × 1 day …")
        store = build_store(args.meters, work)
        say(f"  {store['rows_stored']:,} readings stored in {store['build_s']} s")
        if args.state != "sqlite":
            both_states(args, work, store, generator)
            return
        meters, cold, load = serve_and_load(args, work, generator)
    ok = (load["requests_per_s"] >= GOALS["requests_per_s"]
          and load["p99_ms"] <= GOALS["p99_ms"] and load["non_2xx"] == 0)
    say(f"  {load['requests_per_s']:,.0f} requests/s, p50 {load['p50_ms']} ms, p90 "
        f"{load['p90_ms']} ms, p99 {load['p99_ms']} ms, max {load['max_ms']} ms, "
        f"{load['non_2xx']} non-2xx  (goal ≥ {GOALS['requests_per_s']:,.0f}/s, p99 ≤ "
        f"{GOALS['p99_ms']:.0f} ms: {'met' if ok else 'NOT met'})")
    RESULTS.mkdir(exist_ok=True)
    result = {"benchmark": "api", "machine": machine(), "store": store,
              "retailer_meters": len(meters), "cold_first_request_ms": round(cold * 1000, 1),
              "connections": args.connections, "load": load, "goals": GOALS, "goals_met": ok,
              "request": "GET " + path_of(0).replace("/0/", "/{meter}/")}
    (RESULTS / "api.json").write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {RESULTS / 'api.json'}")


if __name__ == "__main__":
    main()
