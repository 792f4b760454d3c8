"""Helpers of the bus tests: source batches, waiting on conditions, reading the stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import nats
import numpy as np
import pyarrow as pa
from prometheus_client import REGISTRY

from smame.bus.stream import STREAM, durable_name
from smame.readings import make_batch

START = 1_782_831_600  # 2026-07-01 00:00 JST
FIRST_METER = 100_000_001


def slot_batch(meters: np.ndarray, slot: int, seed: int) -> pa.Table:
    """One 30-minute slot of import energy (140) and its register (100) for ``meters``."""
    rng = np.random.default_rng(seed)
    end = START + 1800 * (slot + 1)
    energy = rng.integers(0, 90, len(meters))
    return pa.concat_tables([make_batch(meters, end, 140, energy),
                             make_batch(meters, end, 100, 10_000 * slot + energy)])


def keys(table: pa.Table) -> set[tuple[int, int, int, int]]:
    """(meter, channel, interval_end seconds, value) of each row."""
    seconds = table.column("interval_end").cast(pa.int64()).to_pylist()
    return set(zip(table.column("meter_id").to_pylist(), table.column("channel").to_pylist(),
                   seconds, table.column("value").to_pylist(), strict=True))


def wait_until(condition: Callable[[], object], timeout_s: float = 60.0,
               what: str = "the condition") -> object:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def consumer_drained(url: str, shard: int) -> bool:
    """Whether shard ``shard``'s consumer has nothing pending and nothing unacknowledged."""

    async def check() -> bool:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().consumer_info(STREAM, durable_name(shard))
        except nats.js.errors.NotFoundError:
            return False
        finally:
            await nc.close()
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0

    return asyncio.run(check())


def stream_messages(url: str) -> int:
    async def count() -> int:
        nc = await nats.connect(url)
        try:
            return int((await nc.jetstream().stream_info(STREAM)).state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
