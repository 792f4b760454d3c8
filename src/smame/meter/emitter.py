"""Collects the rows a fleet emits in a window into one reading batch, without copies."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from smame.readings import SCHEMA, Source

__all__ = ["BatchEmitter"]


class BatchEmitter:
    """Collects the rows of a window: concatenated per chunk, one record batch per chunk."""

    def __init__(self) -> None:
        self._parts: list[tuple] = []
        self._batches: list[pa.RecordBatch] = []

    def add(self, meter_ids, end, channels, values, quality) -> None:
        if np.size(meter_ids):
            self._parts.append((meter_ids, end, channels, values, quality))

    def seal(self) -> None:
        """Turn the rows added since the last seal into one record batch."""
        if not self._parts:
            return
        counts = [np.size(part[0]) for part in self._parts]
        total = sum(counts)

        def column(k: int, dtype) -> np.ndarray:
            values = [part[k] for part in self._parts]
            if not any(np.ndim(v) for v in values):  # one scalar per part: end times, flags
                return np.repeat(np.array(values, dtype), counts)
            pieces = [np.asarray(v, dtype) if np.ndim(v) else np.full(count, v, dtype)
                      for v, count in zip(values, counts, strict=True)]
            return np.concatenate(pieces) if len(pieces) > 1 else np.array(pieces[0])

        columns = (column(0, np.int64), column(1, np.int64), column(2, np.uint16),
                   column(3, np.int64), column(4, np.uint16),
                   np.full(total, Source.SIMULATION, np.uint8))
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)]
        self._batches.append(pa.RecordBatch.from_arrays(arrays, schema=SCHEMA))
        self._parts = []

    def table(self) -> pa.Table | None:
        self.seal()
        return pa.Table.from_batches(self._batches, schema=SCHEMA) if self._batches else None
