"""kill -9 of an ingest worker, then of the NATS server, then of a head-end shard's
publisher, all mid-stream: no acknowledged reading is lost and none is duplicated.

Real processes throughout: ``smame bus ingest`` workers, a nats-server restarted on the
same store, publisher processes (``tests.bus.publish_worker``) that print each batch the
bus acknowledged. The MDMS shards' raw receipts are checked against the source batches.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

from smame.mdms import Mdms
from smame.mdms.shards import ShardMap
from smame.servers.nats import LocalNats
from smame.store import IMD
from tests.bus.publish_worker import METERS, source_batch
from tests.bus.support import consumer_drained, keys, stream_messages, wait_until

BATCHES = 60


class Worker:
    """``smame bus ingest`` of one shard, with its metrics URL."""

    def __init__(self, url: str, root: Path, shard: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smame.cli", "bus", "ingest", "--nats", url, "--data",
             str(root), "--shard", str(shard), "--fetch", "2", "--max-ack-pending", "4",
             "--ack-wait", "5", "--metrics-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.shard = shard
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("metrics on "):
                self.metrics_url = line.split()[-1]
                break
        else:
            raise AssertionError(f"worker {shard} did not start: {self.process.stderr.read()}")

    def metric(self, name: str) -> float:
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        return sum(s.value for family in text_string_to_metric_families(text)
                   for s in family.samples
                   if s.name == name and s.labels.get("shard") == str(self.shard))

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return json.loads(out.splitlines()[-1])


def publisher(url: str, root: Path, first: int, last: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.bus.publish_worker", url, str(root),
                             str(first), str(last)], stdout=subprocess.PIPE, text=True)


def acked_until(process: subprocess.Popen, batch: int) -> None:
    """Read the publisher's acks up to (and including) ``batch``."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == f"acked {batch}":
            return
    raise AssertionError(f"the publisher ended before batch {batch} was acknowledged")


def finished(process: subprocess.Popen) -> list[int]:
    out, _ = process.communicate(timeout=180)
    assert process.returncode == 0
    return [int(line.split()[1]) for line in out.splitlines()]


def test_no_acknowledged_reading_is_lost_or_duplicated(tmp_path):
    root = tmp_path / "deployment"
    shard_map = ShardMap.even(2, int(METERS[0]), len(METERS))
    shard_map.save(root)
    server = LocalNats(tmp_path / "nats")
    url = server.start()
    workers = [Worker(url, root, k) for k in range(2)]
    try:
        # 1. An ingest worker killed while batches keep coming; a new one takes over.
        first = publisher(url, root, 0, 25)
        wait_until(lambda: workers[0].metric("smame_ingest_batches_total") >= 2, 120,
                   "worker 0 to commit its first messages")
        workers[0].process.kill()
        workers[0].process.wait()
        acked = finished(first)
        assert acked[-1] == 24
        workers[0] = Worker(url, root, 0)

        # 2. The NATS server killed while a publisher is publishing, restarted on its store.
        second = publisher(url, root, 25, 40)
        acked_until(second, 28)
        server.kill()
        server = LocalNats(tmp_path / "nats", port=server.port)
        assert server.start() == url
        assert finished(second)[-1] == 39

        # 3. A head-end shard's publisher killed mid-stream; restarted from the first batch
        #    it had not seen acknowledged (which the bus may already hold).
        third = publisher(url, root, 40, BATCHES)
        acked_until(third, 45)
        third.kill()
        out, _ = third.communicate()
        last_acked = max([45, *(int(line.split()[1]) for line in out.splitlines())])
        assert finished(publisher(url, root, last_acked + 1, BATCHES))[-1] == BATCHES - 1

        for shard in range(2):
            wait_until(lambda shard=shard: consumer_drained(url, shard), 180,
                       f"shard {shard}'s consumer to drain")
        assert stream_messages(url) == 0  # a work queue: every message acknowledged
        totals = [worker.stop() for worker in workers]
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
        server.stop()

    assert all(t["poison"] == 0 and t["failures"] == 0 for t in totals)
    source = pa.concat_tables([source_batch(k) for k in range(BATCHES)])
    for shard, expected in shard_map.split(source).items():
        with Mdms(ShardMap.directory(root, shard)) as mdms:
            received = mdms.readings(kind=IMD, current=False)
        assert received.num_rows == expected.num_rows  # none duplicated
        assert keys(received) == keys(expected)  # none lost, none changed
