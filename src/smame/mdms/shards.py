"""MDMS shards by meter range: which data directory owns a meter (issue 13, SPEC S1/S5).

A national MDMS does not fit one process (one serves a few hundred thousand meters), so
meters are split into contiguous id ranges; shard ``k`` owns ``[bounds[k], bounds[k+1])``
and keeps its own data directory ``root/shard-kkk``. Ingest routes a reading batch's rows
to their shards; a query for a meter goes to the one shard that owns it. The map is saved
as ``root/shards.json`` so every process of a deployment routes the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["SHARD_MAP_FILE", "ShardMap"]

SHARD_MAP_FILE = "shards.json"


@dataclass(frozen=True)
class ShardMap:
    """Contiguous meter-id ranges: shard ``k`` owns ids ``bounds[k] <= id < bounds[k + 1]``."""

    bounds: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.bounds) < 2:
            raise ValueError("a shard map needs at least one range (two bounds)")
        if any(b <= a for a, b in zip(self.bounds, self.bounds[1:], strict=False)):
            raise ValueError(f"shard bounds must increase: {list(self.bounds)}")

    @classmethod
    def even(cls, shards: int, first_meter: int, meters: int) -> ShardMap:
        """``shards`` ranges of (nearly) equal size over ``meters`` ids from ``first_meter``."""
        if shards < 1 or meters < shards:
            raise ValueError(f"cannot split {meters} meters into {shards} shards")
        edges = first_meter + (np.arange(shards + 1, dtype=np.int64) * meters) // shards
        return cls(tuple(int(e) for e in edges))

    @property
    def shards(self) -> int:
        return len(self.bounds) - 1

    def range_of(self, shard: int) -> tuple[int, int]:
        """The half-open meter-id range ``[lo, hi)`` shard ``shard`` owns."""
        return self.bounds[shard], self.bounds[shard + 1]

    def shard_of(self, meter_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The shard of each meter id; ``ValueError`` names the first id no shard owns."""
        ids = np.asarray(meter_ids, dtype=np.int64)
        shard = np.searchsorted(np.asarray(self.bounds, dtype=np.int64), ids, side="right") - 1
        outside = (shard < 0) | (shard >= self.shards)
        if outside.any():
            raise ValueError(f"meter {int(ids[outside][0])} is in no shard "
                             f"({self.bounds[0]}..{self.bounds[-1] - 1})")
        return shard.astype(np.int64)

    def split(self, table: pa.Table, column: str = "meter_id") -> dict[int, pa.Table]:
        """The rows of ``table`` by the shard owning their meter, shards with no rows left out."""
        shard = self.shard_of(table.column(column).to_numpy())
        parts: dict[int, pa.Table] = {}
        for k in np.unique(shard):
            parts[int(k)] = table.filter(pc.equal(pa.array(shard), int(k)))
        return parts

    @staticmethod
    def directory(root: Path, shard: int) -> Path:
        """The data directory of shard ``shard`` under the deployment's ``root``."""
        return root / f"shard-{shard:03d}"

    def save(self, root: Path) -> Path:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = root / SHARD_MAP_FILE
        path.write_text(json.dumps({"bounds": list(self.bounds)}) + "\n")
        return path

    @classmethod
    def load(cls, root: Path) -> ShardMap:
        path = root / SHARD_MAP_FILE
        try:
            bounds = json.loads(path.read_text())["bounds"]
        except FileNotFoundError:
            raise ValueError(f"{path}: no shard map (not a sharded deployment)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a shard map: {exc}") from None
        return cls(tuple(int(b) for b in bounds))
