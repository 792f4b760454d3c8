"""A discrete-event clock for the per-packet model: simulated time that jumps to the next
event once every coroutine on the event loop is waiting (SPEC: time is injected).

It is a :class:`smame.clock.Clock`, so the head-end runs on it unchanged: its schedule
sleeps on it, and the field network's frame events are callbacks on the same heap.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from smame.clock import from_epoch

__all__ = ["EventClock", "FrameClock"]


class FrameClock(Protocol):
    """What the field network's frames need of time: the time, and a callback at a moment
    (:class:`EventClock` as fast as it goes; :class:`smame.fan.paced.PacedEvents` on a
    demo's accelerated clock)."""

    def time(self) -> float: ...

    def call_at(self, moment: float, callback: Callable[[], None]) -> None: ...


class EventClock:
    """Simulated time driven by an event heap; :meth:`run_until` advances it."""

    speed = float("inf")

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.events = 0  # callbacks fired: the per-packet model's event count

    def time(self) -> float:
        return self._now

    def now(self) -> datetime:
        return from_epoch(self._now)

    def call_at(self, moment: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the clock reaches ``moment`` (POSIX s)."""
        heapq.heappush(self._heap, (max(moment, self._now), next(self._order), callback))

    async def sleep(self, seconds: float) -> None:
        waiter = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self.call_at(self._now + max(seconds, 0.0), wake)
        await waiter

    def run_callbacks(self, until: float) -> None:
        """Fire events up to ``until`` without an event loop (callback-only models)."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            moment, _, callback = heapq.heappop(heap)
            self._now = moment
            self.events += 1
            callback()
        self._now = max(self._now, until)

    async def run_until(self, until: float) -> None:
        """Fire events in time order up to ``until``, letting the loop settle between them:
        the clock moves only when no coroutine can run (nothing waits on real I/O here)."""
        loop = asyncio.get_running_loop()
        while True:
            await _settle(loop)
            if not self._heap or self._heap[0][0] > until:
                self._now = max(self._now, until)
                return
            moment, _, callback = heapq.heappop(self._heap)
            self._now = moment
            self.events += 1
            callback()


async def _settle(loop: asyncio.AbstractEventLoop) -> None:
    # CPython's event loop keeps its runnable callbacks in ``_ready``; yielding until it is
    # empty is the only way to know every task is blocked on this clock.
    await asyncio.sleep(0)
    while getattr(loop, "_ready", ()):
        await asyncio.sleep(0)
