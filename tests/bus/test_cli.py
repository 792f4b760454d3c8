"""`smame bus server`, `smame bus ingest` and `smame hes run --publish` as real processes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from smame.mdms import Mdms
from smame.mdms.shards import ShardMap
from smame.store import IMD
from tests.bus.support import consumer_drained, wait_until


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smame(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smame.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 2, result.stderr
    assert text in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_server_runs_until_sigterm(tmp_path):
    server = subprocess.Popen([sys.executable, "-m", "smame.cli", "bus", "server", "--store",
                               str(tmp_path / "store")], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    assert line.startswith("NATS JetStream listening on nats://127.0.0.1:")
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    assert (tmp_path / "store" / "jetstream").is_dir()


def test_bad_arguments_are_one_line_errors(tmp_path, nats_server):
    one_line_error(smame("bus", "ingest", "--nats", nats_server.url, "--data", str(tmp_path),
                         "--shard", "0"), "no shard map")
    ShardMap.even(2, 1, 100).save(tmp_path / "root")
    one_line_error(smame("bus", "ingest", "--nats", nats_server.url, "--data",
                         str(tmp_path / "root"), "--shard", "2"), "has shards 0..1")
    one_line_error(smame("bus", "ingest", "--nats", "127.0.0.1:4222", "--data",
                         str(tmp_path / "root"), "--shard", "0"), "give a URL")
    assert not (tmp_path / "root" / "shard-000").exists()  # nothing created by a typo
    one_line_error(smame("hes", "run", "--manifest", str(tmp_path / "m.json"), "--demo-keys",
                         "--publish", nats_server.url), "--publish needs --shards")
    one_line_error(smame("bus", "server", "--store", str(tmp_path / "s"), "--port", "0"),
                   "--port must be within")


@pytest.fixture
def served(tmp_path):
    """Two meters served at 600× pushing to a UDP port; yields (manifest, push port)."""
    manifest = tmp_path / "manifest.json"
    push_port = free_udp_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "meter", "serve", "--meters", "2", "--port", "0",
         "--demo-keys", "--speed", "600", "--manifest", str(manifest),
         "--push", f"127.0.0.1:{push_port}", "--push-window", "60"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if "manifest written" in line:
                break
        yield manifest, push_port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_head_end_shard_publishes_to_an_ingest_worker(served, nats_server, tmp_path):
    manifest, push_port = served
    meters = [m["meter_id"] for m in json.loads(manifest.read_text())["meters"]]
    root = tmp_path / "deployment"
    ShardMap((min(meters), max(meters) + 1)).save(root)
    worker = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "bus", "ingest", "--nats", nats_server.url,
         "--data", str(root), "--shard", "0", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        metrics_url = next(line.split()[-1] for line in worker.stdout
                           if line.startswith("metrics on "))
        result = smame("hes", "run", "--manifest", str(manifest), "--demo-keys", "--data",
                       str(tmp_path / "hes"), "--listen", f"127.0.0.1:{push_port}",
                       "--run-for", "8", "--publish", nats_server.url, "--shards", str(root),
                       "--metrics-port", "0")
        assert result.returncode == 0, result.stderr
        assert "metrics on http://127.0.0.1:" in result.stdout
        summary = json.loads(result.stdout[result.stdout.index("{"):])
        assert summary["rows"] >= 8
        assert not (tmp_path / "hes" / "hes" / "readings").exists()  # the bus, not Parquet
        wait_until(lambda: consumer_drained(nats_server.url, 0), 60, "the worker to ingest")
        scraped = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
        assert 'smame_ingest_batches_total{shard="0"}' in scraped
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert json.loads(out.splitlines()[-1])["readings"] == summary["rows"]
    finally:
        if worker.poll() is None:
            worker.kill()
    with Mdms(ShardMap.directory(root, 0)) as mdms:
        assert mdms.readings(kind=IMD, current=False).num_rows == summary["rows"]
