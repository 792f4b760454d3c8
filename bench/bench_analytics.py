"""Time to analyse one day of a fleet's data: outages and voltage (issue 12).

Simulates the day (not timed) with a transformer and a feeder outage, then times, over
``--repeat`` runs, locating the outages with their IEEE 1366 indices and analysing the
5-minute voltages against the statutory band, on the day's reading batches and events as
the MDMS returns them. Both analyses are local to a feeder, so a large fleet is run as
``--shards`` fleets of ``--meters`` each (whole feeders, their own seeds) and the times
add up: 10 shards of 100,000 are a 1,000,000-meter day without holding 350 M readings in
memory at once. Writes bench/results/analytics.json.

    python bench/bench_analytics.py --meters 100000 --shards 10 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from machine import git_commit, machine
from smame.analytics.losses import estimate_losses
from smame.analytics.outages import Topology, locate, off_spans
from smame.analytics.reliability import reliability
from smame.analytics.sources import energy_intervals
from smame.analytics.voltage import analyse_voltage
from smame.clock import JST, jst_day_start
from smame.gridsim.feeder import GridParams, simulate_flows
from smame.meter import Fleet, FleetConfig
from smame.meter.events import events_table
from smame.meter.simulate import meters_table

RESULTS = Path(__file__).parent / "results"


def simulate(meters: int, day: date, seed: int):
    fleet = Fleet(FleetConfig(meters=meters, start=datetime.combine(day, datetime.min.time(),
                                                                      JST), seed=seed))
    topology = meters_table(fleet)
    start = jst_day_start(day)
    fleet.schedule_outage(start + 10 * 3600, start + 10 * 3600 + 2400,
                          transformers=(int(topology.column("transformer")[10].as_py()),))
    fleet.schedule_outage(start + 14 * 3600, start + 15 * 3600 + 1800,
                          feeders=(int(topology.column("feeder")[-1].as_py()),))
    readings = pa.concat_tables(fleet.advance(1440))
    events = events_table(fleet.events.drain())
    return topology, readings, events


def _time_losses(readings: pa.Table, topology: pa.Table, feeders: int) -> tuple[float, int]:
    """Seconds for the load flow of ``feeders`` whole feeders' day and the estimate, and
    their meters: losses are solved feeder by feeder, so time scales with meters."""
    chosen = np.unique(topology.column("feeder").to_numpy())[:feeders]
    mask = np.isin(topology.column("feeder").to_numpy(), chosen)
    part = topology.filter(pa.array(mask))
    rows = readings.filter(pc.is_in(readings.column("meter_id"), part.column("meter_id")))
    began = time.perf_counter()
    flows = simulate_flows(rows, part, GridParams(non_technical_share=0.03))
    estimate_losses(rows, part, {f: float(v.sum()) for f, v in flows.head_wh.items()})
    return time.perf_counter() - began, int(mask.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=100_000, help="meters per shard")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loss-feeders", type=int, default=2,
                        help="feeders of the first shard whose load flow is timed")
    args = parser.parse_args()
    day = date(2026, 7, 1)
    outage_s = [0.0] * args.repeat
    voltage_s = [0.0] * args.repeat
    readings_total = five_minute = incidents = 0
    customer_minutes = out_values = 0.0
    for shard in range(args.shards):
        began = time.perf_counter()
        topology_table, readings, events = simulate(args.meters, day, args.seed + shard)
        print(f"shard {shard + 1}/{args.shards}: simulated {args.meters:,} meters' day, "
              f"{readings.num_rows:,} readings in {time.perf_counter() - began:.0f} s")
        for run in range(args.repeat):
            t0 = time.perf_counter()
            topology = Topology.from_table(topology_table)
            found = locate(off_spans(events, energy_intervals(readings, events)), topology)
            area = reliability(found, args.meters)
            t1 = time.perf_counter()
            voltage = analyse_voltage(readings, topology_table)
            t2 = time.perf_counter()
            outage_s[run] += t1 - t0
            voltage_s[run] += t2 - t1
        if shard == 0:
            loss_s, loss_meters = _time_losses(readings, topology_table, args.loss_feeders)
        readings_total += readings.num_rows
        five_minute += int(pc.sum(pc.equal(readings.column("channel"), 420)).as_py())
        incidents += len(found)
        customer_minutes += area.saidi * args.meters
        out_values += voltage.share_out * voltage.values
        del readings
    meters = args.meters * args.shards
    result = {
        "benchmark": "analytics day",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "git": git_commit(),
        "meters": meters,
        "shards": args.shards,
        "readings": readings_total,
        "voltage_values": five_minute,
        "incidents": incidents,
        "saidi_min": round(customer_minutes / meters, 3),
        "outages_s": [round(s, 2) for s in outage_s],
        "voltage_s": [round(s, 2) for s in voltage_s],
        "voltage_share_out": round(out_values / max(five_minute, 1), 5),
        "losses_s": round(loss_s, 2),
        "losses_meters": loss_meters,
        "losses_projected_s": round(loss_s * meters / loss_meters, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "analytics.json").write_text(json.dumps(result, indent=2))

    def spread(values: list[float]) -> str:
        return (f"median {statistics.median(values):.1f} s "
                f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})")

    print(f"outages of {meters:,} meters' day ({incidents} incidents, "
          f"SAIDI {result['saidi_min']:.2f} min): {spread(outage_s)}")
    print(f"voltage of {five_minute:,} 5-minute values "
          f"({result['voltage_share_out']:.3%} out of band): {spread(voltage_s)}")
    print(f"losses (load flow and balance) of {loss_meters:,} meters' feeders: {loss_s:.1f} s; "
          f"projected to {meters:,} meters: {result['losses_projected_s'] / 60:.1f} min "
          "on one core (feeders are independent)")
    print(f"one day of outages and voltage for {meters:,} meters: "
          f"{np.median(outage_s) + np.median(voltage_s):.1f} s")


if __name__ == "__main__":
    main()
