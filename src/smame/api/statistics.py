"""Statistical products: consumption per feeder or transformer, aggregated over at least
``k`` meters so that no household can be singled out, provided without individual consent
(SPEC S6; the 2022 Electricity Business Act amendment lets statistical data that identifies
nobody be provided without the customers' consent).

Suppression, in order:

1. **Too few meters** — a group of fewer than ``k`` meters (default 10) is not published.
2. **Dominance** — a group in which one meter uses more than ``dominance`` (default half)
   of the day's energy is not published: its total would say about that one customer.
3. **Complementary** — the transformers of a feeder add up to the feeder, so one
   suppressed transformer could be recovered as the feeder minus its published siblings.
   Within each feeder the suppressed transformers must hold together 0 or at least ``k``
   meters; otherwise the smallest published siblings are suppressed too until they do.

Members are the communicating meters with all 48 values of the day, so every slot of a
group sums the same meters and the levels add up exactly. No totals over all groups are
published (they would undo rule 3 at the feeder level).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from smame.api.formats.timefmt import iso
from smame.api.readcache import DayBlock
from smame.api.registry_view import RegistryView

__all__ = ["aggregate_day", "suppress"]

TOO_FEW = "fewer than {k} meters"
DOMINATED = "one meter dominates"
COMPLEMENTARY = "complementary (would reveal a suppressed sibling)"


def suppress(counts: Mapping[Hashable, int], top_share: Mapping[Hashable, float], k: int,
             dominance: float, parent_of: Mapping[Hashable, Hashable] | None = None
             ) -> dict[Hashable, str]:
    """Groups not to publish and why: rules 1–3 of the module. ``counts`` are meters per
    group, ``top_share`` the largest meter's share of the group's energy (0–1),
    ``parent_of`` the group each one adds up to (None: no parent level published)."""
    out: dict[Hashable, str] = {}
    for key, n in counts.items():
        if n < k:
            out[key] = TOO_FEW.format(k=k)
        elif top_share.get(key, 0.0) > dominance:
            out[key] = DOMINATED
    if parent_of is None:
        return out
    siblings: dict[Hashable, list[Hashable]] = defaultdict(list)
    for key in counts:
        siblings[parent_of[key]].append(key)
    for members in siblings.values():
        hidden = sum(counts[m] for m in members if m in out)
        shown = sorted((m for m in members if m not in out), key=lambda m: (counts[m], str(m)))
        while 0 < hidden < k and shown:
            extra = shown.pop(0)
            out[extra] = COMPLEMENTARY
            hidden += counts[extra]
    return out


def aggregate_day(block: DayBlock, view: RegistryView, level: str, k: int,
                  dominance: float) -> dict[str, Any]:
    """Energy (Wh) per 30-minute slot of ``block``'s day per ``level`` (``feeder`` or
    ``transformer``), with suppression."""
    complete = np.all(block.version != 0, axis=1)
    groups: dict[int, list[int]] = defaultdict(list)
    feeder_of: dict[int, int] = {}
    scale = np.zeros(block.meters.size)
    for row, meter_id in enumerate(block.meters.tolist()):
        meter = view.meters.get(meter_id)
        sp = view.service_points.get(meter.sp_id or "") if meter else None
        if (not complete[row] or sp is None or not sp.communicating or sp.feeder_id is None
                or sp.transformer_id is None):
            continue
        scale[row] = 10.0 ** (meter.unit_exponent + 3)  # register units to Wh
        key = sp.feeder_id if level == "feeder" else sp.transformer_id
        groups[key].append(row)
        feeder_of[key] = sp.feeder_id
    wh = block.value * scale[:, None]
    sums, counts, top = {}, {}, {}
    for key, rows in groups.items():
        sums[key] = wh[rows].sum(axis=0)
        counts[key] = len(rows)
        day = wh[rows].sum(axis=1)
        top[key] = float(day.max() / day.sum()) if day.sum() > 0 else 0.0
    hidden = suppress(counts, top, k, dominance,
                      feeder_of if level == "transformer" else None)
    items = []
    for key in sorted(groups):
        entry: dict[str, Any] = {f"{level}_id": key}
        if level == "transformer":
            entry["feeder_id"] = feeder_of[key]
        if key in hidden:
            entry.update(meters=None, suppressed=hidden[key], import_wh=None, mean_wh=None)
        else:
            entry.update(meters=counts[key], suppressed=None,
                         import_wh=[round(float(v), 1) for v in sums[key]],
                         mean_wh=[round(float(v) / counts[key], 1) for v in sums[key]])
        items.append(entry)
    return {"date": block.day.isoformat(), "group": level, "unit": "Wh", "min_meters": k,
            "dominance": dominance,
            "slot_ends": [iso(int(block.first + s * 1800)) for s in range(block.slots)],
            "groups": items}

