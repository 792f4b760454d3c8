"""`smame cluster up` from the command line: every part starts, readings flow from the
meters through the head-end shards and the bus into the MDMS shards and out of their API;
`smame cluster down` stops every process."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from smame.clock import JST
from smame.cluster.supervisor import running
from smame.mdms.shards import ShardMap
from smame.servers.postgres import PostgresMissingError, find_bin

SMAME = (sys.executable, "-m", "smame")
FIRST = 100_000_001


def _smame(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*SMAME, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cluster():
    try:
        find_bin()
    except PostgresMissingError as exc:
        pytest.skip(f"PostgreSQL server binaries missing: {exc}")
    base = Path(tempfile.mkdtemp(prefix="smame-cluster-"))  # pytest's are closed to others
    base.chmod(0o711)  # PostgreSQL runs as its own account when the tests run as root
    root = base / "deployment"
    up = _smame("cluster", "up", "--dir", str(root), "--hes", "2", "--workers", "2",
                "--meters-per-hes", "3", "--speed", "600")
    assert up.returncode == 0, up.stderr  # a half-started deployment is stopped by up
    try:
        yield root, up.stdout
    finally:
        down = _smame("cluster", "down", "--dir", str(root))
        assert down.returncode == 0, down.stderr
        assert "stopped 9 part(s)" in down.stdout
        shutil.rmtree(base)


def _listing(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[3] for line in stdout.splitlines()
            if re.match(r"^\S+\s+pid \d+", line)}


def test_up_starts_every_part_and_says_where_it_listens(cluster) -> None:
    root, stdout = cluster
    listed = _listing(stdout)
    assert set(listed) == {"postgres", "nats", "dask-scheduler", "mdms-0", "mdms-1",
                           "meters-0", "hes-0", "meters-1", "hes-1"}
    assert listed["postgres"].startswith("postgresql://")
    assert listed["nats"].startswith("nats://127.0.0.1:")
    assert all(p.alive() for p in running(root))
    status = _smame("cluster", "status", "--dir", str(root))
    assert status.returncode == 0, status.stderr
    assert status.stdout.count(" running ") == 9


def test_readings_reach_each_shards_api_through_the_bus(cluster) -> None:
    root, stdout = cluster
    listed = _listing(stdout)
    state = listed["postgres"]
    added = _smame("clients", "add", "--name", "grid operator", "--role", "distribution",
                   "--data", str(root / "mdms" / "shard-000"), "--state", state)
    assert added.returncode == 0, added.stderr
    client_id = re.search(r"client_id\s+(\S+)", added.stdout).group(1)
    secret = re.search(r"client_secret\s+(\S+)", added.stdout).group(1)
    shard_map = ShardMap.load(root / "mdms")
    now = datetime.now(UTC)  # the meters' clocks start now and run ahead
    window = {"start": (now - timedelta(days=1)).isoformat(),
              "end": (now + timedelta(days=30)).isoformat()}
    for shard, api in (("mdms-0", listed["mdms-0"]), ("mdms-1", listed["mdms-1"])):
        meter = shard_map.range_of(int(shard[-1]))[0]
        token = httpx.post(f"{api}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret}, timeout=30).json()["access_token"]
        deadline = time.monotonic() + 180
        while True:  # the meters' clock runs 600x: a 30-minute value every 3 s
            answer = httpx.get(f"{api}/meters/{meter}/readings", params=window,
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
            values = ([r for block in answer.json()["MeterReadings"][0]["IntervalBlocks"]
                       for r in block["IntervalReadings"]] if answer.status_code == 200 else [])
            if values:
                assert all(r["ReadingQualities"][0]["name"] == "VALIDATED" for r in values)
                break
            assert time.monotonic() < deadline, f"{shard}: {answer.status_code} {answer.text}"
            time.sleep(0.5)  # poll interval while waiting on the condition above


def test_batch_settlement_runs_on_the_shards_own_processes(cluster) -> None:
    """`smame batch --pinned` on the running deployment: each shard's task runs in the
    process owning the shard's store (its Dask worker), not against its lock."""
    root, stdout = cluster
    today = datetime.now(JST).date().isoformat()
    settled = _smame("batch", "settle", "--data", str(root / "mdms"), "--date", today,
                     "--scheduler", _listing(stdout)["dask-scheduler"], "--pinned",
                     "--format", "csv")
    assert settled.returncode == 0, settled.stderr
    header, *rows = settled.stdout.strip().splitlines()
    assert "retailer" in header
    assert rows


def test_a_second_up_in_the_same_directory_is_refused(cluster) -> None:
    root, _ = cluster
    again = _smame("cluster", "up", "--dir", str(root), "--hes", "2", "--workers", "2",
                   "--meters-per-hes", "3")
    assert again.returncode == 2
    assert again.stderr.strip() == f"error: a deployment already runs in {root.resolve()} " \
                                   "(smame cluster down first)"


def test_down_without_a_deployment_is_one_line(tmp_path: Path) -> None:
    result = _smame("cluster", "down", "--dir", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: no deployment in")
    assert not (tmp_path / "nothing").exists()


def test_a_deployment_started_again_keeps_its_store_state_and_clock() -> None:
    try:
        find_bin()
    except PostgresMissingError as exc:
        pytest.skip(f"PostgreSQL server binaries missing: {exc}")
    base = Path(tempfile.mkdtemp(prefix="smame-cluster-"))
    base.chmod(0o711)
    root = base / "again"
    args = ("--dir", str(root), "--hes", "1", "--workers", "1", "--meters-per-hes", "2")
    try:
        first = _smame("cluster", "up", *args)
        assert first.returncode == 0, first.stderr
        clock = (root / "clock.json").read_text()
        assert _smame("cluster", "down", "--dir", str(root)).returncode == 0
        other_shape = _smame("cluster", "up", "--dir", str(root), "--workers", "2")
        assert other_shape.returncode == 2
        assert "another shape" in other_shape.stderr
        again = _smame("cluster", "up", *args)
        assert again.returncode == 0, again.stderr
        assert (root / "clock.json").read_text() == clock
        assert _smame("cluster", "status", "--dir", str(root)).returncode == 0
    finally:
        _smame("cluster", "down", "--dir", str(root))
        shutil.rmtree(base)
