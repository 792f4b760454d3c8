"""The distribution grid under the meters: a synthetic 6.6 kV feeder with its pole
transformers and low-voltage service, solved by AC load flow (pandapower) per 30-minute
interval to give the energy at the feeder head and at each transformer, technical losses
included, plus non-technical losses (unmetered use) at a configurable share (SPEC A3).

Each feeder is a trunk from the substation bus with laterals of up to ``lateral_size``
transformers; each transformer feeds one low-voltage line to a bus carrying its meters' net
demand. Single-phase three-wire 100/200 V service is modelled as balanced 200 V three-phase
with the same power: the energy balance holds, the losses are indicative. Energies are Wh.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandapower as pp

from smame.readings import CHANNEL_MINUTES, CHANNEL_QUANTITY, CHANNEL_SCALE, Quantity

__all__ = ["FeederFlows", "GridParams", "build_feeder", "interval_demand", "simulate_flows"]


@dataclass(frozen=True, slots=True)
class GridParams:
    """The synthetic network (docs/analytics.md gives the sources and the choices)."""

    mv_kv: float = 6.6
    lv_kv: float = 0.2
    trunk_km: float = 0.25
    """Trunk length between laterals."""
    trunk_r_ohm_km: float = 0.15
    trunk_x_ohm_km: float = 0.33
    lateral_km: float = 0.04
    """Lateral length between pole transformers."""
    lateral_r_ohm_km: float = 0.6
    lateral_x_ohm_km: float = 0.38
    lateral_size: int = 10
    transformer_kva: float = 30
    transformer_vk_percent: float = 2.5
    transformer_vkr_percent: float = 1.5
    transformer_iron_kw: float = 0.06
    transformer_i0_percent: float = 0.3
    lv_km: float = 0.1
    lv_r_ohm_km: float = 0.4
    lv_x_ohm_km: float = 0.3
    power_factor: float = 0.95
    non_technical_share: float = 0.0
    """Unmetered use at each transformer, as a share of its meters' import."""
    substation_pu: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.non_technical_share < 1:
            raise ValueError("non_technical_share must be within 0–1")
        if not 0 < self.power_factor <= 1:
            raise ValueError("power_factor must be within 0–1")
        if self.lateral_size < 1:
            raise ValueError("lateral_size must be at least 1")


@dataclass(frozen=True, slots=True)
class Feeder:
    net: pp.pandapowerNet
    transformers: np.ndarray
    """Transformer ids in the order of the network's trafo and load tables."""
    lv_buses: np.ndarray


def build_feeder(transformers: np.ndarray, params: GridParams) -> Feeder:
    """The network of one feeder serving ``transformers`` (ids, in feeder order)."""
    net = pp.create_empty_network()
    head = pp.create_bus(net, params.mv_kv, name="substation")
    pp.create_ext_grid(net, head, vm_pu=params.substation_pu)
    trunk = head
    lv_buses = []
    for first in range(0, transformers.size, params.lateral_size):
        joint = pp.create_bus(net, params.mv_kv)
        pp.create_line_from_parameters(net, trunk, joint, params.trunk_km,
                                       params.trunk_r_ohm_km, params.trunk_x_ohm_km, 10, 0.4)
        trunk = pole = joint
        for _ in transformers[first:first + params.lateral_size]:
            mv = pp.create_bus(net, params.mv_kv)
            pp.create_line_from_parameters(net, pole, mv, params.lateral_km,
                                           params.lateral_r_ohm_km, params.lateral_x_ohm_km,
                                           10, 0.2)
            pole = mv
            lv = pp.create_bus(net, params.lv_kv)
            pp.create_transformer_from_parameters(
                net, mv, lv, params.transformer_kva / 1000, params.mv_kv, params.lv_kv,
                params.transformer_vkr_percent, params.transformer_vk_percent,
                params.transformer_iron_kw, params.transformer_i0_percent)
            service = pp.create_bus(net, params.lv_kv)
            pp.create_line_from_parameters(net, lv, service, params.lv_km, params.lv_r_ohm_km,
                                           params.lv_x_ohm_km, 10, 0.3)
            pp.create_load(net, service, p_mw=0.0)
            lv_buses.append(service)
    return Feeder(net, np.asarray(transformers), np.asarray(lv_buses))


def interval_demand(readings: pa.Table, topology: pa.Table
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Metered 30-minute energy per transformer: ``(interval ends, transformer ids,
    import Wh [interval, transformer], export Wh [interval, transformer])``."""
    half_hour = CHANNEL_MINUTES == 30
    flow = np.where(half_hour & (CHANNEL_QUANTITY == Quantity.ACTIVE_IMPORT), 1,
                    np.where(half_hour & (CHANNEL_QUANTITY == Quantity.ACTIVE_EXPORT), -1, 0))
    unit_wh = CHANNEL_SCALE * 1000  # kWh per step → Wh
    channel = readings.column("channel").to_numpy()
    keep = flow[channel] != 0
    meter = readings.column("meter_id").to_numpy()[keep]
    end = readings.column("interval_end").cast(pa.int64()).to_numpy()[keep]
    wh = readings.column("value").to_numpy()[keep] * unit_wh[channel[keep]]
    sign = flow[channel[keep]]
    ids = topology.column("meter_id").to_numpy()
    order = np.argsort(ids)
    where = order[np.searchsorted(ids, meter, sorter=order)]
    transformer_of = topology.column("transformer").to_numpy()[where]
    ends, e_idx = np.unique(end, return_inverse=True)
    transformers, t_idx = np.unique(topology.column("transformer").to_numpy(),
                                    return_inverse=True)
    t_idx = np.searchsorted(transformers, transformer_of)
    imports = np.zeros((ends.size, transformers.size))
    exports = np.zeros((ends.size, transformers.size))
    np.add.at(imports, (e_idx[sign > 0], t_idx[sign > 0]), wh[sign > 0])
    np.add.at(exports, (e_idx[sign < 0], t_idx[sign < 0]), wh[sign < 0])
    return ends, transformers, imports, exports


@dataclass(frozen=True, slots=True)
class FeederFlows:
    """A day of load flow: energy per interval, feeder and transformer (Wh)."""

    interval_end: np.ndarray
    transformers: np.ndarray
    feeder_of: np.ndarray
    """Feeder id of each transformer."""
    transformer_input_wh: np.ndarray
    """[interval, transformer]: into the transformer at 6.6 kV."""
    head_wh: dict[int, np.ndarray]
    """feeder → [interval]: at the substation."""
    metered_wh: np.ndarray
    """[interval, transformer]: its meters' import less export."""
    technical_wh: dict[int, np.ndarray]
    """feeder → [interval]: line and transformer losses."""
    non_technical_wh: np.ndarray
    """[interval, transformer]: unmetered use."""
    service_pu: np.ndarray
    """[interval, transformer]: voltage of the low-voltage service bus, per unit."""


_NEW_LOADS_ONLY = {"trafo": False, "gen": False, "bus_pq": True}
"""Between a feeder's intervals only the loads change: pandapower keeps its internal model
and updates the loads, about twice as fast as rebuilding it for each load flow."""


def simulate_flows(readings: pa.Table, topology: pa.Table,
                   params: GridParams | None = None) -> FeederFlows:
    """Solve every feeder of ``topology`` (meter_id, transformer, feeder) for every
    30-minute interval of ``readings`` (SPEC A3)."""
    params = params or GridParams()
    ends, transformers, imports, exports = interval_demand(readings, topology)
    metered = imports - exports
    unmetered = imports * params.non_technical_share
    feeder_ids = topology.column("feeder").to_numpy()
    tx_ids = topology.column("transformer").to_numpy()
    known, first_row = np.unique(tx_ids, return_index=True)
    feeder_of = feeder_ids[first_row[np.searchsorted(known, transformers)]]
    inputs = np.zeros_like(metered)
    service = np.ones_like(metered)
    heads, technical = {}, {}
    q_per_p = np.tan(np.arccos(params.power_factor))
    for feeder in np.unique(feeder_of).tolist():
        columns = np.flatnonzero(feeder_of == feeder)
        network = build_feeder(transformers[columns], params)
        net = network.net
        heads[feeder] = np.zeros(ends.size)
        technical[feeder] = np.zeros(ends.size)
        for i in range(ends.size):
            mw = (metered[i, columns] + unmetered[i, columns]) * 2 / 1e6  # Wh per 30 min → MW
            net.load["p_mw"] = mw
            net.load["q_mvar"] = np.maximum(mw, 0) * q_per_p
            pp.runpp(net, numba=False, recycle=_NEW_LOADS_ONLY)
            heads[feeder][i] = float(net.res_ext_grid.p_mw.sum()) * 1e6 / 2
            technical[feeder][i] = (float(net.res_line.pl_mw.sum())
                                    + float(net.res_trafo.pl_mw.sum())) * 1e6 / 2
            inputs[i, columns] = net.res_trafo.p_hv_mw.to_numpy() * 1e6 / 2
            service[i, columns] = net.res_bus.vm_pu.to_numpy()[network.lv_buses]
    return FeederFlows(ends, transformers, feeder_of, inputs, heads, metered, technical,
                       unmetered, service)
