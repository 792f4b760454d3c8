"""How many meter sessions the head-end runs at once: per concentrator or cell, and in all,
and which waiting session goes next (SPEC S1, S3).

A multi-hop field network carries only a few sessions per concentrator at a time, a 1:N
cell its own number; the head-end itself has a ceiling too. Every session — a command, a
pull, a gap fill — takes a place in its cell and a place overall. When places free up,
waiting sessions take them by :class:`Priority` (30-minute settlement data before the
real-time 5-minute group, before the historical group), first come first served within
one priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator, Callable
from enum import IntEnum

__all__ = ["Priority", "Throttle"]


class Priority(IntEnum):
    """Which waiting session takes a freed place first (lowest first)."""

    SETTLEMENT = 0
    """30- and 15-minute interval pulls, their gap fill, and commands (S1)."""
    REALTIME = 1
    """The real-time 5-minute group: within 10 minutes (S3)."""
    HISTORICAL = 2
    """The historical 5-minute group: within days (S3)."""


class _Places:
    """``capacity`` places handed to waiters in (priority, arrival) order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.taken = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def take(self, priority: int) -> None:
        if self.taken < self.capacity and not self._waiting:
            self.taken += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (priority, next(self._order), waiter)
        heapq.heappush(self._waiting, entry)
        try:
            await waiter  # the place is handed over taken (see give_back)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give_back()  # handed over as we were cancelled: pass it on
            elif entry in self._waiting:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def give_back(self) -> None:
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self.taken -= 1


class Throttle:
    def __init__(self, cell_of: Callable[[int], str], per_cell: int | Callable[[str], int],
                 total: int) -> None:
        """``per_cell``: sessions at a time in every cell, or a function of the cell's
        name giving each its own (a concentrator and a 1:N cell differ)."""
        limit_of = per_cell if callable(per_cell) else (lambda _cell: per_cell)
        if total <= 0 or (not callable(per_cell) and per_cell <= 0):
            raise ValueError("concurrency must be > 0")
        self._cell_of = cell_of
        self._limit_of = limit_of
        self._cells: dict[str, _Places] = {}
        self._total = _Places(total)

    def _cell(self, meter_id: int) -> _Places:
        name = self._cell_of(meter_id)
        places = self._cells.get(name)
        if places is None:
            limit = self._limit_of(name)
            if limit <= 0:
                raise ValueError(f"concurrency of cell {name!r} must be > 0")
            places = self._cells[name] = _Places(limit)
        return places

    def busy(self, cell: str) -> int:
        """Sessions holding a place in ``cell`` now."""
        places = self._cells.get(cell)
        return places.taken if places else 0

    @contextlib.asynccontextmanager
    async def slot(self, meter_id: int, priority: Priority = Priority.SETTLEMENT
                   ) -> AsyncIterator[None]:
        """Hold a place for one session with ``meter_id``."""
        cell = self._cell(meter_id)
        await cell.take(priority)
        try:
            await self._total.take(priority)
            try:
                yield
            finally:
                self._total.give_back()
        finally:
            cell.give_back()
