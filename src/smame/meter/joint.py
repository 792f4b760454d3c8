"""Gas and water meters attached to electricity meters and relayed by them (SPEC M9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from smame.meter.emitter import BatchEmitter
from smame.readings import Period, Quantity, channel_code
from smame.registers import REGISTER_MODULUS

if TYPE_CHECKING:
    from smame.meter.fleet import Fleet

__all__ = ["GAS", "WATER", "JointMeters", "joint_day_shape"]

GAS, WATER = 0, 1
HELD_HOURS = 45 * 24  # hourly readings a gas/water meter keeps for its host to relay


def joint_day_shape() -> npt.NDArray[np.float32]:
    """Share of a day's gas and water use in each local minute (sums to 1 per row)."""
    hours = np.arange(1440) / 60.0
    gas = (0.2 + np.exp(-((hours - 7.0) ** 2) / 1.5) + 2.2 * np.exp(-((hours - 20.5) ** 2) / 2.0)
           + 0.6 * np.exp(-((hours - 12.0) ** 2) / 1.0))
    water = (0.1 + 1.5 * np.exp(-((hours - 7.0) ** 2) / 1.2) + np.exp(-((hours - 12.5) ** 2) / 2)
             + 1.8 * np.exp(-((hours - 20.5) ** 2) / 2.5))
    shape = np.stack((gas, water))
    return (shape / shape.sum(axis=1, keepdims=True)).astype(np.float32)


class JointMeters:
    """Gas and water meters attached to electricity meters, relayed by them (SPEC M9)."""

    def __init__(self, fleet: Fleet, rng: np.random.Generator) -> None:
        cfg = fleet.config
        n = fleet.n
        homes = ~fleet.traits.three_phase
        gas_hosts = np.flatnonzero((rng.random(n) < cfg.gas_share) & homes)
        water_hosts = np.flatnonzero((rng.random(n) < cfg.water_share) & homes)
        self.host = np.concatenate((gas_hosts, water_hosts)).astype(np.int64)
        self.kind = np.concatenate((np.full(gas_hosts.size, GAS, np.int8),
                                    np.full(water_hosts.size, WATER, np.int8)))
        # Own serial numbers: gas 5xxxxxxxxx, water 6xxxxxxxxx, after the host's id.
        self.meter_id = np.where(self.kind == GAS, 5_000_000_000, 6_000_000_000) + (
            fleet.meter_ids[self.host] if self.host.size else 0)
        # Litres per day: gas about 1 m3/day, water about 0.6 m3/day per home.
        daily = np.where(self.kind == GAS, rng.lognormal(np.log(1000), 0.4, self.host.size),
                         rng.lognormal(np.log(600), 0.4, self.host.size))
        self.daily_litres = daily.astype(np.float64)
        self.litres = rng.uniform(0, 5e6, self.host.size)  # registers in 0.001 m3
        self.fleet = fleet
        # Readings waiting for an unpowered host: (interval end s, joint rows, values).
        self._held: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []

    def advance(self, m0: int, width: int, local: int, day_shape: npt.NDArray[np.float32],
                out: BatchEmitter) -> None:
        """Advance the attached meters' registers; relay readings at reporting boundaries.

        ``local`` is the window's first minute of the JST day and ``day_shape`` the share of
        a day's use per local minute (:func:`joint_day_shape`).
        """
        if not self.host.size:
            return
        used = np.cumsum(day_shape[:, local:local + width], axis=1)  # (2, width)
        base = self.litres
        self.litres = base + used[self.kind, -1] * self.daily_litres
        if not self.fleet.config.output.joint:
            return
        interval = self.fleet.config.joint_interval_minutes
        channel = np.where(self.kind == GAS, channel_code(Quantity.GAS_VOLUME, Period.REGISTER),
                           channel_code(Quantity.WATER_VOLUME, Period.REGISTER))
        powered = self.fleet.supplied[self.host]  # the host must be powered to relay
        for col in np.flatnonzero((m0 + np.arange(width) + 1) % interval == 0):
            values = np.floor(base + used[self.kind, col] * self.daily_litres).astype(np.int64)
            values %= REGISTER_MODULUS
            end = (m0 + int(col) + 1) * 60
            out.add(self.meter_id[powered], end, channel[powered], values[powered], 0)
            unpowered = np.flatnonzero(~powered)
            if unpowered.size:
                self._held.append((end, unpowered, values[unpowered]))
        self._relay_held(powered, channel, out)

    def _relay_held(self, powered: npt.NDArray[np.bool_], channel: npt.NDArray[np.uint16],
                    out: BatchEmitter) -> None:
        """Send the readings a gas or water meter kept while its host was unpowered (M9).

        The joint meter runs on its own battery and keeps its hourly readings; the host
        relays them, with their own interval ends, once it is powered again. Readings older
        than :data:`HELD_HOURS` are overwritten in the joint meter's memory.
        """
        if not self._held:
            return
        oldest = self._held[-1][0] - HELD_HOURS * 3600
        still: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        for end, rows, values in self._held:
            if end <= oldest:
                continue
            now = powered[rows]
            out.add(self.meter_id[rows[now]], end, channel[rows[now]], values[now], 0)
            if not now.all():
                still.append((end, rows[~now], values[~now]))
        self._held = still

    def table(self) -> pa.Table:
        """Which gas/water meter hangs on which electricity meter."""
        return pa.table({
            "meter_id": pa.array(self.meter_id, pa.int64()),
            "kind": pa.array(np.where(self.kind == GAS, "gas", "water")),
            "host_meter_id": pa.array(self.fleet.meter_ids[self.host], pa.int64()),
        })
