"""Injected time.

Domain code never reads the system time: it takes a :class:`Clock`. Live runs use
:class:`WallClock`, demos an :class:`AcceleratedClock`, the simulator and tests a
:class:`SimulatedClock` that only moves when the caller advances it.

All clocks speak UTC. ``time()`` is POSIX seconds (float); ``now()`` an aware datetime.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import os
import time as _time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "JST",
    "JST_OFFSET_S",
    "AcceleratedClock",
    "Clock",
    "SimulatedClock",
    "WallClock",
    "clock_file",
    "clock_of",
    "epoch_seconds",
    "from_epoch",
    "jst_day",
    "jst_day_start",
    "to_epoch",
]

JST = timezone(timedelta(hours=9), "JST")
"""Japan Standard Time (UTC+9, no daylight saving): customers' days and settlement days."""
JST_OFFSET_S = 9 * 3600


def jst_day_start(day: date) -> int:
    """POSIX seconds of 00:00 JST on ``day``."""
    return (day - date(1970, 1, 1)).days * 86400 - JST_OFFSET_S


def jst_day(posix_seconds: float) -> date:
    """The JST calendar day of a moment."""
    return date(1970, 1, 1) + timedelta(days=(int(posix_seconds) + JST_OFFSET_S) // 86400)


def to_epoch(moment: datetime) -> float:
    """POSIX seconds of an aware datetime; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: give a timezone")
    return moment.timestamp()


def epoch_seconds(moment: datetime | int) -> int:
    """Whole POSIX seconds of an aware datetime, or of POSIX seconds given as a number."""
    return int(to_epoch(moment)) if isinstance(moment, datetime) else int(moment)


def from_epoch(seconds: float) -> datetime:
    """Aware UTC datetime of POSIX seconds."""
    return datetime.fromtimestamp(seconds, UTC)


@runtime_checkable
class Clock(Protocol):
    """What domain code may ask of time."""

    def time(self) -> float:
        """Current time as POSIX seconds (UTC)."""
        ...

    def now(self) -> datetime:
        """Current time as an aware UTC datetime."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class WallClock:
    """The real time of the machine."""

    speed = 1.0

    def time(self) -> float:
        return _time.time()

    def now(self) -> datetime:
        return from_epoch(self.time())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


_STOPPED_POLL_S = 0.05  # real seconds between looks at a stopped clock


class AcceleratedClock:
    """Runs ``speed`` times faster than real time from ``start``.

    ``monotonic`` is injectable so the arithmetic can be tested without waiting.
    """

    def __init__(
        self,
        start: datetime,
        speed: float,
        monotonic=_time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._start = to_epoch(start)
        self._monotonic = monotonic
        self._origin = monotonic()

    def time(self) -> float:
        return self._start + (self._monotonic() - self._origin) * self.speed

    def now(self) -> datetime:
        return from_epoch(self.time())

    def set_speed(self, speed: float) -> None:
        """Run ``speed`` times real time from now on; 0 stops the clock. Time stays
        continuous, and sleepers wake when the clock reaches their deadline."""
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self._start = self.time()
        self._origin = self._monotonic()
        self.speed = float(speed)

    async def sleep(self, seconds: float) -> None:
        deadline = self.time() + max(0.0, seconds)
        await asyncio.sleep(0)
        while (left := deadline - self.time()) > 0:
            await asyncio.sleep(left / self.speed if self.speed else _STOPPED_POLL_S)


class SimulatedClock:
    """Discrete time that moves only when :meth:`advance` or :meth:`set` is called.

    Coroutines sleeping on it wake, in deadline order, as the caller advances time.
    """

    speed = float("inf")

    def __init__(self, start: datetime | float) -> None:
        self._now = to_epoch(start) if isinstance(start, datetime) else float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._now

    def now(self) -> datetime:
        return from_epoch(self._now)

    def set(self, moment: datetime | float) -> None:
        target = to_epoch(moment) if isinstance(moment, datetime) else float(moment)
        if target < self._now:
            raise ValueError("a simulated clock does not run backwards")
        self._now = target
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a simulated clock does not run backwards")
        self.set(self._now + seconds)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), waiter))
        await waiter


def clock_of(document: dict) -> AcceleratedClock | None:
    """The accelerated clock a document describes, as it reads now; None if it names none.

    The document (a meter manifest, a deployment's ``clock.json``) gives ``start`` (ISO
    time), ``speed`` and ``wall_origin`` (the POSIX wall time at which the clock read
    ``start``), so every process of a deployment reads the same time from it. Wall time
    is read here, once: this is where a clock is made, not domain code.
    """
    try:
        start = datetime.fromisoformat(document["start"])
        speed = float(document["speed"])
        origin = float(document["wall_origin"])
    except (KeyError, TypeError, ValueError):
        return None
    return AcceleratedClock(from_epoch(start.timestamp() + (_time.time() - origin) * speed),
                            speed)



def clock_file(path: str | os.PathLike) -> AcceleratedClock:
    """The clock the JSON file at ``path`` describes (see :func:`clock_of`); a
    ``ValueError`` saying why not."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror or exc}") from None
    except ValueError:
        raise ValueError("not JSON") from None
    clock = clock_of(document) if isinstance(document, dict) else None
    if clock is None:
        raise ValueError("give start, speed and wall_origin")
    return clock
