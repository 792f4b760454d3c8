"""A head-end shard's publisher for the crash tests: batches FIRST..LAST-1 onto the bus.

``python -m tests.bus.publish_worker URL ROOT FIRST LAST`` publishes
:func:`source_batch` ``k`` for each ``k`` with ``BusPublisher`` (the shard map in ROOT) and
prints ``acked k`` once the bus has acknowledged it: the head-end's point of forgetting.
The test kills it with SIGKILL and starts it again from the first batch not acknowledged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

from smame.bus.publisher import BusPublisher
from smame.mdms.shards import ShardMap
from tests.bus.support import FIRST_METER, slot_batch

METERS = np.arange(FIRST_METER, FIRST_METER + 300)


def source_batch(k: int) -> pa.Table:
    """Slot ``k`` of the 300 meters; every batch holds keys of its own slot only."""
    return slot_batch(METERS, k, seed=k)


def main() -> None:
    url, root, first, last = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with BusPublisher(url, ShardMap.load(root)) as publisher:
        for k in range(first, last):
            publisher(source_batch(k))
            print(f"acked {k}", flush=True)


if __name__ == "__main__":
    main()
