"""The per-packet model of one concentrator area: every frame, hop and MAC attempt is an
event on a :class:`FrameClock`.

A transfer of ``octets`` to or from a meter is cut into frames; each frame crosses the
meter's hops one after the other; each crossing is up to ``retries + 1`` attempts, each
failing with the area's PER at that moment. Attempts on the hops within ``collision_hops``
of the concentrator take its channel in request order (one at a time); deeper hops only
take time. A frame that exhausts its retries loses the transfer. The arithmetic per attempt
is the vectorized model's (:mod:`smame.fan.radio`), so the two can be calibrated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from smame.fan.events import FrameClock
from smame.fan.radio import Medium, frames_for

__all__ = ["FieldArea"]


@dataclass
class _Transfer:
    meter: int
    frames: int
    hops: int
    uplink: bool
    done: Callable[[bool], None]
    frame: int = 0
    hop: int = 0
    attempt: int = 0


@dataclass
class FieldArea:
    """A concentrator and its meters' routes; ``down``: concentrator outages, ``off``: a
    meter's time off the mesh (no route), both POSIX s."""

    clock: FrameClock
    medium: Medium
    hops: dict[int, int]          # meter id -> hop count
    per: float
    rng: np.random.Generator
    down: list[tuple[float, float]] = field(default_factory=list)
    off: dict[int, tuple[float, float]] = field(default_factory=dict)  # meter off the mesh
    burst: tuple[float, float, float] | None = None
    channel_free: float = 0.0
    channel_busy_s: float = 0.0
    attempts: int = 0
    lost: int = 0
    sessions_open: int = 0  # head-end connections through this concentrator now
    sessions_peak: int = 0
    session_log: list[tuple[float, int]] = field(default_factory=list)  # (opened, meter)

    def session_opened(self, meter: int) -> None:
        self.session_log.append((self.clock.time(), meter))
        self.sessions_open += 1
        self.sessions_peak = max(self.sessions_peak, self.sessions_open)

    def session_closed(self) -> None:
        self.sessions_open -= 1

    def reachable(self, meter: int) -> bool:
        now = self.clock.time()
        off = self.off.get(meter)
        return (meter in self.hops and not any(a <= now < b for a, b in self.down)
                and not (off and off[0] <= now < off[1]))

    def per_now(self) -> float:
        if self.burst and self.burst[0] <= self.clock.time() < self.burst[1]:
            return max(self.per, self.burst[2])
        return self.per

    def transfer(self, meter: int, octets: int, uplink: bool,
                 done: Callable[[bool], None], setup_s: float = 0.0) -> None:
        """Carry ``octets`` to (``uplink=False``) or from a meter; ``done(ok)`` when it
        arrives or is lost. On a cell, ``setup_s`` is the connection's set-up (connect,
        paging) before the transfer; cell transfers are not lost (the loss is drawn once
        per transaction by the caller: :meth:`transaction_lost`)."""
        if not self.reachable(meter):
            self.lost += 1
            self.clock.call_at(self.clock.time(), lambda: done(False))
            return
        if self.medium.cellular:
            self._cell(octets, done, setup_s)
            return
        job = _Transfer(meter, int(frames_for(octets, self.medium.payload_octets)),
                        self.hops[meter], uplink, done)
        self._attempt(job)

    def transaction_lost(self) -> bool:
        """On a cell: whether a whole transaction (a push, a session) fails."""
        lost = self.rng.random() < self.per_now()
        self.lost += lost
        return bool(lost)

    def _cell(self, octets: int, done: Callable[[bool], None], setup_s: float) -> None:
        ready = self.clock.time() + setup_s
        start = max(ready, self.channel_free)
        cost = octets * self.medium.cell_s_per_octet
        self.channel_free = start + cost
        self.channel_busy_s += cost
        self.attempts += 1
        self.clock.call_at(start + cost, lambda: done(True))

    def _attempt(self, job: _Transfer) -> None:
        now = self.clock.time()
        # uplink hop 0 is the meter's own link, farthest from the concentrator
        distance = job.hops - job.hop if job.uplink else job.hop + 1
        cost = self.medium.attempt_s
        start = now
        if distance <= self.medium.collision_hops:
            start = max(now, self.channel_free)
            self.channel_free = start + cost
            self.channel_busy_s += cost
        self.attempts += 1
        ok = self.rng.random() >= self.per_now() and self.reachable(job.meter)
        self.clock.call_at(start + cost, lambda: self._after(job, ok))

    def _after(self, job: _Transfer, ok: bool) -> None:
        if not ok:
            job.attempt += 1
            if job.attempt > self.medium.retries:
                self.lost += 1
                job.done(False)
                return
            self._attempt(job)
            return
        job.attempt = 0
        job.hop += 1
        if job.hop == job.hops:
            job.hop = 0
            job.frame += 1
            if job.frame == job.frames:
                job.done(True)
                return
        self._attempt(job)
