"""Two questions the API asks the MDMS that ``smame.mdms.Mdms`` has no method for yet.

* the meter events it keeps (outage, restore, breaker, switch, security: SPEC S8, S14);
* when each version was committed (to tell late data from timely data: SPEC S1).

Both read the MDMS catalog through a store reader snapshot. They are kept here, in one
place, until ``Mdms.events(...)`` and ``Mdms.version_times(...)`` exist; then these two
functions become one-line calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from smame.mdms import Mdms

__all__ = ["meter_events", "version_times"]


def meter_events(mdms: Mdms, meter_ids: Sequence[int] | None, lo: int | None, hi: int | None,
                 kinds: Sequence[int] | None = None) -> pa.Table:
    """Meter events (meter_id, time as POSIX s, kind, value, reference), time-ordered."""
    where, params = ["TRUE"], []
    if meter_ids is not None:
        if not meter_ids:
            where.append("FALSE")
        else:
            where.append(f"meter_id IN ({', '.join(str(int(m)) for m in meter_ids)})")
    if lo is not None:
        where.append("time >= to_timestamp(?)")
        params.append(int(lo))
    if hi is not None:
        where.append("time <= to_timestamp(?)")
        params.append(int(hi))
    if kinds is not None:
        where.append(f"kind IN ({', '.join(str(int(k)) for k in kinds) or 'NULL'})")
    with mdms.store.reader() as con:
        table = con.sql(
            "SELECT meter_id, epoch(time)::BIGINT AS time, kind::INTEGER AS kind, value, "
            f"reference FROM meter_events WHERE {' AND '.join(where)} "
            "ORDER BY time, meter_id, kind", params=params).to_arrow_table()
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


def version_times(mdms: Mdms, versions: np.ndarray) -> dict[int, float]:
    """Commit time (POSIX s, MDMS clock) of each version number given."""
    wanted = sorted({int(v) for v in np.asarray(versions).tolist()})
    if not wanted:
        return {}
    with mdms.store.reader() as con:
        rows = con.execute(
            "SELECT version, epoch(committed_at) FROM versions WHERE list_contains(?, version)",
            [wanted]).fetchall()
    return {int(v): float(t) for v, t in rows}
