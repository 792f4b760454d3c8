"""Ingest a fleet simulation's output directory and seed the registry for it.

``smame.meter.simulate.simulate_days`` writes readings, events, ``meters.parquet`` and
``joint_meters.parquet``. The registry gets what a real MDMS would hold for those meters:
topology (feeders, transformers), a synthetic 22-digit service point per meter,
retailers with contracts, balancing groups, sub-meters for EV chargers and PV
inverters, and gas/water companies for the joint meters. All synthetic ids are
deterministic, so seeding twice gives the same registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smame.mdms.service import IngestResult, Mdms
from smame.readings import SCHEMA
from smame.store.registry import Registry, service_point_id

__all__ = [
    "EV_SUB_METER_BASE",
    "PV_SUB_METER_BASE",
    "SeedResult",
    "ingest_simulation",
    "is_simulation_dir",
    "seed_registry",
]

EV_SUB_METER_BASE = 7_000_000_000
PV_SUB_METER_BASE = 8_000_000_000
TEPCO_AREA = 3
RETAILERS = ("R01", "R02", "R03", "R04", "R05")
GROUPS = ("BG1", "BG2")
BATCH_ROWS = 1 << 22


@dataclass
class SeedResult:
    meters_registered: int = 0
    events: int = 0
    batches: list[IngestResult] = field(default_factory=list)

    @property
    def rows_stored(self) -> int:
        return sum(b.stored for b in self.batches)


def seed_registry(registry: Registry, meters: pa.Table, joint: pa.Table | None, first_day: date
                  ) -> int:
    """Register the simulated meters and what hangs off them; return meters added.

    Meters already registered are left alone, so seeding is idempotent.
    """
    ids = meters.column("meter_id").to_numpy()
    known = set(registry.backend.query("SELECT meter_id FROM meters").column(0).to_pylist())
    new = ~np.isin(ids, np.fromiter(known, np.int64, len(known)))
    if not new.any():
        return 0
    meters = meters.filter(pa.array(new))
    ids = meters.column("meter_id").to_numpy()
    sp_ids = [service_point_id(TEPCO_AREA, int(m)) for m in ids]
    transformer = meters.column("transformer").to_numpy().astype(np.int64)
    feeder = meters.column("feeder").to_numpy().astype(np.int64)
    with registry.transaction():
        if not registry.table_count("retailers"):
            registry.load("retailers", {"retailer_id": list(RETAILERS),
                                        "name": [f"Retailer {r}" for r in RETAILERS]})
            registry.load("balancing_groups", {"bg_id": list(GROUPS),
                                               "name": [f"Group {g}" for g in GROUPS]})
            registry.load("retailer_groups", {
                "retailer_id": list(RETAILERS),
                "bg_id": [GROUPS[i % len(GROUPS)] for i in range(len(RETAILERS))],
                "valid_from": [first_day] * len(RETAILERS),
                "valid_to": pa.array([None] * len(RETAILERS), pa.date32())})
        known_feeders = set(registry.backend.query("SELECT feeder_id FROM feeders"
                                                   ).column(0).to_pylist())
        feeders = sorted(set(np.unique(feeder).tolist()) - known_feeders)
        if feeders:
            registry.load("feeders", {"feeder_id": pa.array(feeders, pa.int32()),
                                      "name": [f"F{f:04d}" for f in feeders]})
        known_tx = set(registry.backend.query("SELECT transformer_id FROM transformers"
                                              ).column(0).to_pylist())
        tx, first = np.unique(transformer, return_index=True)
        fresh = ~np.isin(tx, np.fromiter(known_tx, np.int64, len(known_tx)))
        if fresh.any():
            registry.load("transformers", {
                "transformer_id": pa.array(tx[fresh], pa.int32()),
                "feeder_id": pa.array(feeder[first][fresh], pa.int32()),
                "capacity_kva": pa.array(np.full(int(fresh.sum()), np.nan))})
        registry.load("service_points", {
            "sp_id": sp_ids,
            "transformer_id": pa.array(transformer, pa.int32()),
            "voltage": meters.column("service_voltage").cast(pa.int16()),
            "contract_amps": meters.column("contract_amps").cast(pa.int16())})
        registry.load("meters", {
            "meter_id": pa.array(ids, pa.int64()), "sp_id": sp_ids,
            "kind": ["electric"] * ids.size,
            "unit_exponent": meters.column("unit_exponent").cast(pa.int16()),
            "installed": pa.array([first_day] * ids.size, pa.date32())})
        registry.load("supply_contracts", {
            "sp_id": sp_ids,
            "retailer_id": [RETAILERS[int(m) % len(RETAILERS)] for m in ids],
            "valid_from": pa.array([first_day] * ids.size, pa.date32()),
            "valid_to": pa.array([None] * ids.size, pa.date32())})
        ev = ids[meters.column("ev_kw").to_numpy() > 0]
        pv = ids[meters.column("pv_kw").to_numpy() > 0]
        if ev.size or pv.size:
            registry.load("sub_meters", {
                "sub_meter_id": pa.array(np.concatenate((EV_SUB_METER_BASE + ev,
                                                         PV_SUB_METER_BASE + pv)), pa.int64()),
                "main_meter_id": pa.array(np.concatenate((ev, pv)), pa.int64()),
                "kind": ["ev"] * ev.size + ["pv"] * pv.size})
        if joint is not None and joint.num_rows:
            _seed_joint(registry, joint.filter(pc.is_in(joint.column("host_meter_id"),
                                                        pa.array(ids))))
    return int(ids.size)


def _seed_joint(registry: Registry, joint: pa.Table) -> None:
    companies = {"gas": ("GAS01", "Gas company"), "water": ("WATER01", "Water works")}
    known = set(registry.backend.query("SELECT company_id FROM utility_companies"
                                       ).column(0).to_pylist())
    missing = [(cid, kind, name) for kind, (cid, name) in companies.items() if cid not in known]
    if missing:
        registry.load("utility_companies", {"company_id": [m[0] for m in missing],
                                            "kind": [m[1] for m in missing],
                                            "name": [m[2] for m in missing]})
    kinds = joint.column("kind").to_pylist()
    registry.load("joint_meters", {
        "meter_id": joint.column("meter_id"), "kind": kinds,
        "host_meter_id": joint.column("host_meter_id"),
        "company_id": [companies[k][0] for k in kinds]})


def _parts(out: Path, name: str) -> list[Path]:
    """``name.parquet`` or the parts ``name/part-*.parquet`` of a simulation directory."""
    single = out / f"{name}.parquet"
    return [single] if single.exists() else sorted((out / name).glob("*.parquet"))


def _read_all(paths: list[Path]) -> pa.Table | None:
    return pa.concat_tables([pq.read_table(p) for p in paths]) if paths else None


def is_simulation_dir(path: Path) -> bool:
    """Whether ``path`` looks like the output directory of a fleet simulation."""
    return path.is_dir() and (path / "readings").is_dir() and bool(_parts(path, "meters"))


@dataclass(frozen=True)
class SimulationInputs:
    """What a fleet simulation directory holds for the MDMS, its readings left on disk."""

    reading_files: list[Path]  # readings/date=*/*.parquet, in day order
    meters: pa.Table
    joint: pa.Table | None
    first_day: date


def simulation_inputs(out: Path) -> SimulationInputs:
    """The reading files, meters and joint meters of the simulation directory ``out``; a
    ``FileNotFoundError`` when it is not one."""
    reading_files = sorted((out / "readings").glob("date=*/*.parquet"))
    meters = _read_all(_parts(out, "meters"))
    if not reading_files or meters is None:
        raise FileNotFoundError(f"{out} is not a fleet simulation output directory "
                                "(readings/date=*/*.parquet and meters)")
    first_day = date.fromisoformat(reading_files[0].parent.name.removeprefix("date="))
    return SimulationInputs(reading_files, meters, _read_all(_parts(out, "joint_meters")),
                            first_day)


def ingest_simulation(mdms: Mdms, out_dir: Path | str, validate: bool = True,
                      progress: Callable[[IngestResult], None] | None = None) -> SeedResult:
    """Ingest a fleet simulation directory: registry, events, then readings day by day.

    Reads ``readings/date=*/*.parquet``, ``events/date=*/*.parquet`` and the meters and
    joint meters tables (``meters.parquet`` or ``meters/part-*.parquet``).
    """
    out = Path(out_dir)
    sim = simulation_inputs(out)
    reading_files = sim.reading_files
    result = SeedResult()
    result.meters_registered = seed_registry(mdms.registry, sim.meters, sim.joint,
                                             sim.first_day)
    for path in sorted((out / "events").glob("date=*/*.parquet")):
        result.events += mdms.ingest_events(pq.read_table(path))
    for path in reading_files:
        source = str(path.relative_to(out))
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
            table = pa.Table.from_batches([batch]).cast(SCHEMA)
            outcome = mdms.ingest(table, source_name=source, validate=validate)
            result.batches.append(outcome)
            if progress:
                progress(outcome)
    return result
