"""Run a fleet for whole JST days and write its reading batches and events as Parquet.

Layout under the output directory (one part per shard)::

    readings/date=YYYY-MM-DD/part-NNNN.parquet  reading batches (smame.readings.SCHEMA)
    events/date=YYYY-MM-DD/part-NNNN.parquet    meter events (smame.meter.events.EVENT_SCHEMA)
    meters/part-NNNN.parquet                    meters: topology, contract, PV, EV
    joint_meters/part-NNNN.parquet              gas/water meters and their host meter
    summary.json                                counts per channel, energy, voltage, events

A national fleet runs as shards of at most a few million meters (bounded memory), in one
process or several. Parquet is written on a background thread (pyarrow releases the GIL),
so writing overlaps the simulation of the next window.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smame.meter.config import FleetConfig
from smame.meter.events import EVENT_SCHEMA, EventKind, events_table
from smame.meter.fleet import Fleet
from smame.meter.profiles import ARCHETYPES, local_day
from smame.readings import CHANNELS, SCHEMA, Period, Quantity

__all__ = ["BatchSummary", "meters_table", "shard_configs", "simulate"]

DEFAULT_SHARD_METERS = 2_000_000  # about 1.6 GB of peak memory per shard
VOLTAGE_BANDS_DECIVOLT = {100: (950, 1070), 200: (1820, 2220)}  # 101±6 V, 202±20 V


class BatchSummary:
    """Running totals over reading batches: rows per channel, energy, voltage in band."""

    def __init__(self) -> None:
        self.rows = np.zeros(max(CHANNELS) + 1, np.int64)
        self.sums = np.zeros(max(CHANNELS) + 1, np.int64)
        self.voltage_values = {100: 0, 200: 0}
        self.voltage_in_band = {100: 0, 200: 0}
        self.events: Counter[str] = Counter()

    def add(self, batch: pa.Table) -> None:
        channel = batch.column("channel").to_numpy()
        value = batch.column("value").to_numpy()
        self.rows += np.bincount(channel, minlength=self.rows.size)
        self.sums += np.bincount(channel, weights=value, minlength=self.sums.size).astype(np.int64)
        volts = value[channel == 420]
        volts = volts[volts > 0]  # 0 means no supply during the whole interval
        for nominal, (low, high) in VOLTAGE_BANDS_DECIVOLT.items():
            in_class = volts[(volts >= 1500) == (nominal == 200)]
            self.voltage_values[nominal] += int(in_class.size)
            self.voltage_in_band[nominal] += int(((in_class >= low) & (in_class <= high)).sum())

    def merge(self, other: BatchSummary) -> None:
        self.rows += other.rows
        self.sums += other.sums
        for nominal in self.voltage_values:
            self.voltage_values[nominal] += other.voltage_values[nominal]
            self.voltage_in_band[nominal] += other.voltage_in_band[nominal]
        self.events.update(other.events)

    def add_events(self, kinds: list[EventKind]) -> None:
        self.events.update(kind.name for kind in kinds)

    def energy_kwh(self, quantity: Quantity) -> float:
        """Energy of the transmitted (30- and 15-minute) intervals of a quantity, in kWh."""
        total = 0.0
        for code, info in CHANNELS.items():
            if info.quantity is quantity and info.period in (Period.MIN30, Period.MIN15):
                total += float(self.sums[code]) * 10.0**info.unit_exponent
        return total

    def as_dict(self) -> dict:
        channels = {
            str(code): {"name": CHANNELS[code].name, "unit": CHANNELS[code].unit,
                        "rows": int(self.rows[code])}
            for code in np.flatnonzero(self.rows)
        }
        voltage = {
            f"{nominal}V": {
                "values": self.voltage_values[nominal],
                "within_band_share": (self.voltage_in_band[nominal] / self.voltage_values[nominal]
                                      if self.voltage_values[nominal] else None),
            }
            for nominal in (100, 200)
        }
        return {
            "rows": int(self.rows.sum()),
            "channels": channels,
            "energy_kwh": {
                "import": round(self.energy_kwh(Quantity.ACTIVE_IMPORT), 2),
                "export": round(self.energy_kwh(Quantity.ACTIVE_EXPORT), 2),
            },
            "voltage": voltage,
            "events": dict(sorted(self.events.items())),
        }


def meters_table(fleet: Fleet) -> pa.Table:
    """One row per meter: ids, topology and the traits that shape its data."""
    topo = fleet.topology
    names = np.array([a.name for a in ARCHETYPES])
    return pa.table({
        "meter_id": fleet.meter_ids,
        "transformer": topo.meter_transformer,
        "feeder": topo.transformer_feeder[topo.meter_transformer],
        "archetype": names[fleet.traits.archetype],
        "contract_amps": fleet.limit_a.astype(np.int16),
        "pv_kw": fleet.traits.pv_kw,
        "ev_kw": fleet.traits.ev_kw,
        "service_voltage": np.where(fleet.traits.three_phase, 200, 100).astype(np.int16),
        "unit_exponent": fleet.unit_exponent,
        "five_minute_group": fleet.five_minute,
    })


# Dictionary-encode only the columns of few distinct values: on meter ids, times and
# values the encoder's attempt costs a third of the writing time and makes larger files.
DICTIONARY_COLUMNS = ["channel", "quality", "source"]


class _ParquetThread:
    """Writes tables to Parquet files on one background thread, in order."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._writers: dict[Path, pq.ParquetWriter] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self._thread.start()

    def write(self, path: Path, table: pa.Table) -> None:
        if self._error:
            raise self._error
        self._queue.put((path, table))

    def close(self, path: Path | None = None) -> None:
        self._queue.put((path, None))

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error:
                continue
            path, table = item
            try:
                if table is None:
                    writer = self._writers.pop(path, None)
                    if writer:
                        writer.close()
                    continue
                writer = self._writers.get(path)
                if writer is None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd",
                                              use_dictionary=DICTIONARY_COLUMNS)
                    self._writers[path] = writer
                writer.write_table(table, row_group_size=2**20)
            except BaseException as exc:  # re-raised on the caller's thread
                self._error = exc
        for writer in self._writers.values():
            writer.close()


def _simulate_shard(
    config: FleetConfig,
    days: int,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
    write_readings: bool = True,
) -> tuple[BatchSummary, list[str]]:
    """Simulate one shard for ``days`` JST days; its files are ``part-<shard>.parquet``."""
    fleet = Fleet(config)
    part = f"part-{config.shard:04d}.parquet"
    writer = _ParquetThread()
    summary = BatchSummary()
    first_day = local_day(fleet.minute)
    written_days = []
    for offset in range(days):
        day: date = first_day + timedelta(days=offset)
        path = out_dir / "readings" / f"date={day.isoformat()}" / part

        def sink(batch: pa.Table, path: Path = path) -> None:
            summary.add(batch)
            if write_readings:
                writer.write(path, batch)

        day_end = fleet.next_day_start()
        while fleet.minute < day_end:
            step = min(30 - fleet.minute % 30, day_end - fleet.minute)
            fleet.advance(step, sink)
            if progress:
                progress(step * fleet.n)
        writer.close(path)
        events = fleet.events.drain()
        summary.add_events([e.kind for e in events])
        event_path = out_dir / "events" / f"date={day.isoformat()}" / part
        event_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(events_table(events), event_path, compression="zstd")
        written_days.append(day.isoformat())
    writer.finish()
    for name, table in (("meters", meters_table(fleet)), ("joint_meters", fleet.joint_meters())):
        (out_dir / name).mkdir(exist_ok=True)
        pq.write_table(table, out_dir / name / part, compression="zstd")
    return summary, written_days


def _shard_job(job: tuple[FleetConfig, int, Path, bool]) -> tuple[BatchSummary, list[str], int]:
    config, days, out_dir, write_readings = job
    summary, written = _simulate_shard(config, days, out_dir, None, write_readings)
    return summary, written, config.meters


def shard_configs(config: FleetConfig, shard_meters: int) -> list[FleetConfig]:
    """Split a fleet into shards of at most ``shard_meters`` meters with their own ids.

    Shards are independent feeders' worth of meters: same weather, their own households.
    """
    if shard_meters <= 0:
        raise ValueError("shard size must be > 0")
    count = -(-config.meters // shard_meters)
    sizes = [config.meters // count + (k < config.meters % count) for k in range(count)]
    first_ids = [config.first_meter_id + sum(sizes[:k]) for k in range(count)]
    return [replace(config, meters=size, shard=k, first_meter_id=first)
            for k, (size, first) in enumerate(zip(sizes, first_ids, strict=True))]


def simulate(
    config: FleetConfig,
    days: int,
    out_dir: Path,
    shard_meters: int = DEFAULT_SHARD_METERS,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    write_readings: bool = True,
) -> dict:
    """Simulate ``days`` JST days of a fleet; write Parquet parts and summary.json.

    Fleets larger than ``shard_meters`` run as shards, so memory stays bounded at national
    scale; ``workers`` processes run shards in parallel. ``progress`` receives meter-minutes.
    Without ``write_readings`` only events, meters and the summary are written (a national
    day of readings is about 90 GB of Parquet).
    """
    if days <= 0:
        raise ValueError(f"days must be > 0, got {days}")
    if workers <= 0:
        raise ValueError(f"workers must be > 0, got {workers}")
    out_dir.mkdir(parents=True, exist_ok=True)
    shards = shard_configs(config, shard_meters)
    summary = BatchSummary()
    started = time.perf_counter()
    days_written: list[str] = []
    if workers == 1 or len(shards) == 1:
        for shard in shards:
            part, days_written = _simulate_shard(shard, days, out_dir, progress, write_readings)
            summary.merge(part)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(workers, len(shards))) as pool:
            jobs = [(shard, days, out_dir, write_readings) for shard in shards]
            for part, written, meters in pool.imap_unordered(_shard_job, jobs):
                summary.merge(part)
                days_written = written
                if progress:
                    progress(meters * days * 1440)
    elapsed = time.perf_counter() - started
    result = {
        "meters": config.meters,
        "shards": len(shards),
        "workers": min(workers, len(shards)),
        "days": days_written,
        "seed": config.seed,
        "elapsed_s": round(elapsed, 2),
        "meter_minutes_per_s": round(config.meters * days * 1440 / elapsed),
        "schema": {"readings": SCHEMA.metadata[b"smame.schema"].decode(),
                   "events": EVENT_SCHEMA.metadata[b"smame.schema"].decode()},
        **summary.as_dict(),
    }
    (out_dir / "summary.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result
