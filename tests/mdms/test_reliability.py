"""Crashes lose no acknowledged batch and create no duplicate; readers stay consistent."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.readings import make_batch
from smame.store import IMD
from tests.mdms import crash_worker
from tests.mdms.helpers import START, slot_end

ROOT = Path(__file__).resolve().parents[2]
KILLS = 14


def _start(data: Path, *fault: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.mdms.crash_worker", str(data), *fault],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _acks(proc: subprocess.Popen, wanted: int | None) -> list[int]:
    """Read ack lines; with ``wanted``, SIGKILL the worker as soon as that many arrived."""
    acked = []
    assert proc.stdout is not None
    while wanted is None or len(acked) < wanted:
        line = proc.stdout.readline()
        if not line:
            break
        acked.append(int(line.split()[1]))
    if wanted is not None:
        proc.kill()
    proc.communicate()
    return acked


def _check(data: Path, acked: set[int], expected: list[pa.Table]) -> None:
    """The store holds every acknowledged batch, each row once, and no debris."""
    with Mdms(data, clock=SimulatedClock(START + 30 * 86400)) as mdms:
        raw = mdms.readings(current=False, kind=IMD)
        meas = mdms.readings(current=False)
        keys = np.stack([raw.column(c).cast(pa.int64()).to_numpy() for c in
                         ("meter_id", "channel", "interval_end", "value")], axis=1)
        assert len(np.unique(keys, axis=0)) == raw.num_rows, "a row was stored twice"
        assert meas.num_rows == raw.num_rows
        stored = {tuple(k) for k in keys.tolist()}
        for index in acked:
            batch = expected[index]
            rows = np.stack([batch.column(c).cast(pa.int64()).to_numpy() for c in
                             ("meter_id", "channel", "interval_end", "value")], axis=1)
            assert {tuple(r) for r in rows.tolist()} <= stored, f"acked batch {index} lost"
        on_disk = {str(p.relative_to(data)) for p in data.rglob("*.parquet")}
        listed = {r[0] for r in mdms.store.con.execute("SELECT path FROM files").fetchall()}
        assert on_disk == listed
        assert not list(data.rglob("*.tmp"))


def test_sigkill_during_ingest_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(20260701)
    data = tmp_path / "data"
    expected = crash_worker.batches()
    acked: set[int] = set()
    steps = ["staged", "in_transaction", "committed"]
    for kill in range(KILLS):
        if kill % 2:
            proc = _start(data, steps[kill % 3], str(rng.randrange(4)))
            got = _acks(proc, None)
        else:
            proc = _start(data)
            got = _acks(proc, rng.randrange(1, 6))
        acked.update(got)
        _check(data, acked, expected)
    finished = _acks(_start(data), None)
    assert finished == list(range(crash_worker.BATCHES))
    _check(data, set(range(crash_worker.BATCHES)), expected)

    with Mdms(tmp_path / "clean", clock=SimulatedClock(START + 30 * 86400)) as clean:
        for batch in expected:
            clean.ingest(batch)
        reference = clean.readings().drop_columns(["version"])
    with Mdms(data, clock=SimulatedClock(START + 30 * 86400)) as crashed:
        assert crashed.readings().drop_columns(["version"]).equals(reference)


def test_bad_batch_leaves_nothing_half_written(mdms: Mdms) -> None:
    good = make_batch([1, 2], slot_end(1), 140, [1, 2])
    mdms.ingest(good)
    before = sorted(p.name for p in mdms.data_dir.rglob("*.parquet"))

    def boom(step: str) -> None:
        if step == "in_transaction":
            raise RuntimeError("disk full")

    mdms.store.fault = boom
    with pytest.raises(RuntimeError, match="disk full"):
        mdms.ingest(make_batch([1, 2], slot_end(2), 140, [3, 4]))
    mdms.store.fault = lambda step: None
    assert sorted(p.name for p in mdms.data_dir.rglob("*.parquet")) == before
    assert mdms.readings().num_rows == 2
    assert mdms.ingest(make_batch([1, 2], slot_end(2), 140, [3, 4])).stored == 2


def test_readers_see_whole_batches_while_ingest_runs(mdms: Mdms) -> None:
    meters = np.arange(1, 51)
    done = threading.Event()
    failures: list[str] = []
    reads = [0]

    def writer() -> None:
        try:
            for k in range(1, 31):
                mdms.ingest(make_batch(meters, slot_end(k), 140, k))
        finally:
            done.set()

    def reader() -> None:
        while not done.is_set() or reads[0] < 3:
            table = mdms.readings(channels=[140])
            values = table.column("value").to_numpy()
            slots, counts = np.unique(values, return_counts=True)
            if len(slots) and (set(counts.tolist()) != {50}
                               or slots.tolist() != list(range(1, len(slots) + 1))):
                failures.append(f"inconsistent read: {dict(zip(slots, counts, strict=True))}")
            reads[0] += 1

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert reads[0] >= 3
    assert mdms.readings(channels=[140]).num_rows == 50 * 30
