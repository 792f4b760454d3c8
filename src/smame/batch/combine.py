"""The shards' answers of a batch job combined into the answer over all their meters.

Shards own disjoint meters, so sums (energies, counts, customers, values) add, and shares
and indices are recomputed from the added sums; lists (incidents, events) are merged in the
order one store would give. Feeders and transformers are assumed not to span shards (shard
bounds at feeder boundaries), as per-transformer and per-feeder results are per shard.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from smame.analytics.grid import DayOutages
from smame.analytics.outages import Topology
from smame.analytics.reliability import Reliability
from smame.analytics.voltage import VoltageReport
from smame.mdms.settlement import Settlement

__all__ = ["combine_outages", "combine_reliability", "combine_settlements",
           "combine_voltage", "estimated_share"]

_SUMMED = ("import_wh", "import_estimated_wh", "export_wh", "export_estimated_wh", "meters",
           "values", "estimated_values", "excluded_values", "import_converted_wh",
           "converted_values")


def estimated_share(import_estimated_wh: pa.Array, import_wh: pa.Array) -> pa.Array:
    """Estimated import over import per row (0 where nothing was imported): SPEC S1's
    estimated share of a settlement sum."""
    ratio = pc.divide(pc.cast(import_estimated_wh, pa.float64()), pc.cast(import_wh, pa.float64()))
    return pc.if_else(pc.greater(import_wh, 0), ratio, pa.scalar(0.0))


def _combine_sums(tables: Sequence[pa.Table], party: str) -> pa.Table:
    schema = tables[0].schema
    keys = [party, "slot", "slot_end"]
    summed = pa.concat_tables(tables).group_by(keys, use_threads=False).aggregate(
        [(name, "sum") for name in _SUMMED])
    summed = summed.rename_columns([n.removesuffix("_sum") for n in summed.column_names])
    summed = summed.append_column("estimated_share", estimated_share(
        summed.column("import_estimated_wh"), summed.column("import_wh")))
    summed = summed.sort_by([(party, "ascending"), ("slot", "ascending")])
    return summed.select(schema.names).cast(schema)


def combine_settlements(parts: Sequence[Settlement]) -> Settlement:
    """The national settlement of a day: every shard's per-party, per-slot sums added and the
    estimated share recomputed (SPEC S1, S10)."""
    if not parts:
        raise ValueError("no shard settlements to combine")
    first = parts[0]
    if any(p.day != first.day or p.minutes != first.minutes for p in parts):
        raise ValueError("shard settlements of different days or slot lengths")
    return Settlement(first.day, first.minutes,
                      _combine_sums([p.retailers for p in parts], "retailer_id"),
                      _combine_sums([p.groups for p in parts], "bg_id"), first.method)


def combine_reliability(parts: Sequence[Reliability]) -> Reliability:
    """IEEE 1366 indices over the union of disjoint customer sets: each index is a per-customer
    mean, so the customer-weighted mean (SPEC S8)."""
    customers = sum(p.customers for p in parts)
    if customers <= 0:
        raise ValueError("reliability indices need at least one customer served")
    saifi = sum(p.saifi * p.customers for p in parts) / customers
    saidi = sum(p.saidi * p.customers for p in parts) / customers
    maifi = sum(p.maifi * p.customers for p in parts) / customers
    return Reliability(customers, saifi, saidi, saidi / saifi if saifi else 0.0, maifi)


def combine_outages(parts: Sequence[DayOutages]) -> DayOutages:
    """A day's incidents over all shards, in start order, with the area's and each feeder's
    indices over all their customers."""
    if not parts:
        raise ValueError("no shard outage analyses to combine")
    incidents = sorted((i for p in parts for i in p.incidents),
                       key=lambda i: (i.start, i.level, i.element))
    feeders: dict[int, list[Reliability]] = {}
    for part in parts:
        for feeder, indices in part.feeders.items():
            feeders.setdefault(feeder, []).append(indices)
    first = parts[0]
    return DayOutages(first.day, first.start, first.end, incidents,
                      combine_reliability([p.area for p in parts]),
                      {f: combine_reliability(r) for f, r in sorted(feeders.items())},
                      combine_topologies([p.topology for p in parts]))


def combine_topologies(parts: Sequence[Topology]) -> Topology:
    """The meters of disjoint shards' topologies, in meter order, as one topology."""
    meter = np.concatenate([p.meter_id for p in parts])
    order = np.argsort(meter, kind="stable")
    return Topology(meter[order], np.concatenate([p.transformer for p in parts])[order],
                    np.concatenate([p.feeder for p in parts])[order])


def combine_voltage(parts: Sequence[VoltageReport]) -> VoltageReport:
    """A day's voltage report over all shards: counts added, share out of band recomputed,
    events and transformers merged, the 20 worst meters of all (SPEC A3)."""
    if not parts:
        raise ValueError("no shard voltage reports to combine")
    values = sum(p.values for p in parts)
    out = sum(round(p.share_out * p.values) for p in parts)
    worst = sorted((w for p in parts for w in p.worst_meters), key=lambda w: (-w[1], w[0]))
    return VoltageReport(
        values, sum(p.minutes_out for p in parts), out / values if values else 0.0,
        sorted((e for p in parts for e in p.events), key=lambda e: (e.meter_id, e.start)),
        sorted((t for p in parts for t in p.transformers),
               key=lambda t: (-t.minutes_out, t.transformer)),
        worst[:20], np.concatenate([p.volts for p in parts]),
        np.concatenate([p.nominal for p in parts]))
