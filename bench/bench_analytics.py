"""Time to analyse one day of a fleet's data: outages and voltage (issue 12).

Simulates the day (not timed) with a transformer and a feeder outage, then times, over
``--repeat`` runs, locating the outages with their IEEE 1366 indices and analysing the
5-minute voltages against the statutory band, on the day's reading batches and events as
the MDMS returns them. Both analyses are local to a feeder, so a large fleet is run as
``--shards`` fleets of ``--meters`` each (whole feeders, their own seeds) and the times
add up: 10 shards of 100,000 are a 1,000,000-meter day without holding 350 M readings in
memory at once. Each phase is timed in wall seconds and in CPU seconds of this process (on a
shared machine the wall time is mostly waiting for a core; the load average before and
after is recorded). Writes bench/results/analytics.json.

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


def _time_losses(readings: pa.Table, topology: pa.Table, feeders: int
                 ) -> tuple[float, float, int]:
    """Wall and CPU seconds for the load flow of ``feeders`` whole feeders' day and the
    estimate, and their meters: losses are solved feeder by feeder, so time scales with
    meters."""
    chosen = np.unique(topology.column("feeder").to_numpy())[:feeders]
    mask = np.isin(topology.column("feeder").to_numpy(), chosen)
    part = topology.filter(pa.array(mask))
    rows = readings.filter(pc.is_in(readings.column("meter_id"), part.column("meter_id")))
    began, cpu = time.perf_counter(), time.process_time()
    flows = simulate_flows(rows, part, GridParams(non_technical_share=0.03))
    estimate_losses(rows, part, {f: float(v.sum()) for f, v in flows.head_wh.items()})
    return time.perf_counter() - began, time.process_time() - cpu, int(mask.sum())


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
    load_before = list(os.getloadavg())
    outage_s = [0.0] * args.repeat
    voltage_s = [0.0] * args.repeat
    outage_cpu = [0.0] * args.repeat
    voltage_cpu = [0.0] * args.repeat
    readings_total = five_minute = incidents = 0
    customer_minutes = out_values = 0.0
    for shard in range(args.shards):
        began = time.perf_counter()
        topology_table, readings, events = simulate(args.meters, day, args.seed + shard)
        print(f"shard {shard + 1}/{args.shards}: simulated {args.meters:,} meters' day, "
              f"{readings.num_rows:,} readings in {time.perf_counter() - began:.0f} s")
        for run in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            topology = Topology.from_table(topology_table)
            found = locate(off_spans(events, energy_intervals(readings, events)), topology)
            area = reliability(found, args.meters)
            t1, c1 = time.perf_counter(), time.process_time()
            voltage = analyse_voltage(readings, topology_table)
            t2, c2 = time.perf_counter(), time.process_time()
            outage_s[run] += t1 - t0
            voltage_s[run] += t2 - t1
            outage_cpu[run] += c1 - c0
            voltage_cpu[run] += c2 - c1
        if shard == 0:
            loss_s, loss_cpu, loss_meters = _time_losses(readings, topology_table,
                                                         args.loss_feeders)
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
        "load_average_before": load_before,
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
        "outages_cpu_s": [round(s, 2) for s in outage_cpu],
        "voltage_cpu_s": [round(s, 2) for s in voltage_cpu],
        "voltage_share_out": round(out_values / max(five_minute, 1), 5),
        "losses_s": round(loss_s, 2),
        "losses_cpu_s": round(loss_cpu, 2),
        "losses_meters": loss_meters,
        "losses_projected_s": round(loss_s * meters / loss_meters, 1),
        "losses_projected_cpu_s": round(loss_cpu * meters / loss_meters, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "analytics.json").write_text(json.dumps(result, indent=2))

    def spread(values: list[float]) -> str:
        return (f"median {statistics.median(values):.1f} s "
                f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})")

    print(f"load average before {load_before[0]:.1f}, after {result['load_average'][0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"outages of {meters:,} meters' day ({incidents} incidents, "
          f"SAIDI {result['saidi_min']:.2f} min): wall {spread(outage_s)}; "
          f"CPU {spread(outage_cpu)}")
    print(f"voltage of {five_minute:,} 5-minute values "
          f"({result['voltage_share_out']:.3%} out of band): wall {spread(voltage_s)}; "
          f"CPU {spread(voltage_cpu)}")
    print(f"losses (load flow and balance) of {loss_meters:,} meters' feeders: wall "
          f"{loss_s:.1f} s, CPU {loss_cpu:.1f} s; projected to {meters:,} meters: "
          f"{result['losses_projected_cpu_s'] / 60:.1f} CPU-min (feeders are independent)")
    print(f"one day of outages and voltage for {meters:,} meters: wall "
          f"{np.median(outage_s) + np.median(voltage_s):.1f} s, CPU "
          f"{np.median(outage_cpu) + np.median(voltage_cpu):.1f} s")


if __name__ == "__main__":
    main()
