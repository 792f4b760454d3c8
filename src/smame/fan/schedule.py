"""Collection rounds for a lossy field network, on the head-end's public interface.

``HeadEnd.run_schedule`` pulls each interval's missing meters once, ``push_grace_seconds``
after it closes, and leaves the rest to ``fill_gaps``. On a mesh with lossy links a utility
retries within the hour: :func:`retry_rounds` pulls what is still missing ``rounds`` more
times, ``backoff_s`` apart (back-off on loss), so 30-minute data reaches the head-end within
60 minutes (S1) without waiting for the next gap fill. The real-time group stays on the
head-end's own 5-minute schedule: 30-minute settlement data is always pulled first at a
boundary, since ``run_schedule`` collects it before the group.
"""

from __future__ import annotations

import asyncio

from smame.clock import Clock
from smame.hes.headend import HeadEnd

__all__ = ["retry_rounds"]


async def retry_rounds(headend: HeadEnd, clock: Clock, until: float, rounds: int = 2,
                       backoff_s: float = 600.0, period: int = 30,
                       since: float | None = None) -> int:
    """Re-pull every ``period``-minute interval ending after ``since`` (default now) and up
    to ``until`` that is still missing, ``rounds`` times, ``backoff_s`` apart after the
    head-end's own pull; the number of intervals these rounds delivered."""
    step = period * 60
    grace = headend.config.push_grace_seconds
    boundary = (int(clock.time() if since is None else since) // step + 1) * step
    tasks: list[asyncio.Task[int]] = []

    async def retry(end: int) -> int:
        got = 0
        for r in range(1, rounds + 1):
            await clock.sleep(end + grace + r * backoff_s - clock.time())
            if not headend.missing(end, period):
                break
            got += await headend.collect(end, period)
        return got

    while boundary <= until:
        await clock.sleep(boundary + grace - clock.time())
        tasks.append(asyncio.ensure_future(retry(boundary)))
        boundary += step
    return sum(await asyncio.gather(*tasks))
