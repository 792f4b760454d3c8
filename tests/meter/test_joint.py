"""Gas and water meters relayed by the electricity meters (SPEC M9)."""

import numpy as np
import pyarrow as pa

from smame.readings import Period, Quantity
from tests.meter.conftest import make_fleet, rows_of


def test_gas_and_water_readings_are_relayed_hourly_and_only_rise():
    fleet = make_fleet(meters=100, gas_share=0.5, water_share=0.5)
    attached = fleet.joint_meters()
    hosts = set(attached.column("host_meter_id").to_pylist())
    assert hosts <= set(fleet.meter_ids.tolist())
    assert set(attached.column("kind").to_pylist()) == {"gas", "water"}
    table = pa.concat_tables(fleet.advance(1440))
    for quantity in (Quantity.GAS_VOLUME, Quantity.WATER_VOLUME):
        rows = rows_of(table, quantity, Period.REGISTER)
        kind = "gas" if quantity is Quantity.GAS_VOLUME else "water"
        ids = attached.filter(pa.compute.equal(attached.column("kind"), kind)).column("meter_id")
        assert set(rows["meter_id"].tolist()) == set(ids.to_pylist())
        values = rows["value"].reshape(len(ids), 24)
        assert (np.diff(values, axis=1) >= 0).all()
        daily = (values[:, -1] - values[:, 0]) / 1000  # m3 over 23 hours
        assert 0.05 < np.median(daily) < 3


def test_readings_of_an_unpowered_host_are_kept_and_relayed_after_restoration():
    fleet = make_fleet(meters=60, gas_share=1.0, water_share=0.0)
    first = fleet.joint_meters().to_pylist()[0]
    gas_id, host_id = first["meter_id"], first["host_meter_id"]
    host = fleet.meter(fleet.index_of(host_id))
    start = fleet.time
    fleet.schedule_outage(start + 1800, start + 3 * 3600, transformers=(host.transformer,))
    delivered: list[tuple[int, int, int]] = []  # (fleet time when sent, interval end, value)

    def sink(batch):
        rows = rows_of(batch, Quantity.GAS_VOLUME, Period.REGISTER)
        mine = rows["meter_id"] == gas_id
        delivered.extend((fleet.time, int(e), int(v))
                         for e, v in zip(rows["end"][mine], rows["value"][mine], strict=True))

    fleet.advance(5 * 60, sink)
    ends = [end - start for _, end, _ in delivered]
    # Every hour arrives once, in order of its interval end ...
    assert sorted(ends) == [3600, 7200, 10800, 14400, 18000]
    assert len(set(ends)) == len(ends)
    values = [value for _, _, value in sorted(delivered, key=lambda d: d[1])]
    assert values == sorted(values)
    # ... but the hours ending at 01:00, 02:00 and 03:00, while the host was unpowered,
    # only once supply returned (at 03:00; the host relays at the end of that half hour).
    for sent, end, _ in delivered:
        if start + 3600 <= end <= start + 3 * 3600:
            assert sent >= start + 3 * 3600 + 1800
        else:
            assert sent == end
