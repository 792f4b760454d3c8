"""Distribution losses from meter data by energy balance, and what voltage optimisation
would save (SPEC A3: the seed cites 5.04 % losses in an urban grid).

The balance needs the energy into each feeder (substation metering) or transformer; the
difference from its meters' net energy is the loss, technical and non-technical together.
A load flow of the same network under the metered loads gives the technical part, and the
rest is unmetered use. Energies are Wh.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from smame.gridsim.feeder import FeederFlows, GridParams, simulate_flows

__all__ = [
    "SEED_URBAN_LOSS_SHARE",
    "LossEstimate",
    "VoltageOption",
    "estimate_losses",
    "loss_share",
    "voltage_optimisation",
]

SEED_URBAN_LOSS_SHARE = 0.0504
"""中間取りまとめ: losses of 5.04 % in an urban grid (SPEC A3)."""

SERVICE_BAND_PU = (0.95, 1.07)
"""101 ± 6 V on 100 V service, as a share of 100 V (電気事業法施行規則 第38条)."""


def loss_share(input_wh: float, metered_wh: float) -> float:
    """Loss as a share of the energy put in: (input − metered) / input (SPEC A3)."""
    if input_wh <= 0:
        raise ValueError("a loss share needs energy put in")
    return (input_wh - metered_wh) / input_wh


@dataclass(frozen=True, slots=True)
class LossEstimate:
    feeder: int
    input_wh: float
    metered_wh: float
    technical_wh: float
    """From the load flow of the metered loads."""

    @property
    def loss_wh(self) -> float:
        return self.input_wh - self.metered_wh

    @property
    def share(self) -> float:
        return loss_share(self.input_wh, self.metered_wh)

    @property
    def non_technical_wh(self) -> float:
        return self.loss_wh - self.technical_wh


def estimate_losses(readings: pa.Table, topology: pa.Table, head_wh: dict[int, float],
                    params: GridParams | None = None) -> list[LossEstimate]:
    """Per feeder: the loss by energy balance against ``head_wh`` (energy in at the
    substation over the span of ``readings``), split into technical (load flow of the
    metered loads on the modelled network) and non-technical (the rest)."""
    model = simulate_flows(readings, topology, replace(params or GridParams(),
                                                       non_technical_share=0.0))
    estimates = []
    for feeder in sorted(model.head_wh):
        columns = model.feeder_of == feeder
        if feeder not in head_wh:
            raise ValueError(f"no feeder-head energy for feeder {feeder}")
        estimates.append(LossEstimate(feeder, float(head_wh[feeder]),
                                      float(model.metered_wh[:, columns].sum()),
                                      float(model.technical_wh[feeder].sum())))
    return estimates


@dataclass(frozen=True, slots=True)
class VoltageOption:
    substation_pu: float
    technical_wh: float
    lowest_pu: float
    highest_pu: float

    @property
    def lawful(self) -> bool:
        return SERVICE_BAND_PU[0] <= self.lowest_pu and self.highest_pu <= SERVICE_BAND_PU[1]


def voltage_optimisation(readings: pa.Table, topology: pa.Table,
                         setpoints: tuple[float, ...] = (0.98, 1.0, 1.02, 1.04),
                         params: GridParams | None = None) -> tuple[list[VoltageOption],
                                                                    VoltageOption | None]:
    """Technical losses of the day at each substation voltage, and the setpoint with the
    least of them that keeps every service bus in band (None if none does)."""
    base = params or GridParams()
    options = []
    for setpoint in setpoints:
        flows: FeederFlows = simulate_flows(readings, topology,
                                            replace(base, substation_pu=setpoint))
        options.append(VoltageOption(setpoint, sum(float(v.sum())
                                                   for v in flows.technical_wh.values()),
                                     float(np.min(flows.service_pu)),
                                     float(np.max(flows.service_pu))))
    lawful = [option for option in options if option.lawful]
    return options, min(lawful, key=lambda o: o.technical_wh) if lawful else None
