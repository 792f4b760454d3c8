"""How many meter sessions the head-end runs at once: per concentrator or cell, and in all.

A multi-hop field network carries only a few sessions per concentrator at a time; the
head-end itself has a ceiling too. Every session — a command, a pull, a gap fill — takes a
place in its cell and a place overall, in FIFO order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

__all__ = ["Throttle"]


class Throttle:
    def __init__(self, cell_of: Callable[[int], str], per_cell: int, total: int) -> None:
        if per_cell <= 0 or total <= 0:
            raise ValueError("concurrency must be > 0")
        self._cell_of = cell_of
        self._per_cell = per_cell
        self._cells: dict[str, asyncio.Semaphore] = {}
        self._total = asyncio.Semaphore(total)

    @contextlib.asynccontextmanager
    async def slot(self, meter_id: int) -> AsyncIterator[None]:
        """Hold a place for one session with ``meter_id``."""
        cell = self._cells.setdefault(self._cell_of(meter_id), asyncio.Semaphore(self._per_cell))
        async with cell, self._total:
            yield
