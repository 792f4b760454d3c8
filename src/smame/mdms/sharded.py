"""A sharded MDMS deployment: N ordinary data directories by meter range (issue 13, SPEC S1/S5).

A deployment root holds ``shards.json`` (the :class:`~smame.mdms.shards.ShardMap`) and one
:class:`~smame.mdms.service.Mdms` data directory per shard, ``root/shard-kkk``, each
partitioned by JST day inside as usual. :class:`ShardedMdms` is the small facade in front of
them: ingest splits a batch's rows by the shard owning their meter, and a query for a meter
goes to that meter's shard only. Shards are opened when first used and kept open, so one
facade holds each shard's catalog lock; batch jobs that run per shard on other processes
(``smame.batch``) open one shard each instead of a facade.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from smame.clock import Clock
from smame.mdms.seed import seed_registry, simulation_inputs
from smame.mdms.service import IngestResult, Mdms
from smame.mdms.shards import SHARD_MAP_FILE, ShardMap
from smame.readings import SCHEMA
from smame.store.catalog import CATALOG_FILE
from smame.store.layout import MEAS

__all__ = ["DERIVED_ID_STEP", "ShardedIngest", "ShardedMdms", "is_sharded_root",
           "owner_meter_ids"]

DERIVED_ID_STEP = 1_000_000_000
"""Joint meters (gas 5·10⁹ + host, water 6·10⁹ + host: SPEC S13) and sub-meters (EV 7·10⁹ +
main, PV 8·10⁹ + main: SPEC S12) take their id from the electricity meter they hang off."""
_DERIVED_FROM = 5 * DERIVED_ID_STEP


def owner_meter_ids(meter_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The electricity meter whose shard keeps each id: the id itself, or for a joint meter
    or sub-meter (ids from 5·10⁹, SPEC S12/S13) the host meter it is numbered after."""
    ids = np.asarray(meter_ids, dtype=np.int64)
    return np.where(ids >= _DERIVED_FROM, ids % DERIVED_ID_STEP, ids)


def is_sharded_root(path: Path) -> bool:
    """Whether ``path`` is a sharded deployment root (it has a shard map)."""
    return (path / SHARD_MAP_FILE).is_file()


@dataclass
class ShardedIngest:
    """What a sharded ingest did: (shard, :class:`IngestResult`) of each part ingested."""

    parts: list[tuple[int, IngestResult]] = field(default_factory=list)

    @property
    def received(self) -> int:
        return sum(r.received for _, r in self.parts)

    @property
    def stored(self) -> int:
        return sum(r.stored for _, r in self.parts)


class ShardedMdms:
    """The MDMS of a sharded deployment root: routes ingest and queries by meter range."""

    def __init__(self, root: Path | str, clock: Clock | None = None) -> None:
        self.root = Path(root)
        self.map = ShardMap.load(self.root)
        self.clock = clock
        self._open: dict[int, Mdms] = {}

    @classmethod
    def create(cls, root: Path | str, shard_map: ShardMap, clock: Clock | None = None
               ) -> ShardedMdms:
        """A new deployment root: the shard map saved and every shard's store created.
        Refuses a root that already holds a shard map or an unsharded store."""
        root = Path(root)
        if (root / SHARD_MAP_FILE).exists():
            raise ValueError(f"{root} already has a shard map ({SHARD_MAP_FILE})")
        if (root / CATALOG_FILE).exists():
            raise ValueError(f"{root} is an unsharded MDMS store, not a deployment root")
        shard_map.save(root)
        sharded = cls(root, clock)
        for shard in range(shard_map.shards):
            sharded.shard(shard)
        return sharded

    def directory(self, shard: int) -> Path:
        return ShardMap.directory(self.root, shard)

    def shard(self, shard: int) -> Mdms:
        """Shard ``shard``'s MDMS, opened on first use."""
        if not 0 <= shard < self.map.shards:
            raise ValueError(f"no shard {shard} (the map has {self.map.shards})")
        if shard not in self._open:
            self._open[shard] = Mdms(self.directory(shard), clock=self.clock)
        return self._open[shard]

    def shard_of_meter(self, meter_id: int) -> int:
        return int(self.map.shard_of(owner_meter_ids([meter_id]))[0])

    def close(self) -> None:
        for mdms in self._open.values():
            mdms.close()
        self._open.clear()

    def __enter__(self) -> ShardedMdms:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def split(self, table: pa.Table) -> dict[int, pa.Table]:
        """Rows of ``table`` by the shard owning their meter (joint and sub-meters with
        their host); a meter of no shard is a ``ValueError`` before anything is stored."""
        owner = owner_meter_ids(table.column("meter_id").to_numpy())
        keyed = table.append_column("_owner", pa.array(owner, pa.int64()))
        return {k: part.drop_columns(["_owner"])
                for k, part in self.map.split(keyed, "_owner").items()}

    def ingest(self, batch: pa.Table, source_name: str = "", validate: bool = True
               ) -> ShardedIngest:
        """Each shard's rows of ``batch`` into that shard (:meth:`Mdms.ingest`; idempotent
        per shard, so a batch ingested again changes nothing)."""
        result = ShardedIngest()
        for shard, part in self.split(batch).items():
            result.parts.append((shard, self.shard(shard).ingest(part, source_name, validate)))
        return result

    def ingest_events(self, events: pa.Table) -> int:
        return sum(self.shard(k).ingest_events(part) for k, part in self.split(events).items())

    def readings(
        self,
        meter_id: int | Sequence[int],
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        channels: Sequence[int] | None = None,
        current: bool = True,
        kind: str = MEAS,
    ) -> pa.Table:
        """:meth:`Mdms.readings` of the given meters, each asked of the shard owning it;
        sorted by meter like one store's answer."""
        meters = [int(meter_id)] if isinstance(meter_id, int | np.integer) else sorted(
            {int(m) for m in meter_id})
        if not meters:
            raise ValueError("a sharded query names its meters (it routes by meter)")
        owners = self.map.shard_of(owner_meter_ids(meters))
        by_shard: dict[int, list[int]] = {}
        for meter, shard in zip(meters, owners.tolist(), strict=True):
            by_shard.setdefault(int(shard), []).append(meter)
        parts = [self.shard(k).readings(ids, start, end, channels, current, kind)
                 for k, ids in by_shard.items()]
        table = pa.concat_tables(parts)
        if len(parts) == 1:
            return table
        order = np.argsort(table.column("meter_id").to_numpy(), kind="stable")
        return table.take(pa.array(order))

    def seed_registry(self, meters: pa.Table, joint: pa.Table | None, first_day: date) -> None:
        """Each shard's registry seeded with the meters it owns (:func:`seed_registry`;
        idempotent)."""
        for shard, own in self.map.split(meters).items():
            seed_registry(self.shard(shard).registry, own, joint, first_day)

    def ingest_simulation(self, out_dir: Path | str, validate: bool = True) -> ShardedIngest:
        """A fleet simulation directory (as :func:`smame.mdms.seed.ingest_simulation`): each
        shard's registry seeded with its meters, then events and readings routed by meter."""
        out = Path(out_dir)
        sim = simulation_inputs(out)
        reading_files = sim.reading_files
        self.seed_registry(sim.meters, sim.joint, sim.first_day)
        for path in sorted((out / "events").glob("date=*/*.parquet")):
            self.ingest_events(pq.read_table(path))
        result = ShardedIngest()
        for path in reading_files:
            source = str(path.relative_to(out))
            result.parts += self.ingest(pq.read_table(path).cast(SCHEMA), source,
                                        validate).parts
        return result
