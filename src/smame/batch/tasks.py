"""The per-shard tasks of the batch jobs: each opens one shard's store, does its part of
the job and closes the store again, so a shard is in one task's hands at a time.

Tasks are plain functions of picklable arguments (the shard's data directory, the clock's
``now``) that return picklable results, so that a Dask worker on another machine runs them
with the shard directory on shared storage or on its own disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TypeVar

from smame.mdms.close import CloseResult
from smame.mdms.service import Housekeeping, Mdms
from smame.mdms.settlement import Settlement
from smame.store.retention import RETENTION_YEARS

__all__ = ["analyze_task", "close_task", "housekeeping_task", "revee_task", "settle_task"]

T = TypeVar("T")


@contextmanager
def _opened(directory: str, now: float | None) -> Iterator[Mdms]:
    """The shard's MDMS on a simulated clock at ``now`` (POSIX s), or on the wall clock;
    in the process that owns the store, the owner's (on its clock)."""
    from smame.batch.hosted import hosted_store
    from smame.clock import SimulatedClock, WallClock

    owned = hosted_store(directory)
    if owned is not None:
        yield owned
        return
    clock = SimulatedClock(now) if now is not None else WallClock()
    mdms = Mdms(Path(directory), clock=clock)
    try:
        yield mdms
    finally:
        mdms.close()


def settle_task(directory: str, day: date, minutes: int) -> Settlement:
    """The shard's settlement sums of ``day`` (SPEC S1, S10)."""
    with _opened(directory, None) as mdms:
        return mdms.settle(day, minutes)


def revee_task(directory: str, now: float | None) -> list[CloseResult]:
    """Close again every day the shard queued for re-VEE (late data after the close)."""
    with _opened(directory, now) as mdms:
        return mdms.process_revee_queue()


def close_task(directory: str, now: float | None, days: list[date] | None,
               compact: bool) -> tuple[list[int], list[CloseResult]]:
    """Validate the shard's pending batches, close ``days`` (default: every day not closed
    yet and the re-VEE queue), compacting closed days; the versions validated and the
    closes, like ``smame mdms vee``."""
    with _opened(directory, now) as mdms:
        pending = mdms.validate_pending()
        closes = [mdms.close_day(day) for day in (days or mdms.days_to_close())]
        if compact:
            for done in closes:
                mdms.compact(done.day)
            for day in mdms.days_to_compact():
                mdms.compact(day)
        return pending, closes


def housekeeping_task(directory: str, now: float | None, years: int = RETENTION_YEARS
                      ) -> Housekeeping:
    """The shard's timer work: validate, close, compact, purge once a day (SPEC S5)."""
    with _opened(directory, now) as mdms:
        return mdms.housekeeping(years)


def analyze_task(directory: str, day: date, analysis: Callable[[Mdms, date], T]) -> T:
    """``analysis(mdms, day)`` (e.g. ``smame.analytics.grid.day_voltage``) over the shard."""
    with _opened(directory, None) as mdms:
        return analysis(mdms, day)
