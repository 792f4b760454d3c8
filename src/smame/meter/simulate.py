"""Run a fleet for whole JST days and write its reading batches and events as Parquet.

Layout under the output directory::

    readings/date=YYYY-MM-DD/readings.parquet   reading batches (smame.readings.SCHEMA)
    events/date=YYYY-MM-DD/events.parquet       meter events (smame.meter.events.EVENT_SCHEMA)
    meters.parquet                              meters: topology, contract, PV, EV
    joint_meters.parquet                        gas/water meters and their host meter
    summary.json                                counts per channel, energy, voltage, events

Parquet is written on a background thread (pyarrow releases the GIL), so writing
overlaps the simulation of the next window.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smame.meter.events import EVENT_SCHEMA, EventKind, events_table
from smame.meter.fleet import Fleet
from smame.meter.profiles import ARCHETYPES, local_day
from smame.readings import CHANNELS, SCHEMA, Period, Quantity

__all__ = ["BatchSummary", "meters_table", "simulate_days"]

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
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
                    self._writers[path] = writer
                writer.write_table(table, row_group_size=2**20)
            except BaseException as exc:  # re-raised on the caller's thread
                self._error = exc
        for writer in self._writers.values():
            writer.close()


def simulate_days(
    fleet: Fleet,
    days: int,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Simulate ``days`` JST days from the fleet's time; write Parquet and summary.json.

    ``progress`` is called with the number of minutes done after each window.
    """
    if days <= 0:
        raise ValueError(f"days must be > 0, got {days}")
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _ParquetThread()
    summary = BatchSummary()
    first_day = local_day(fleet.minute)
    started = time.perf_counter()
    written_days = []
    for offset in range(days):
        day: date = first_day + timedelta(days=offset)
        path = out_dir / "readings" / f"date={day.isoformat()}" / "readings.parquet"

        def sink(batch: pa.Table, path: Path = path) -> None:
            summary.add(batch)
            writer.write(path, batch)

        day_end = fleet.next_day_start()
        while fleet.minute < day_end:
            step = min(30 - fleet.minute % 30, day_end - fleet.minute)
            fleet.advance(step, sink)
            if progress:
                progress(step)
        writer.close(path)
        events = fleet.events.drain()
        summary.add_events([e.kind for e in events])
        event_path = out_dir / "events" / f"date={day.isoformat()}" / "events.parquet"
        event_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(events_table(events), event_path, compression="zstd")
        written_days.append(day.isoformat())
    writer.finish()
    elapsed = time.perf_counter() - started
    pq.write_table(meters_table(fleet), out_dir / "meters.parquet", compression="zstd")
    pq.write_table(fleet.joint_meters(), out_dir / "joint_meters.parquet", compression="zstd")
    result = {
        "meters": fleet.n,
        "days": written_days,
        "seed": fleet.config.seed,
        "elapsed_s": round(elapsed, 2),
        "meter_minutes_per_s": round(fleet.n * days * 1440 / elapsed),
        "schema": {"readings": SCHEMA.metadata[b"smame.schema"].decode(),
                   "events": EVENT_SCHEMA.metadata[b"smame.schema"].decode()},
        **summary.as_dict(),
    }
    (out_dir / "summary.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result
