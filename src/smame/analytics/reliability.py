"""Reliability indices per IEEE Std 1366 from located incidents (SPEC S8).

SAIFI = Σ customers interrupted / customers served       (sustained interruptions)
SAIDI = Σ customer minutes of interruption / customers served
CAIDI = SAIDI / SAIFI                                     (minutes per interruption)
MAIFI = Σ customers momentarily interrupted / customers served   (≤ 5 minutes)

Major-event-day exclusion (IEEE 1366's 2.5-beta method) needs years of daily SAIDI and is
not applied: the indices are for the incidents given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from smame.analytics.outages import Incident, Topology

__all__ = ["Reliability", "reliability", "reliability_by_feeder"]


@dataclass(frozen=True, slots=True)
class Reliability:
    customers: int
    saifi: float
    """Sustained interruptions per customer served."""
    saidi: float
    """Minutes of sustained interruption per customer served."""
    caidi: float
    """Minutes per sustained customer interruption (0 when there was none)."""
    maifi: float
    """Momentary interruptions per customer served."""


def reliability(incidents: Sequence[Incident], customers: int,
                meters: set[int] | None = None, now: int | None = None) -> Reliability:
    """IEEE 1366 indices of ``incidents`` over ``customers`` customers served; with
    ``meters``, only those customers' interruptions count. Open incidents count to ``now``."""
    if customers <= 0:
        raise ValueError("reliability indices need at least one customer served")
    interrupted = momentary = 0
    minutes = 0.0
    for incident in incidents:
        spans = [s for s in incident.spans if meters is None or s.meter_id in meters]
        count = len({s.meter_id for s in spans})
        if incident.momentary:
            momentary += count
            continue
        interrupted += count
        minutes += sum(max(0, (s.end if s.end is not None else (now or s.start)) - s.start)
                       for s in spans) / 60
    saifi, saidi = interrupted / customers, minutes / customers
    return Reliability(customers, saifi, saidi, saidi / saifi if saifi else 0.0,
                       momentary / customers)


def reliability_by_feeder(incidents: Sequence[Incident], topology: Topology,
                          now: int | None = None) -> dict[int, Reliability]:
    """The indices per feeder, each over that feeder's customers."""
    result = {}
    for feeder in np.unique(topology.feeder).tolist():
        meters = set(topology.meter_id[topology.feeder == feeder].tolist())
        result[int(feeder)] = reliability(incidents, len(meters), meters, now)
    return result
