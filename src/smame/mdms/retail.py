"""6-digit retail values derived from the 8-digit registers kept internally (SPEC S4).

8-digit values go unchanged to the wheeling/settlement side. Retailers get the
convention of :mod:`smame.registers`: the retail register is ``floor(register / 10) mod
10**6`` and a retail interval value is the difference of consecutive retail registers,
wrap included. Retail intervals therefore add up exactly to retail register differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa

from smame.clock import epoch_seconds
from smame.registers import RETAIL_MODULUS, register_delta, retail_register
from smame.store.measurements import MeasurementStore, ts_seconds

__all__ = ["RETAIL_CHANNELS", "retail_values"]

RETAIL_CHANNELS = (100, 200)
"""Forward and reverse active energy registers (0.01 kWh) that retail values derive from."""

_TS = pa.timestamp("s", tz="UTC")


def retail_values(store: MeasurementStore, meter_ids: Sequence[int] | None,
                  start: datetime | int, end: datetime | int) -> pa.Table:
    """Retail registers and retail interval values of meters between ``start`` and ``end``.

    One row per stored register reading (current version) in ``[start, end]``:
    ``register`` (8 digits), ``retail_register`` (6 digits, 0.1 kWh),
    ``retail_interval`` (retail energy since the meter's previous reading in the range,
    0.1 kWh; null on its first) and ``interval_s`` (seconds since that reading).
    """
    lo, hi = epoch_seconds(start), epoch_seconds(end)
    with store.reader() as con:
        relation = store.current(con, lo, hi, list(RETAIL_CHANNELS))
        params: list = [lo, hi]
        where = ""
        if meter_ids is not None:
            where = " AND list_contains(?, meter_id)"
            params.append([int(m) for m in meter_ids])
        table = con.sql(
            f"SELECT meter_id, channel, interval_end, value FROM {relation} "
            "WHERE interval_end BETWEEN to_timestamp(?) AND to_timestamp(?) "
            f"AND channel IN (100, 200) AND value >= 0 AND value < 100000000{where} "
            "ORDER BY meter_id, channel, interval_end", params=params).to_arrow_table()
    meter = table.column("meter_id").to_numpy()
    channel = table.column("channel").to_numpy()
    t = ts_seconds(table.column("interval_end"))
    register = table.column("value").to_numpy().astype(np.int64)
    retail = retail_register(register) if register.size else register
    first = np.r_[True, (meter[1:] != meter[:-1]) | (channel[1:] != channel[:-1])] if (
        meter.size) else np.zeros(0, np.bool_)
    previous = np.r_[retail[:1], retail[:-1]]
    interval = register_delta(previous, retail, RETAIL_MODULUS) if retail.size else retail
    seconds = np.r_[0, np.diff(t)] if t.size else t
    return pa.table({
        "meter_id": pa.array(meter, pa.int64()),
        "channel": pa.array(channel, pa.uint16()),
        "interval_end": pa.array(t, pa.int64()).view(_TS),
        "register": pa.array(register, pa.int64()),
        "retail_register": pa.array(retail, pa.int64()),
        "retail_interval": pa.array(interval, pa.int64(), mask=first),
        "interval_s": pa.array(seconds, pa.int64(), mask=first),
    })
