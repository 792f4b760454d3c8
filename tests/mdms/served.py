"""A real ``smame api serve`` over a data directory, and ``smame`` commands beside it.

Everything here waits on a condition with a deadline (a line printed, an answer given),
never for a fixed time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

DAY1, DAY2, DAY3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
METERS = 30
_ENV = {**os.environ, "LC_ALL": "C.UTF-8"}
_ENV.pop("COLUMNS", None)


def smame(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``smame`` as a user runs it (not on a terminal, in English)."""
    return subprocess.run([sys.executable, "-m", "smame.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=_ENV)


def start_smame(*args: str) -> subprocess.Popen:
    """``smame`` started in the background, its output piped."""
    return subprocess.Popen([sys.executable, "-m", "smame.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_ENV)


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> object:
    """The first true value of ``condition()``, polled until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)  # polling interval of the condition, not a synchronisation


@dataclass(frozen=True)
class Fleet:
    """Simulated reading files: ``days[k]`` is the directory of day k + 1's readings."""

    simulation: Path  # the first day only, with the meters to register
    whole: Path  # every day, as a simulation directory
    days: list[Path]


def simulate_fleet(root: Path, days: int = 3, meters: int = METERS) -> Fleet:
    """A fleet's first day as a simulation directory, and each day's readings apart."""
    first = root / "fleet-first"
    every = root / "fleet-all"
    for out, count in ((first, 1), (every, days)):
        done = smame("fleet", "simulate", "--meters", str(meters), "--days", str(count),
                     "--start", DAY1.isoformat(), "--seed", "5", "--out", str(out))
        assert done.returncode == 0, done.stderr
    return Fleet(first, every, sorted((every / "readings").glob("date=*")))


@dataclass
class Served:
    """A running ``smame api serve``: its process, base URL and a distribution token."""

    process: subprocess.Popen
    base: str
    token: str = ""
    stderr: list[str] | None = None

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {self.token}"},
                         timeout=30)

    def values(self, meter: int, day: date) -> int:
        """How many 30-minute import values the API gives for ``meter`` on ``day``."""
        answer = self.get(f"/v1/meters/{meter}/readings?date={day.isoformat()}&period=30"
                          "&quantity=import")
        if answer.status_code != 200:
            return 0
        blocks = answer.json()["MeterReadings"][0]["IntervalBlocks"]
        return sum(len(block["IntervalReadings"]) for block in blocks)


def _drain(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


@contextmanager
def serve(data: Path, *extra: str) -> Iterator[Served]:
    """``smame api serve --data DATA --port 0``, up and with a distribution client."""
    process = start_smame("api", "serve", "--data", str(data), "--port", "0", *extra)
    try:
        line = process.stdout.readline()
        found = re.search(r"http://[\d.]+:\d+", line)
        assert found, (line, process.stderr.read() if process.poll() is not None else "")
        errors: list[str] = []
        threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True).start()
        threading.Thread(target=_drain, args=(process.stdout, []), daemon=True).start()
        served = Served(process, found.group(0), stderr=errors)
        added = smame("clients", "add", "--name", "test operator", "--role", "distribution",
                      "--data", str(data))
        assert added.returncode == 0, added.stderr
        ids = dict(line.split(maxsplit=1) for line in added.stdout.splitlines()[:2])
        answer = httpx.post(served.base + "/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": ids["client_id"],
            "client_secret": ids["client_secret"]}, timeout=30)
        assert answer.status_code == 200, answer.text
        served.token = answer.json()["access_token"]
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


def meter_ids(fleet: Fleet) -> list[int]:
    """The meters of the simulated fleet."""
    import pyarrow.parquet as pq

    return sorted(int(m) for m in pq.read_table(fleet.simulation / "meters").column(
        "meter_id").to_pylist())
