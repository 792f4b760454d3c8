"""Voltage against the statutory band, per meter and transformer, with a tap recommendation
(SPEC A3, M2).

The band is 電気事業法施行規則 第38条: 101 ± 6 V on 100 V service, 202 ± 20 V on 200 V
service. Input is the meters' 5-minute mean voltages (channel 420, 0.1 V). A pole
transformer's off-load tap moves every customer's voltage by the same share; the
recommendation is the tap position, within the taps it has, that leaves the fewest
minutes out of band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from smame.readings import CHANNEL_MINUTES, CHANNEL_QUANTITY, CHANNEL_SCALE, Quantity

__all__ = [
    "TransformerVoltage",
    "VoltageEvent",
    "VoltageReport",
    "analyse_voltage",
    "statutory_band",
    "voltage_channels",
]

TAP_STEP = 150 / 6600
"""One tap of a 6.6 kV pole transformer: 150 V of 6,600 V, about 2.3 % (taps 6,300–6,900 V);
give the transformers' own step where it differs."""


def statutory_band(nominal_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest lawful voltage in V for 100 V or 200 V service (SPEC A3:
    101 ± 6 V and 202 ± 20 V, 電気事業法施行規則 第38条)."""
    nominal = np.asarray(nominal_v)
    if not np.isin(nominal, (100, 200)).all():
        raise ValueError("service voltage must be 100 or 200 V")
    two_hundred = nominal == 200
    return np.where(two_hundred, 182.0, 95.0), np.where(two_hundred, 222.0, 107.0)


def voltage_channels() -> list[int]:
    """Channel codes of 5-minute voltage, every resolution."""
    return np.flatnonzero((CHANNEL_QUANTITY == Quantity.VOLTAGE) & (CHANNEL_MINUTES == 5)
                          ).tolist()


@dataclass(frozen=True, slots=True)
class VoltageEvent:
    """Consecutive 5-minute values of one meter on one side of the band."""

    meter_id: int
    start: int
    """POSIX s: start of the first interval out of band."""
    end: int
    """POSIX s: end of the last."""
    high: bool
    extreme_v: float

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // 60


@dataclass(frozen=True, slots=True)
class TransformerVoltage:
    transformer: int
    meters: int
    meters_out: int
    minutes_high: int
    minutes_low: int
    worst_meter: int | None
    worst_v: float | None
    tap_steps: int
    """Recommended change: +1 raises every customer's voltage by one tap step, −1 lowers it."""
    minutes_out_after: int

    @property
    def minutes_out(self) -> int:
        return self.minutes_high + self.minutes_low


@dataclass(frozen=True, slots=True)
class VoltageReport:
    values: int
    minutes_out: int
    share_out: float
    """Share of 5-minute values out of band."""
    events: list[VoltageEvent]
    transformers: list[TransformerVoltage]
    worst_meters: list[tuple[int, int]]
    """(meter id, minutes out of band), most first, at most 20."""
    volts: np.ndarray
    nominal: np.ndarray


def _sorted_voltages(readings: pa.Table, meters: pa.Table):
    wanted = pc.is_in(readings.column("channel"), pa.array(voltage_channels(), pa.uint16()))
    rows = readings.filter(wanted)
    meter = rows.column("meter_id").to_numpy()
    end = rows.column("interval_end").cast(pa.int64()).to_numpy()
    volts = rows.column("value").to_numpy() * CHANNEL_SCALE[rows.column("channel").to_numpy()]
    order = np.lexsort((end, meter))
    meter, end, volts = meter[order], end[order], volts[order]
    ids = meters.column("meter_id").to_numpy()
    by_id = np.argsort(ids)
    found = np.minimum(np.searchsorted(ids, meter, sorter=by_id), max(ids.size - 1, 0))
    position = by_id[found]
    if meter.size and (ids[position] != meter).any():
        raise ValueError("voltage readings of a meter that is not in the meters table")
    transformer = meters.column("transformer").to_numpy()[position]
    nominal = meters.column("service_voltage").to_numpy()[position]
    return meter, end, volts, transformer, nominal


def _events(meter, end, volts, out_high, out_low, step_s) -> list[VoltageEvent]:
    out = out_high | out_low
    idx = np.flatnonzero(out)
    if not idx.size:
        return []
    # A new event where the meter, the side or the time run changes.
    new = np.ones(idx.size, np.bool_)
    new[1:] = ((meter[idx[1:]] != meter[idx[:-1]]) | (end[idx[1:]] - end[idx[:-1]] != step_s)
               | (out_high[idx[1:]] != out_high[idx[:-1]]))
    starts = np.flatnonzero(new)
    stops = np.append(starts[1:], idx.size)
    events = []
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        run = idx[a:b]
        high = bool(out_high[run[0]])
        extreme = float(volts[run].max() if high else volts[run].min())
        events.append(VoltageEvent(int(meter[run[0]]), int(end[run[0]] - step_s),
                                   int(end[run[-1]]), high, round(extreme, 1)))
    return events


def _taps(tidx, groups, volts, low, high, max_steps, step) -> tuple[np.ndarray, np.ndarray]:
    """Per transformer, the tap change within ±max_steps that leaves the fewest values out of
    band (the smaller change on a tie), and that count."""
    steps = sorted(range(-max_steps, max_steps + 1), key=lambda k: (abs(k), k))
    counts = np.stack([np.bincount(tidx, ((volts * (1 + k * step) < low)
                                          | (volts * (1 + k * step) > high)), groups)
                       for k in steps])
    best = np.argmin(counts, axis=0)
    return np.asarray(steps)[best], counts[best, np.arange(groups)].astype(np.int64)


def _per_transformer(meter, volts, transformer, low, high, out_high, out_low,
                     interval_minutes, tap_step, max_tap_steps) -> list[TransformerVoltage]:
    ids, tidx = np.unique(transformer, return_inverse=True)
    groups = ids.size
    out = out_high | out_low
    meter_ids, midx = np.unique(meter, return_inverse=True)
    pair = tidx.astype(np.int64) * meter_ids.size + midx  # one key per (transformer, meter)
    meters = np.bincount(np.unique(pair) // meter_ids.size, minlength=groups)
    meters_out = np.bincount(np.unique(pair[out]) // meter_ids.size, minlength=groups)
    high_n = np.bincount(tidx, out_high, groups).astype(np.int64)
    low_n = np.bincount(tidx, out_low, groups).astype(np.int64)
    deviation = np.where(out_high, volts - high, np.where(out_low, low - volts, 0.0))
    order = np.lexsort((-deviation, tidx))
    first = order[np.searchsorted(tidx[order], np.arange(groups))]
    steps, after = _taps(tidx, groups, volts, low, high, max_tap_steps, tap_step)
    rows = []
    for g in range(groups):
        worst = int(first[g]) if deviation[first[g]] > 0 else None
        rows.append(TransformerVoltage(
            int(ids[g]), int(meters[g]), int(meters_out[g]),
            int(high_n[g]) * interval_minutes, int(low_n[g]) * interval_minutes,
            None if worst is None else int(meter[worst]),
            None if worst is None else round(float(volts[worst]), 1),
            int(steps[g]), int(after[g]) * interval_minutes))
    return rows


def analyse_voltage(readings: pa.Table, meters: pa.Table, interval_minutes: int = 5,
                    tap_step: float = TAP_STEP, max_tap_steps: int = 2) -> VoltageReport:
    """Deviation from the statutory band (SPEC A3) in ``readings`` (reading batches or MDMS
    measurements; only 5-minute voltage is used) of ``meters`` (columns meter_id,
    transformer, service_voltage)."""
    meter, end, volts, transformer, nominal = _sorted_voltages(readings, meters)
    low, high = statutory_band(nominal)
    out_high, out_low = volts > high, volts < low
    step_s = interval_minutes * 60
    events = _events(meter, end, volts, out_high, out_low, step_s)
    rows = _per_transformer(meter, volts, transformer, low, high, out_high, out_low,
                            interval_minutes, tap_step, max_tap_steps) if volts.size else []
    out_meters, counts = np.unique(meter[out_high | out_low], return_counts=True)
    order = np.argsort(-counts, kind="stable")[:20]
    worst_meters = [(int(out_meters[i]), int(counts[i]) * interval_minutes) for i in order]
    total_out = int((out_high | out_low).sum())
    rows.sort(key=lambda r: (-r.minutes_out, r.transformer))
    return VoltageReport(int(volts.size), total_out * interval_minutes,
                         total_out / volts.size if volts.size else 0.0, events, rows,
                         worst_meters, volts, nominal)
