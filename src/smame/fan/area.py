"""One concentrator area (or cell) for one simulated day, vectorized over meters and intervals.

Every transaction of the day — interval pushes, the head-end's pulls of what did not arrive,
gap fill on later collections, the real-time and historical 5-minute groups — becomes a job
on the area's shared channel (the concentrator's radio, the PLC medium or the cell). Jobs are
served first come first served; departure times follow from Lindley's recursion in closed
form, ``d_i = S_i + max_{j<=i}(a_j - S_{j-1})`` (``S`` the running sum of service times),
so a whole day is a sort and two cumulative scans instead of an event loop.

Times are seconds from 00:00 JST of the simulated day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smame.fan.config import FanConfig
from smame.fan.radio import Medium

__all__ = ["LATENCY_EDGES", "Area", "AreaResult", "lindley_departures", "simulate_area"]

DAY_S = 86400
INTERVAL_S = 1800
FIVE_S = 300
INTERVALS = DAY_S // INTERVAL_S
HORIZON_DAYS = 2  # gap fill is simulated over this many days; later days by reachability
LATENCY_EDGES = np.concatenate([[0.0], np.geomspace(1.0, 45 * DAY_S, 240)])
ON_TIME_S = 3600  # S1: 30-minute data within 60 minutes
REALTIME_S = 600  # S3: real-time 5-minute data within 10 minutes
NEVER = np.inf


def lindley_departures(arrival: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Departure times of a FIFO single server; ``arrival`` sorted ascending, both in s."""
    total = np.cumsum(service)
    before = total - service
    return total + np.maximum.accumulate(arrival - before)


def _rank_among_equal(values: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted array."""
    if values.size == 0:
        return values.astype(np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, values.size]))
    return np.arange(values.size) - run


@dataclass
class Area:
    """The meters of one area and what goes wrong in it during the day."""

    method: str
    hops: np.ndarray                 # per meter; all 1 on a cell
    per: float                       # mean per-link frame error rate (per transaction on 1:N)
    second_generation: np.ndarray    # bool: keeps 5-minute data
    realtime: np.ndarray             # bool: in the real-time 5-minute group
    historical: np.ndarray           # bool: in the historical group
    off_start: np.ndarray            # per meter: off the mesh from (s), inf if never
    off_end: np.ndarray
    hole: np.ndarray                 # bool: no coverage at all (1:N)
    down: tuple[float, float] | None = None          # concentrator or cell down
    burst: tuple[float, float, float] | None = None  # (from, to, per) interference
    evening_factor: float = 1.0      # PER multiplier 17–23 JST (PLC noise)
    stratum: str = "normal"

    @property
    def meters(self) -> int:
        return int(self.hops.size)


@dataclass
class AreaResult:
    """What one simulated area delivered; counts are meters×intervals of this area."""

    method: str
    stratum: str
    meters: int
    expected: int = 0            # 30-minute intervals due (coverage holes excluded)
    pushed: int = 0              # delivered by their push
    first_pull: int = 0          # delivered by their push or the first pull round
    on_time: int = 0             # delivered within 60 minutes
    by_horizon: int = 0          # delivered within the simulated gap-fill horizon
    eventual: int = 0            # delivered, or still recoverable within retention
    lost: int = 0                # beyond the meters' retention before a route came back
    holes: int = 0               # meters with no coverage
    latency_hist: np.ndarray = field(default_factory=lambda: np.zeros(LATENCY_EDGES.size - 1))
    realtime_expected: int = 0
    realtime_on_time: int = 0
    historical_expected: int = 0
    historical_delivered: int = 0
    peak_utilisation_5min: float = 0.0
    mean_utilisation: float = 0.0
    peak_concentrator_tx_s_per_h: float = 0.0
    peak_relay_tx_s_per_h: float = 0.0
    max_realtime_share: float = 0.0
    max_historical_share: float = 0.0
    capacity_meters: float = 0.0
    jobs: int = 0
    hourly_utilisation: np.ndarray = field(default_factory=lambda: np.zeros(24))


class _Jobs:
    """Transactions on the area's channel, collected kind by kind."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, arrival, service, path, per_hop, up, realtime) -> slice:
        start = sum(p[0].size for p in self.parts)
        self.parts.append(tuple(np.asarray(x, float).ravel() for x in
                                (arrival, service, path, per_hop, up, realtime)))
        return slice(start, start + np.asarray(arrival).size)

    def columns(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return tuple(np.zeros(0) for _ in range(6))
        return tuple(np.concatenate(c) for c in zip(*self.parts, strict=True))


def simulate_area(area: Area, config: FanConfig, medium: Medium,
                  rng: np.random.Generator) -> AreaResult:
    """Simulate one day of ``area``; see the module docstring for the model."""
    t = config.traffic
    n, hops = area.meters, area.hops
    result = AreaResult(area.method, area.stratum, n)
    ends = INTERVAL_S * np.arange(1, INTERVALS + 1, dtype=float)

    def per_at(moment: np.ndarray) -> np.ndarray:
        per = np.full(np.shape(moment), area.per)
        if area.evening_factor != 1.0:
            hour = (moment % DAY_S) / 3600
            per = np.where((hour >= 17) & (hour < 23), per * area.evening_factor, per)
        if area.burst is not None:
            b0, b1, bper = area.burst
            per = np.where((moment >= b0) & (moment < b1), np.maximum(per, bper), per)
        return np.minimum(per, 0.95)

    def reachable(moment: np.ndarray, meters: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Whether each of ``meters`` has a route at ``moment`` (broadcast on the last axis)."""
        ok = ~((moment >= area.off_start[meters]) & (moment < area.off_end[meters])) \
            & ~area.hole[meters]
        if area.down is not None:
            ok &= ~((moment >= area.down[0]) & (moment < area.down[1]))
        return ok

    def rows_octets(rows: np.ndarray | float) -> np.ndarray | float:
        return t.session_bytes + np.asarray(rows) * t.profile_row_bytes

    jobs = _Jobs()
    legs = 2 * t.session_exchanges  # a session: AARQ/AARE, HLS, GET, RLRQ/RLRE
    pull_delay = medium.pull_latency_s

    # ---- interval pushes: one unacknowledged frame train per meter and interval
    push_at = ends[:, None] + rng.random((INTERVALS, n)) * t.push_window_s
    per = per_at(push_at)
    reach = reachable(push_at)
    pushed = reach & (rng.random((INTERVALS, n)) < medium.success(hops, per, 1, t.push_bytes))
    service = medium.channel_s(t.push_bytes, hops, per)
    per_hop = service / np.minimum(hops, medium.collision_hops)
    push_jobs = jobs.add(push_at[reach], service[reach],
                         (medium.path_s(t.push_bytes, hops, per) + medium.up_latency_s)[reach],
                         per_hop[reach], np.ones(reach.sum()), np.zeros(reach.sum()))
    push_index = np.flatnonzero(reach.ravel())

    # ---- pull rounds for what did not arrive, with back-off
    delivered = pushed.copy()
    how_round = np.where(pushed, 0, -1)
    pull_slices = []
    for r in range(t.pull_rounds):
        at = np.broadcast_to(ends[:, None] + t.push_window_s + t.pull_grace_s
                             + r * t.pull_backoff_s, (INTERVALS, n))
        need = ~delivered
        per = per_at(at)
        tries = need & reachable(at)
        octets = rows_octets(1)
        ok = tries & (rng.random((INTERVALS, n)) < medium.success(hops, per, legs, octets))
        service = medium.channel_s(octets, hops, per)
        pull_slices.append((jobs.add(
            at[tries], service[tries], (medium.path_s(octets, hops, per) + pull_delay)[tries],
            (service / np.minimum(hops, medium.collision_hops))[tries],
            np.full(tries.sum(), 0.5), np.zeros(tries.sum())), np.flatnonzero(tries.ravel())))
        delivered |= ok
        how_round = np.where(ok, r + 1, how_round)

    # ---- gap fill at each later collection, over the horizon
    slots = INTERVALS * HORIZON_DAYS
    slot_at = INTERVAL_S * np.arange(1, slots + 1, dtype=float) + t.push_window_s + \
        t.pull_grace_s
    slot_per = per_at(slot_at)[:, None]
    slot_ok = reachable(slot_at[:, None]) & (
        rng.random((slots, n)) < medium.success(hops, slot_per, legs, rows_octets(1)))
    index = np.where(slot_ok, np.arange(slots)[:, None], slots)
    next_ok = np.minimum.accumulate(index[::-1], axis=0)[::-1]
    next_ok = np.vstack([next_ok, np.full((1, n), slots)])
    wait_slots = 1 + int(max(t.pull_rounds - 1, 0) * t.pull_backoff_s // INTERVAL_S)
    first_slot = np.minimum(np.arange(INTERVALS) + wait_slots, slots)  # slot index k+wait
    missing = ~delivered
    k_idx, m_idx = np.nonzero(missing)
    fill_slot = next_ok[first_slot[k_idx], m_idx]  # == slots: not within the horizon
    # outstanding intervals per (slot, meter): one gap-fill session reads them all
    outstanding = np.zeros((slots + 1, n), np.int64)
    np.add.at(outstanding, (first_slot[k_idx], m_idx), 1)
    np.add.at(outstanding, (np.minimum(fill_slot + 1, slots), m_idx), -1)
    outstanding = np.cumsum(outstanding, axis=0)[:slots]
    tries = (outstanding > 0) & reachable(slot_at[:, None])
    octets = rows_octets(outstanding)
    service = medium.channel_s(octets, hops, slot_per)
    at = np.broadcast_to(slot_at[:, None], (slots, n))
    fill_jobs = jobs.add(at[tries], service[tries],
                         (medium.path_s(octets, hops, slot_per) + pull_delay)[tries],
                         (service / np.minimum(hops, medium.collision_hops))[tries],
                         np.full(tries.sum(), 0.5), np.zeros(tries.sum()))
    fill_index = np.flatnonzero(tries.ravel())

    # ---- real-time 5-minute group: every 5 minutes, no retry (the next read covers it)
    rt = np.flatnonzero(area.realtime & area.second_generation)
    five_ends = FIVE_S * np.arange(1, DAY_S // FIVE_S + 1, dtype=float)
    rt_at = np.broadcast_to(five_ends[:, None] + t.pull_grace_s, (five_ends.size, rt.size))
    rt_per = per_at(rt_at)
    rt_reach = reachable(rt_at, rt)
    octets = rows_octets(1)
    rt_ok = rt_reach & (rng.random(rt_at.shape) < medium.success(hops[rt], rt_per, legs,
                                                                 octets))
    service = medium.channel_s(octets, hops[rt], rt_per)
    rt_jobs = jobs.add(rt_at[rt_reach], service[rt_reach],
                       (medium.path_s(octets, hops[rt], rt_per) + pull_delay)[rt_reach],
                       (service / np.minimum(hops[rt], medium.collision_hops))[rt_reach],
                       np.full(rt_reach.sum(), 0.5), np.ones(rt_reach.sum()))
    rt_index = np.flatnonzero(rt_reach.ravel())

    # ---- historical group: yesterday's 288 values, read in the night window, with retries
    hist = np.flatnonzero(area.historical & area.second_generation)
    h0, h1 = (h * 3600 for h in t.historical_window_h)
    hist_at = h0 + rng.random(hist.size) * (h1 - h0)
    hist_done = np.zeros(hist.size, bool)
    octets = rows_octets(DAY_S // FIVE_S)
    for _ in range(max(t.pull_rounds, 1)):
        live = ~hist_done & (hist_at < h1)
        reach_h = live & reachable(hist_at, hist)
        per = per_at(hist_at)
        ok = reach_h & (rng.random(hist.size) < medium.success(hops[hist], per, legs,
                                                                  octets))
        service = medium.channel_s(octets, hops[hist], per)
        jobs.add(hist_at[reach_h], service[reach_h],
                 (medium.path_s(octets, hops[hist], per) + pull_delay)[reach_h],
                 (service / np.minimum(hops[hist], medium.collision_hops))[reach_h],
                 np.full(reach_h.sum(), 0.5), np.zeros(reach_h.sum()))
        hist_done |= ok
        hist_at = hist_at + t.pull_backoff_s

    # ---- the channel: FIFO over every job of the day
    arrival, service, path, per_hop, up, is_rt = jobs.columns()
    order = np.argsort(arrival, kind="stable")
    departure = np.empty_like(arrival)
    departure[order] = lindley_departures(arrival[order], service[order])
    if medium.sessions and arrival.size:  # the HES's per-cell session throttle
        rank = np.empty(arrival.size)
        rank[order] = _rank_among_equal(arrival[order])
        departure += (rank // medium.sessions) * (medium.pull_latency_s + service) * (up < 1)
    done = departure + path
    result.jobs = int(arrival.size)

    # ---- 30-minute delivery times
    delivered_at = np.full((INTERVALS, n), NEVER)
    flat = delivered_at.ravel()
    push_done = np.full(INTERVALS * n, NEVER)
    push_done[push_index] = done[push_jobs]
    flat[pushed.ravel()] = push_done[pushed.ravel()]
    round_of = how_round.ravel()
    for r, (sl, idx) in enumerate(pull_slices, start=1):
        got = np.zeros(INTERVALS * n, bool)
        times = np.full(INTERVALS * n, NEVER)
        times[idx] = done[sl]
        got[idx] = True
        take = got & (round_of == r)
        flat[take] = times[take]
    fill_done = np.full(slots * n, NEVER)
    fill_done[fill_index] = done[fill_jobs]
    within = fill_slot < slots
    flat_missing = k_idx * n + m_idx
    flat[flat_missing[within]] = fill_done[fill_slot[within] * n + m_idx[within]]

    counted = ~area.hole
    latency = (delivered_at - ends[:, None])[:, counted]
    result.holes = int(area.hole.sum())
    result.expected = int(latency.size)
    result.on_time = int((latency <= ON_TIME_S).sum())
    result.pushed = int(pushed[:, counted].sum())
    result.first_pull = int(((how_round >= 0) & (how_round <= 1))[:, counted].sum())
    result.by_horizon = int(np.isfinite(latency).sum())
    result.latency_hist = np.histogram(latency[np.isfinite(latency)], LATENCY_EDGES)[0] \
        .astype(float)
    # beyond the horizon: recoverable if the meter is back before its retention runs out
    left = ~np.isfinite(delivered_at) & counted
    back_by = np.maximum(area.off_end, area.down[1] if area.down else 0.0)
    keep_until = ends[:, None] + t.retention_days * DAY_S
    lost = left & (back_by[None, :] >= keep_until)
    result.lost = int(lost.sum())
    result.eventual = result.expected - result.lost

    # ---- 5-minute groups
    rt_done = np.full(rt_at.size, NEVER)
    rt_done[rt_index] = done[rt_jobs]
    rt_latency = np.where(rt_ok.ravel(), rt_done - np.repeat(five_ends, rt.size), NEVER)
    result.realtime_expected = int(rt_latency.size)
    result.realtime_on_time = int((rt_latency <= REALTIME_S).sum())
    result.historical_expected = int(hist.size)
    result.historical_delivered = int(hist_done.sum())

    # ---- airtime, duty and headroom
    five_busy = np.bincount((arrival // FIVE_S).astype(np.int64) % (DAY_S // FIVE_S),
                            service, DAY_S // FIVE_S)
    base_five = np.bincount((arrival // FIVE_S).astype(np.int64) % (DAY_S // FIVE_S),
                            service * (1 - is_rt), DAY_S // FIVE_S)
    hour = (arrival // 3600).astype(np.int64) % 24
    result.hourly_utilisation = np.bincount(hour, service, 24) / 3600
    result.peak_utilisation_5min = float(five_busy.max() / FIVE_S) if arrival.size else 0.0
    result.mean_utilisation = float(service.sum() / (DAY_S * (slots / INTERVALS))) \
        if arrival.size else 0.0
    first_hop = max(int((hops == 1).sum()), 1)
    relay = np.bincount(hour, per_hop * up, 24) / first_hop
    conc = np.bincount(hour, per_hop * (1 - up), 24)
    result.peak_relay_tx_s_per_h = 0.0 if medium.cellular else float(relay.max())
    result.peak_concentrator_tx_s_per_h = 0.0 if medium.cellular else float(conc.max())

    second = float(area.second_generation.mean())
    mean_per = np.full(n, area.per)
    rt_cost = float(medium.channel_s(rows_octets(1), hops, mean_per).mean())
    room = t.target_utilisation * FIVE_S - base_five.max(initial=0.0)
    rt_meters = max(room, 0.0) / rt_cost if rt_cost else n
    if medium.name == "multihop":  # ARIB STD-T108's hourly budget binds the radio only
        budget = config.multihop.hourly_tx_budget_s
        rt_relay = 12 * float((medium.channel_s(rows_octets(1), hops, mean_per)
                               / np.minimum(hops, medium.collision_hops)).mean()) * 0.5
        base_relay = np.bincount(hour, per_hop * up * (1 - is_rt), 24).max(initial=0.0)
        rt_meters = min(rt_meters, max(budget - base_relay / first_hop, 0) * first_hop
                        / rt_relay)
    result.max_realtime_share = min(rt_meters / n, second)
    hist_cost = float(medium.channel_s(rows_octets(DAY_S // FIVE_S), hops, mean_per).mean())
    day_room = t.target_utilisation * DAY_S - float(service.sum()) * INTERVALS / slots
    current_hist = hist.size
    result.max_historical_share = min(
        (max(day_room, 0.0) / hist_cost + current_hist) / n, second - min(
            t.realtime_share, second))
    per_meter_peak = five_busy.max(initial=0.0) / n
    result.capacity_meters = (t.target_utilisation * FIVE_S / per_meter_peak
                              if per_meter_peak else float("inf"))
    return result
