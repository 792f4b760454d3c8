"""Distribution topology of a fleet: meters under pole transformers under feeders.

Meters are numbered so that each transformer's meters, and each feeder's transformers,
are contiguous. Outages and voltage follow this tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Topology", "build_topology"]


@dataclass(frozen=True)
class Topology:
    """Which transformer each meter hangs on and which feeder each transformer is on."""

    meter_transformer: npt.NDArray[np.int32]  # (meters,)
    transformer_feeder: npt.NDArray[np.int32]  # (transformers,)
    transformer_first_meter: npt.NDArray[np.int64]  # (transformers + 1,) CSR offsets
    transformer_capacity_w: npt.NDArray[np.float32]  # rated kVA × 1000 (unity pf)
    feeder_first_transformer: npt.NDArray[np.int64]  # (feeders + 1,) CSR offsets
    transformer_area: npt.NDArray[np.int32]  # weather area of each transformer

    @property
    def n_transformers(self) -> int:
        return len(self.transformer_feeder)

    @property
    def n_feeders(self) -> int:
        return len(self.feeder_first_transformer) - 1

    @property
    def n_areas(self) -> int:
        return int(self.transformer_area.max()) + 1 if self.n_transformers else 0

    def meters_of_transformer(self, transformer: int) -> range:
        first = self.transformer_first_meter
        return range(int(first[transformer]), int(first[transformer + 1]))

    def transformers_of_feeder(self, feeder: int) -> range:
        first = self.feeder_first_transformer
        return range(int(first[feeder]), int(first[feeder + 1]))


def build_topology(
    n_meters: int,
    rng: np.random.Generator,
    meters_per_transformer: tuple[int, int] = (4, 16),
    transformers_per_feeder: tuple[int, int] = (120, 260),
    feeders_per_area: int = 40,
) -> Topology:
    """Draw a tree for ``n_meters`` meters.

    Japanese pole transformers (10–50 kVA) serve a handful to about twenty low-voltage
    customers; a 6.6 kV feeder carries a few hundred transformers.
    """
    sizes: list[int] = []
    remaining = n_meters
    while remaining > 0:
        size = int(rng.integers(meters_per_transformer[0], meters_per_transformer[1] + 1))
        sizes.append(min(size, remaining))
        remaining -= sizes[-1]
    tx_sizes = np.array(sizes, np.int64)
    n_tx = len(tx_sizes)
    first_meter = np.concatenate(([0], np.cumsum(tx_sizes)))
    meter_tx = np.repeat(np.arange(n_tx, dtype=np.int32), tx_sizes)

    feeder_sizes: list[int] = []
    remaining = n_tx
    while remaining > 0:
        size = int(rng.integers(transformers_per_feeder[0], transformers_per_feeder[1] + 1))
        feeder_sizes.append(min(size, remaining))
        remaining -= feeder_sizes[-1]
    first_tx = np.concatenate(([0], np.cumsum(feeder_sizes))).astype(np.int64)
    tx_feeder = np.repeat(np.arange(len(feeder_sizes), dtype=np.int32), feeder_sizes)

    # Rated power sized to the customers served: about 1.5–2.5 kVA per customer, 10–50 kVA.
    per_customer = rng.uniform(1.5, 2.5, n_tx)
    standard = np.array([10, 15, 20, 30, 50], np.float32)
    wanted = np.clip(tx_sizes * per_customer, 10, 50)
    capacity = standard[np.searchsorted(standard, wanted, side="left").clip(0, 4)] * 1000.0
    area = (tx_feeder // feeders_per_area).astype(np.int32)
    return Topology(meter_tx, tx_feeder, first_meter, capacity.astype(np.float32), first_tx, area)
