"""The re-VEE queue: closed days that received data after their close (SPEC S1).

A late actual can replace an estimate that was scaled with its neighbours to a register
difference; the day is then out of balance until it is estimated again. Every ingest
that stores rows on a closed day queues the day in the same transaction; closing the day
again (``Mdms.process_revee_queue``, ``smame mdms vee``) takes it off the queue.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb

from smame.store.layout import day_of, epoch_day

__all__ = ["queue_closed_days", "queued_days"]


def queue_closed_days(con: duckdb.DuckDBPyConnection, t_min: int, t_max: int, version: int,
                      now: datetime) -> None:
    """Queue the closed days among those of interval ends ``t_min``..``t_max`` (POSIX s);
    inside the caller's transaction. One statement: it runs in every ingest."""
    first, last = (day_of(int(d)) for d in epoch_day([t_min, t_max]))
    con.execute("INSERT INTO revee_queue SELECT day, ?, ? FROM closed_days "
                "WHERE day BETWEEN ? AND ? AND day NOT IN (SELECT day FROM revee_queue)",
                [version, now, first, last])


def queued_days(con: duckdb.DuckDBPyConnection) -> list[date]:
    return [r[0] for r in con.execute(
        "SELECT DISTINCT day FROM revee_queue ORDER BY day").fetchall()]
