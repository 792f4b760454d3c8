"""On time, late, not collected: the one definition of the S1 collection figures.

SPEC S1: every meter's 30-minute active energy reaches the wheeling system within 60
minutes of the end of its interval. A meter's slot is *received* once its 30-minute
import value is in the MDMS — or, for a meter whose soft switch (M4) transmits 15-minute
values, once both 15-minute values of the slot are; it then arrived when the later one
did. Arrival is the MDMS commit time of the first version holding the value, on the
MDMS's own clock (the simulated clock in a demo).

Per closed slot every expected meter is exactly one of:

* ``on_time``: received no later than ``ON_TIME_S`` after the slot's end;
* ``late``: received after that;
* ``awaited``: not received yet, and the 60 minutes are not over (collection still runs);
* ``missing``: not received and the 60 minutes are over. The value is *not collected*:
  the meter still holds it (45 days of load profile), so gap fill may read it later; it
  is not a value the field lost.

The demo, the API (``/v1/fleet/collection``) and the console all show these figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ON_TIME_S", "SLOT_S", "day_figures", "due_slots", "slot_arrivals"]

ON_TIME_S = 3600
"""S1: a 30-minute value is on time when it arrives within 60 minutes of its interval end."""
SLOT_S = 1800
SLOTS_PER_DAY = 48


def slot_arrivals(meter: np.ndarray, interval_end: np.ndarray, period_s: np.ndarray,
                  arrived: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per meter and 30-minute slot, when the slot's energy was complete (POSIX s).

    Inputs are one row per received import interval value (its first arrival):
    ``interval_end`` POSIX s, ``period_s`` 1800 or 900, ``arrived`` POSIX s. A slot is
    complete with its 30-minute value, or with both of its 15-minute values (the later
    arrival counts); with both, the earlier completion counts. Returns ``(meter,
    slot_end, arrived)``, one row per complete slot.
    """
    meter = np.asarray(meter, np.int64)
    end = np.asarray(interval_end, np.int64)
    arrived = np.asarray(arrived, np.float64)
    whole = np.asarray(period_s, np.int64) >= SLOT_S
    quarter_slot = end[~whole] + (-end[~whole]) % SLOT_S  # 15-minute value → its slot's end
    keys, inverse, counts = np.unique(np.stack([meter[~whole], quarter_slot], axis=1),
                                      axis=0, return_inverse=True, return_counts=True)
    latest = np.full(len(keys), -np.inf)
    np.maximum.at(latest, inverse.ravel(), arrived[~whole])
    both = counts >= SLOT_S // 900
    meter = np.concatenate([meter[whole], keys[both, 0] if len(keys) else meter[:0]])
    slot_end = np.concatenate([end[whole], keys[both, 1] if len(keys) else end[:0]])
    arrived = np.concatenate([arrived[whole], latest[both]])
    if not meter.size:
        return meter, slot_end, arrived
    order = np.lexsort((arrived, slot_end, meter))
    meter, slot_end, arrived = meter[order], slot_end[order], arrived[order]
    first = np.r_[True, (meter[1:] != meter[:-1]) | (slot_end[1:] != slot_end[:-1])]
    return meter[first], slot_end[first], arrived[first]


def day_figures(expected: int, slot_end: np.ndarray, arrived: np.ndarray, day_start: int,
                now: float, estimated_slot_end: np.ndarray | None = None) -> dict[str, Any]:
    """S1 figures of one JST day for ``expected`` meters.

    ``slot_end``/``arrived``: one row per expected meter's complete slot (from
    :func:`slot_arrivals`, restricted to the expected meters); ``now`` the clock the
    arrivals were stamped with. A slot is ``open`` until its interval ends, ``due`` once
    its 60 minutes are over, and ``settled`` when due or when nothing is awaited any
    more; the day's ``rate`` (received / expected) and ``on_time_rate`` (on time /
    expected) are over settled slots only (None before the first), so a slot still
    being collected never shows as loss.
    """
    slot_end = np.asarray(slot_end, np.int64)
    arrived = np.asarray(arrived, np.float64)
    index = (slot_end - day_start) // SLOT_S - 1
    inside = (index >= 0) & (index < SLOTS_PER_DAY)
    index, slot_end, arrived = index[inside], slot_end[inside], arrived[inside]
    late = arrived > slot_end + ON_TIME_S
    received = np.bincount(index, minlength=SLOTS_PER_DAY)
    late_count = np.bincount(index[late], minlength=SLOTS_PER_DAY)
    estimated = np.zeros(SLOTS_PER_DAY, np.int64)
    if estimated_slot_end is not None:
        k = (np.asarray(estimated_slot_end, np.int64) - day_start) // SLOT_S - 1
        estimated = np.bincount(k[(k >= 0) & (k < SLOTS_PER_DAY)], minlength=SLOTS_PER_DAY)
    slots = []
    for k in range(SLOTS_PER_DAY):
        end = day_start + (k + 1) * SLOT_S
        got, behind = int(received[k]), int(late_count[k])
        due = now >= end + ON_TIME_S
        absent = max(0, expected - got) if end <= now else 0
        slots.append({
            "slot": k + 1, "end": end, "expected": expected, "received": got,
            "on_time": got - behind, "late": behind,
            "awaited": 0 if due else absent, "missing": absent if due else 0,
            "estimated": int(estimated[k]),
            "rate": got / expected if expected else None,
            "on_time_rate": (got - behind) / expected if expected else None,
            "open": end > now, "due": due,
            "settled": due or (end <= now and not absent),
        })
    settled = [s for s in slots if s["settled"] and s["expected"]]
    wanted = sum(s["expected"] for s in settled)
    return {
        "meters": expected, "slots": slots, "on_time_s": ON_TIME_S,
        "rate": sum(s["received"] for s in settled) / wanted if wanted else None,
        "on_time_rate": sum(s["on_time"] for s in settled) / wanted if wanted else None,
        "on_time": sum(s["on_time"] for s in slots),
        "late": sum(s["late"] for s in slots),
        "awaited": sum(s["awaited"] for s in slots),
        "missing": sum(s["missing"] for s in slots),
        "slots_settled": len(settled),
    }


def due_slots(day_start: int, now: float) -> int:
    """How many of the day's slots are past their 60 minutes at ``now`` (0–48)."""
    return int(min(SLOTS_PER_DAY, max(0, (now - day_start - ON_TIME_S) // SLOT_S)))
