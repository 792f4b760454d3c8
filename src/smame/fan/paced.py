"""Frame events of the per-packet model paced by wall time, for a system on an
accelerated clock (``make demo``: SPEC S1, S3 over the multi-hop model).

:class:`smame.fan.events.EventClock` jumps from event to event as fast as the machine
goes; a demo's head-end, meters and MDMS instead live on an
:class:`smame.clock.AcceleratedClock`. :class:`PacedEvents` fires the field network's
frame events when the wall clock reaches them at the system clock's speed, so the mesh's
delays and losses happen on the demo's clock.

Its own time follows the system clock's speed but does not stop with it: the demo stops
its clock while the MDMS opens and after the day, while the head-end finishes, and frames
in flight must still arrive (as the demo's TCP sessions do in wall time). The mesh time
is therefore ahead of the system clock by however long the system clock stood still;
only differences of mesh time are used (frame timing, answer timeouts).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time as _time
from collections.abc import Callable
from datetime import datetime

from smame.clock import AcceleratedClock, from_epoch

__all__ = ["PacedEvents"]

class PacedEvents:
    """An event heap fired on wall time at ``clock``'s (last non-zero) speed."""

    def __init__(self, clock: AcceleratedClock, monotonic: Callable[[], float] = _time.monotonic
                 ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._pace = clock.speed
        self._base = clock.time()
        self._origin = monotonic()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._firing_at: float | None = None
        self.events = 0  # callbacks fired

    def time(self) -> float:
        """Mesh time, POSIX-like s: while an event fires, that event's moment; otherwise
        the wall-paced time, held at the earliest event not yet fired while the event loop
        lags behind it. A transfer begun during a lag then takes its place on the channel
        behind the frames already in flight, instead of overtaking them."""
        if self._firing_at is not None:
            return self._firing_at
        now = self._paced_now()
        return min(now, self._heap[0][0]) if self._heap else now

    def _paced_now(self) -> float:
        wall = self._monotonic()
        now = self._base + (wall - self._origin) * self._pace
        speed = self._clock.speed
        if speed and speed != self._pace:  # follow the system clock's new speed from here
            self._base, self._origin, self._pace = now, wall, speed
        return now

    def now(self) -> datetime:
        return from_epoch(self.time())

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of mesh time (a session's answer timeout over the mesh)."""
        waiter = asyncio.get_running_loop().create_future()
        self.call_at(self.time() + max(seconds, 0.0),
                     lambda: waiter.done() or waiter.set_result(None))
        await waiter

    def call_at(self, moment: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` when mesh time reaches ``moment``."""
        entry = (moment, next(self._order), callback)
        heapq.heappush(self._heap, entry)
        if self._firing_at is None and self._heap[0] is entry:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        if not self._heap:
            return
        ahead = self._heap[0][0] - self._paced_now()
        self._timer = asyncio.get_running_loop().call_later(max(ahead / self._pace, 0.0),
                                                            self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._paced_now()
        heap = self._heap
        try:
            while heap and heap[0][0] <= now:
                moment, _, callback = heapq.heappop(heap)
                self._firing_at = moment
                self.events += 1
                callback()
        finally:
            self._firing_at = None
        self._arm()

    def close(self) -> None:
        """Drop what is still scheduled (the system stops)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._heap.clear()
