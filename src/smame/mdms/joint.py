"""Joint metering: gas and water readings relayed by electricity meters (SPEC M9, S13).

Gas and water registers arrive on channels 900 and 1000 (0.001 m3) under the gas or
water meter's own id; the registry's ``joint_meters`` table says which company each
meter belongs to and which electricity meter relays it.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from smame.clock import epoch_seconds
from smame.registers import REGISTER_MODULUS
from smame.store.measurements import MeasurementStore
from smame.store.registry import Registry

__all__ = ["JOINT_CHANNELS", "joint_readings"]

JOINT_CHANNELS = (900, 1000)


def joint_readings(store: MeasurementStore, registry: Registry, company_id: str,
                   start: datetime | int, end: datetime | int) -> pa.Table:
    """A gas or water company's meter readings in ``[start, end]`` with consumption.

    Columns: meter_id, kind, host_meter_id, interval_end, register (0.001 m3) and
    ``consumption`` since the meter's previous reading in the range (wrap at 10^8
    included; null on the first).
    """
    lo, hi = epoch_seconds(start), epoch_seconds(end)
    meters = registry.joint_meters(company_id).select(["meter_id", "kind", "host_meter_id"])
    with store.reader() as con:
        relation = store.current(con, lo, hi, list(JOINT_CHANNELS))
        con.register("_joint", meters)
        try:
            table = con.sql(
                f"SELECT j.meter_id, j.kind, j.host_meter_id, m.interval_end, m.value AS register"
                f" FROM {relation} m JOIN _joint j ON j.meter_id = m.meter_id"
                " WHERE m.interval_end BETWEEN to_timestamp(?) AND to_timestamp(?)"
                " AND m.channel IN (900, 1000) ORDER BY j.meter_id, m.interval_end",
                params=[lo, hi]).to_arrow_table()
        finally:
            con.unregister("_joint")
    meter = table.column("meter_id").to_numpy()
    register = table.column("register").to_numpy().astype(np.int64)
    first = np.r_[True, meter[1:] != meter[:-1]] if meter.size else np.zeros(0, np.bool_)
    used = np.mod(np.diff(register, prepend=register[:1]), REGISTER_MODULUS) if (
        register.size) else register
    return table.append_column("consumption", pa.array(used, pa.int64(), mask=first))
