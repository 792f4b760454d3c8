"""Conversions between reading batches (Arrow) and sorted numpy columns (:class:`Rows`)."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from smame.mdms.vee.validate import Rows
from smame.readings import SCHEMA, validate_batch
from smame.store.measurements import sort_readings, ts_seconds

__all__ = ["batch_rows", "dedupe_keys", "fingerprint", "rows_table"]

_TS = pa.timestamp("s", tz="UTC")


def fingerprint(batch: pa.Table) -> str:
    """Content hash of a reading batch: the same rows in the same order, the same hash."""
    digest = hashlib.sha256()  # hardware-accelerated on current CPUs: the fastest here
    digest.update(np.int64(batch.num_rows).tobytes())
    for name in SCHEMA.names:
        column = batch.column(name)
        array = ts_seconds(column) if name == "interval_end" else column.to_numpy()
        digest.update(np.ascontiguousarray(array))
    return digest.hexdigest()[:32]


def batch_rows(batch: pa.Table, validated: bool = False) -> Rows:
    """A reading batch as :class:`Rows`, sorted by meter, channel, time (stable).

    The batch is checked with ``validate_batch`` unless ``validated`` says it has been.
    """
    if not validated:
        batch = validate_batch(batch)
    meter = batch.column("meter_id").to_numpy()
    channel = batch.column("channel").to_numpy()
    t = ts_seconds(batch.column("interval_end"))
    order = sort_readings(meter, channel, t)
    rows = Rows(meter, t, channel, batch.column("value").to_numpy(),
                batch.column("quality").to_numpy(), batch.column("source").to_numpy())
    if order.size and not np.all(order[1:] > order[:-1]):
        rows = rows.take(order)
    return rows


def dedupe_keys(rows: Rows) -> tuple[Rows, np.ndarray]:
    """Keep the last row of each (meter, channel, time) key; flag keys whose rows disagree.

    Returns the kept rows and, per kept row, whether its key had disagreeing duplicates.
    """
    n = len(rows)
    if n < 2:
        return rows, np.zeros(n, np.bool_)
    same = ((rows.meter[1:] == rows.meter[:-1]) & (rows.channel[1:] == rows.channel[:-1])
            & (rows.t[1:] == rows.t[:-1]))
    if not same.any():
        return rows, np.zeros(n, np.bool_)
    differ = same & ((rows.value[1:] != rows.value[:-1]) | (rows.quality[1:] != rows.quality[:-1]))
    group = np.cumsum(np.r_[True, ~same]) - 1
    conflict_group = np.zeros(int(group[-1]) + 1, np.bool_)
    conflict_group[group[1:][differ]] = True
    keep = np.r_[~same, True]
    return rows.take(np.flatnonzero(keep)), conflict_group[group[keep]]


def rows_table(rows: Rows, quality: np.ndarray | None = None,
               reasons: np.ndarray | None = None,
               received_quality: np.ndarray | None = None) -> pa.Table:
    """Rows as an Arrow table: the batch schema, plus ``reasons`` (measurements) and
    ``received_quality`` (a shared ingest file: ``smame.store.layout.INGEST_SCHEMA``)
    when given."""
    arrays = {
        "meter_id": pa.array(rows.meter, pa.int64()),
        "interval_end": pa.array(rows.t, pa.int64()).view(_TS),
        "channel": pa.array(rows.channel, pa.uint16()),
        "value": pa.array(rows.value, pa.int64()),
        "quality": pa.array(rows.quality if quality is None else quality, pa.uint16()),
        "source": pa.array(rows.source, pa.uint8()),
    }
    if reasons is not None:
        arrays["reasons"] = pa.array(reasons, pa.uint32())
    if received_quality is not None:
        arrays["received_quality"] = pa.array(received_quality, pa.uint16())
    return pa.table(arrays)
