"""Where the head-end's readings go: reading batches through a sink (SPEC S1).

Readings leave the head-end only as reading batches (``smame.readings.SCHEMA``). A sink is
any callable that takes one; :class:`ParquetSink` writes them to a directory of Parquet
files, one per call, atomically (written under a temporary name, then renamed), so a crash
never leaves half a file. The MDMS provides its own sink.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smame.clock import JST_OFFSET_S
from smame.readings import concat_batches, validate_batch

__all__ = ["MemorySink", "ParquetSink", "ReadingSink"]



class ReadingSink(Protocol):
    def __call__(self, batch: pa.Table) -> None: ...


class ParquetSink:
    """Reading batches as Parquet files under ``root/date=YYYY-MM-DD/`` (JST day of the end)."""

    def __init__(self, root: Path, prefix: str = "hes") -> None:
        self.root = root
        self.prefix = prefix
        self._sequence = itertools.count()
        self.rows = 0

    def __call__(self, batch: pa.Table) -> None:
        batch = validate_batch(batch)
        if not batch.num_rows:
            return
        seconds = batch.column("interval_end").cast(pa.int64())
        # The interval ending at 24:00 belongs to the day it closes.
        day_number = pc.divide(pc.add(seconds, JST_OFFSET_S - 1), 86_400)
        for day in pc.unique(day_number).to_pylist():
            part = batch.filter(pc.equal(day_number, day))
            date = (pa.scalar(day * 86_400, pa.timestamp("s"))).as_py().date().isoformat()
            directory = self.root / f"date={date}"
            directory.mkdir(parents=True, exist_ok=True)
            name = f"{self.prefix}-{os.getpid()}-{next(self._sequence):08d}.parquet"
            temporary = directory / f".{name}.tmp"
            pq.write_table(part, temporary, compression="zstd")
            os.replace(temporary, directory / name)
            self.rows += part.num_rows


class MemorySink:
    """Keeps batches in memory: for tests and the demo."""

    def __init__(self) -> None:
        self.batches: list[pa.Table] = []

    def __call__(self, batch: pa.Table) -> None:
        self.batches.append(validate_batch(batch))

    def table(self) -> pa.Table:
        return concat_batches(self.batches)
