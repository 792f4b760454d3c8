"""A day's grid analyses over an MDMS, computed in one place for the CLI, the API and the
demo (SPEC S8, A3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from smame.analytics.outages import Incident, OutageRules, Topology, locate, off_spans
from smame.analytics.reliability import Reliability, reliability, reliability_by_feeder
from smame.analytics.sources import (
    day_inputs,
    energy_channels,
    energy_intervals,
    span_inputs,
)
from smame.analytics.voltage import VoltageReport, analyse_voltage, voltage_channels
from smame.clock import jst_day_start
from smame.mdms import Mdms

__all__ = ["DayLosses", "DayOutages", "day_losses", "day_outages", "day_voltage",
           "span_outages"]


@dataclass(frozen=True, slots=True)
class DayOutages:
    """The incidents located in ``[start, end]`` (POSIX s), the IEEE 1366 indices over every
    customer and per feeder, and the topology they were located on."""

    day: date
    """The JST day ``start`` falls on."""
    start: int
    end: int
    incidents: list[Incident]
    area: Reliability
    feeders: dict[int, Reliability]
    topology: Topology


def span_outages(mdms: Mdms, start: int, end: int,
                 rules: OutageRules | None = None) -> DayOutages:
    """Incidents located from the events and reads of ``[start, end]``: the one computation
    of outages behind the demo, the reports, the API and the console (SPEC S8). An open
    incident counts to ``end``."""
    inputs = span_inputs(mdms, start, end, energy_channels())
    topology = Topology.from_table(inputs.topology)
    if not topology.meter_id.size:
        raise ValueError("the registry has no meters on a transformer")
    spans = off_spans(inputs.events, energy_intervals(inputs.readings, inputs.events), rules)
    incidents = locate(spans, topology, rules)
    area = reliability(incidents, int(topology.meter_id.size), now=end)
    return DayOutages(inputs.day, start, end, incidents, area,
                      reliability_by_feeder(incidents, topology, now=end), topology)


def day_outages(mdms: Mdms, day: date, rules: OutageRules | None = None) -> DayOutages:
    """Incidents located on one JST day and the IEEE 1366 indices over every customer."""
    start = jst_day_start(day)
    return span_outages(mdms, start, start + 86400, rules)


def day_voltage(mdms: Mdms, day: date) -> VoltageReport:
    """One JST day's 5-minute voltages against the statutory band."""
    inputs = day_inputs(mdms, day, voltage_channels())
    return analyse_voltage(inputs.readings, inputs.topology)


@dataclass(frozen=True, slots=True)
class DayLosses:
    day: date
    estimates: list
    """LossEstimate per feeder, when feeder-head energies were given."""
    technical_share: dict[int, float]
    """Per feeder: modelled technical loss over the energy put in (head)."""
    options: list
    best: object


def day_losses(mdms: Mdms, day: date, head_wh: dict[int, float] | None = None,
               params=None) -> DayLosses:
    """One JST day's losses: the modelled network's technical losses under the metered loads
    per feeder, the energy balance against ``head_wh`` where given, and the substation
    voltage that minimises losses in band (SPEC A3)."""
    from smame.analytics.losses import estimate_losses, voltage_optimisation
    from smame.gridsim.feeder import simulate_flows

    inputs = day_inputs(mdms, day, energy_channels())
    if not inputs.readings.num_rows:
        raise ValueError(f"no readings on {day}")
    flows = simulate_flows(inputs.readings, inputs.topology, params)
    shares = {f: float(flows.technical_wh[f].sum() / flows.head_wh[f].sum())
              for f in flows.head_wh if flows.head_wh[f].sum() > 0}
    estimates = (estimate_losses(inputs.readings, inputs.topology, head_wh, params)
                 if head_wh else [])
    options, best = voltage_optimisation(inputs.readings, inputs.topology, params=params)
    return DayLosses(day, estimates, shares, options, best)
