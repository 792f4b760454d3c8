"""Link arithmetic shared by both fidelities: airtime, retries, routing-tree depth, duty.

Pure functions; times in seconds, sizes in octets, rates in kbit/s. The figures they are fed
come from ``default.yaml`` and are cited in docs/fan.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smame.fan.config import FanConfig

__all__ = [
    "Medium",
    "area_depth",
    "expected_attempts",
    "frame_airtime_s",
    "frames_for",
    "hop_depths",
    "link_success",
    "medium_for",
]


def frames_for(octets: np.ndarray | float, payload_octets: int) -> np.ndarray:
    """Frames needed for ``octets`` of application data (6LoWPAN fragmentation)."""
    return np.maximum(1, np.ceil(np.asarray(octets, float) / payload_octets))


def frame_airtime_s(payload_octets: int, overhead_octets: int, kbps: float) -> float:
    """On-air time of one frame, s: (payload + PHY/MAC overhead) bits at the PHY rate."""
    return (payload_octets + overhead_octets) * 8 / (kbps * 1000)


def link_success(per: np.ndarray | float, retries: int) -> np.ndarray | float:
    """Probability a frame crosses one link within ``retries`` MAC retransmissions."""
    return 1 - np.power(per, retries + 1)


def expected_attempts(per: np.ndarray | float, retries: int) -> np.ndarray | float:
    """Mean transmissions of one frame on one link, retries included (truncated geometric)."""
    per = np.asarray(per, float)
    safe = np.where(per < 1, 1 - per, 1.0)
    return np.where(per < 1, (1 - np.power(per, retries + 1)) / safe, retries + 1.0)


def area_depth(meters: np.ndarray, hops_at_500: int, max_hops: int) -> np.ndarray:
    """Routing-tree depth of areas of ``meters``: the radius of a disc of uniform density
    grows with the square root of its meters, so depth does too (capped at ``max_hops``)."""
    return np.clip(np.round(hops_at_500 * np.sqrt(np.asarray(meters) / 500)), 1,
                   max_hops).astype(np.int64)


def hop_depths(rng: np.random.Generator, meters: int, depth: int) -> np.ndarray:
    """Hop count of each meter of an area of routing depth ``depth``: meters uniform on a disc,
    hop = ceil(depth * r/R), so P(hop = k) = (2k - 1) / depth²."""
    return np.maximum(1, np.ceil(depth * np.sqrt(rng.random(meters)))).astype(np.int64)


@dataclass(frozen=True)
class Medium:
    """How one method's transactions use its shared channel.

    Mesh and PLC: each frame crosses each hop with ``expected_attempts`` transmissions, each
    costing ``attempt_s``; hops within ``collision_hops`` of the concentrator share its
    channel (the bottleneck), deeper hops overlap with other traffic and only add delay.
    1:N: a transaction costs the cell ``cell_s_per_octet`` per octet; no hops.
    """

    name: str
    payload_octets: int
    attempt_s: float
    retries: int
    collision_hops: int
    cell_s_per_octet: float = 0.0
    up_latency_s: float = 0.0    # 1:N: connect before an uplink
    pull_latency_s: float = 0.0  # 1:N: paging + connect before a pulled meter answers
    sessions: int = 0            # 1:N: the HES session throttle per cell

    @property
    def cellular(self) -> bool:
        return self.cell_s_per_octet > 0

    def channel_s(self, octets, hops: np.ndarray, per) -> np.ndarray:
        """Busy time of the concentrator's (or cell's) channel for one transaction, s."""
        if self.cellular:
            shape = np.broadcast_shapes(np.shape(octets), np.shape(hops), np.shape(per))
            return np.broadcast_to(np.asarray(octets) * self.cell_s_per_octet, shape).copy()
        per_hop = (frames_for(octets, self.payload_octets) * self.attempt_s
                   * expected_attempts(per, self.retries))
        return per_hop * np.minimum(hops, self.collision_hops)

    def path_s(self, octets, hops: np.ndarray, per) -> np.ndarray:
        """Delay of the hops beyond the shared zone, s (they overlap with other traffic)."""
        if self.cellular:
            return np.zeros(np.broadcast_shapes(np.shape(octets), np.shape(hops),
                                                np.shape(per)))
        per_hop = (frames_for(octets, self.payload_octets) * self.attempt_s
                   * expected_attempts(per, self.retries))
        return per_hop * np.maximum(hops - self.collision_hops, 0)

    def success(self, hops: np.ndarray, per, legs: int, octets=1) -> np.ndarray:
        """Probability a transaction of ``octets`` in ``legs`` one-way trips gets through end
        to end: every frame of every leg must cross every hop."""
        if self.cellular:  # the loss figure is per transaction on a cell
            return (1 - np.asarray(per)) + np.zeros(np.shape(hops))
        frames = frames_for(np.asarray(octets) / legs, self.payload_octets)
        return link_success(per, self.retries) ** (hops * legs * frames)


def medium_for(config: FanConfig, method: str) -> Medium:
    """The :class:`Medium` of ``method`` ("multihop", "1n", "plc") under ``config``."""
    if method == "multihop":
        m = config.multihop
        frame = frame_airtime_s(m.frame_payload_bytes, m.frame_overhead_bytes, m.phy_kbps)
        return Medium("multihop", m.frame_payload_bytes,
                      frame + (m.cca_ms + m.backoff_mean_ms + m.ack_ms + m.pause_ms) / 1000,
                      m.mac_retries, m.collision_hops)
    if method == "plc":
        p = config.plc
        frame = frame_airtime_s(p.frame_payload_bytes, p.frame_overhead_bytes, p.phy_kbps)
        return Medium("plc", p.frame_payload_bytes,
                      frame + (p.cca_ms + p.backoff_mean_ms + p.ack_ms) / 1000,
                      p.mac_retries, p.max_hops)  # one shared medium: every hop collides
    if method == "1n":
        c = config.one_n
        per_hour = c.reference_devices * c.reference_uplinks_per_hour
        reference_s = 3600 / per_hour / c.share_of_cell_for_meters
        return Medium("1n", 0, 0.0, 0, 1, cell_s_per_octet=reference_s / c.reference_bytes,
                      up_latency_s=c.attach_s, pull_latency_s=c.attach_s + c.paging_s,
                      sessions=c.sessions_per_cell)
    raise ValueError(f"unknown method {method!r}")
