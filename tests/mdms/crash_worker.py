"""Ingest a fixed sequence of batches, printing an ack line after each committed one.

Run by test_reliability.py as a subprocess that is killed with SIGKILL at random points:
``python -m tests.mdms.crash_worker DATA_DIR [FAULT_STEP FAULT_AT]`` kills itself at a
commit step of the FAULT_AT-th commit when asked.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pyarrow as pa

from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.readings import make_batch
from tests.mdms.helpers import START, slot_end

BATCHES = 36
METERS = 150


def batches() -> list[pa.Table]:
    """Slots with interval and register values; every 5th batch repeats the one before,
    every 7th revises ten values of an earlier slot."""
    rng = np.random.default_rng(11)
    meters = np.arange(1, METERS + 1)
    register = rng.integers(0, 10**8, METERS)
    out = []
    for k in range(BATCHES):
        if k % 5 == 4:
            out.append(out[-1])
            continue
        if k % 7 == 6:
            out.append(make_batch(meters[:10], slot_end(1 + k // 2), 140, 1000 + k))
            continue
        values = rng.integers(0, 80, METERS)
        register = (register + values) % 10**8
        slot = slot_end(1 + k)
        out.append(pa.concat_tables([make_batch(meters, slot, 140, values),
                                     make_batch(meters, slot, 100, register)]))
    return out


def main() -> None:
    data = sys.argv[1]
    step = sys.argv[2] if len(sys.argv) > 3 else None
    fault_at = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    commits = [0]

    def fault(point: str) -> None:
        if point != step:
            return
        if commits[0] == fault_at:
            os.kill(os.getpid(), signal.SIGKILL)
        commits[0] += 1

    with Mdms(data, clock=SimulatedClock(START + 30 * 86400)) as mdms:
        mdms.store.fault = fault
        for index, batch in enumerate(batches()):
            result = mdms.ingest(batch, source_name=f"batch-{index}")
            print(f"ack {index} {result.fingerprint}", flush=True)


if __name__ == "__main__":
    main()
