"""The MDMS on a simulated fleet: seeding, clean validation, settlement, retail, joint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from smame.clock import SimulatedClock
from smame.mdms import Mdms, MdmsSink, Reason
from smame.mdms.seed import ingest_simulation
from smame.meter import Fleet, FleetConfig
from smame.meter.simulate import simulate
from smame.readings import Quality
from smame.registers import RETAIL_MODULUS, retail_register
from smame.store import check_service_point
from smame.store.layout import day_start
from tests.conftest import JST

FIRST = date(2026, 7, 1)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mdms, Path]]:
    out = tmp_path_factory.mktemp("fleet")
    config = FleetConfig(meters=300, start=datetime(2026, 7, 1, tzinfo=JST), seed=5,
                         retention=None, ev_share=0.2)
    simulate(config, 2, out)
    clock = SimulatedClock(day_start(FIRST) + 3 * 86400)
    mdms = Mdms(tmp_path_factory.mktemp("data"), clock=clock)
    ingest_simulation(mdms, out)
    yield mdms, out
    mdms.close()


def test_registry_is_seeded(simulated) -> None:
    mdms, _ = simulated
    reg = mdms.registry
    assert reg.table_count("meters") == 300
    sps = reg.table("service_points").column("sp_id").to_pylist()
    assert len(sps) == 300
    assert all(check_service_point(sp) == sp for sp in sps)
    assert reg.assignments(FIRST).num_rows == 300
    assert reg.table_count("retailers") == 5
    assert reg.sub_meters().num_rows > 0
    assert set(reg.table("utility_companies").column("kind").to_pylist()) == {"gas", "water"}


def test_ingesting_again_changes_nothing(simulated) -> None:
    mdms, out = simulated
    version = mdms.last_version()
    again = ingest_simulation(mdms, out)
    assert again.meters_registered == 0
    assert again.rows_stored == 0
    assert all(b.duplicate_batch for b in again.batches)
    assert mdms.last_version() == version


def test_simulated_data_passes_validation(simulated) -> None:
    mdms, _ = simulated
    table = mdms.readings()
    quality = table.column("quality").to_numpy()
    assert not ((quality & Quality.SUSPECT) > 0).any()
    reasons = table.column("reasons").to_numpy()
    assert not ((reasons & Reason.SUM_CHECK) > 0).any()


def test_settlement_matches_meter_data(simulated) -> None:
    mdms, _ = simulated
    sums = mdms.settle(FIRST)
    assert sums.retailers.num_rows == 5 * 48
    start = day_start(FIRST)
    data = mdms.readings(None, start + 1, start + 86400, channels=[140])
    total_wh = int(pc.sum(data.column("value")).as_py()) * 10
    assert int(pc.sum(sums.retailers.column("import_wh")).as_py()) == total_wh
    assert int(pc.sum(sums.groups.column("import_wh")).as_py()) == total_wh
    assert set(sums.retailers.column("estimated_share").to_pylist()) == {0.0}


def test_retail_six_digit_sums_match_retail_registers(simulated) -> None:
    mdms, _ = simulated
    start = day_start(FIRST)
    retail = mdms.retail(None, start, start + 2 * 86400)
    meter = retail.column("meter_id").to_numpy()
    channel = retail.column("channel").to_numpy()
    checked = 0
    for m in np.unique(meter)[:50]:
        for c in (100, 200):
            rows = retail.filter(pa.array((meter == m) & (channel == c)))
            registers = rows.column("register").to_numpy()
            intervals = rows.column("retail_interval").to_numpy(zero_copy_only=False)[1:]
            assert (rows.column("interval_s").to_numpy(zero_copy_only=False)[1:] == 1800).all()
            first, last = retail_register(registers[0]), retail_register(registers[-1])
            assert int(intervals.sum()) % RETAIL_MODULUS == (last - first) % RETAIL_MODULUS
            assert int(intervals.sum()) == (last - first) % RETAIL_MODULUS
            checked += 1
    assert checked == 100
    assert retail.column("retail_register").to_numpy().max() < RETAIL_MODULUS


def test_joint_readings_per_company(simulated) -> None:
    mdms, _ = simulated
    start = day_start(FIRST)
    gas = mdms.joint_readings("GAS01", start, start + 2 * 86400)
    water = mdms.joint_readings("WATER01", start, start + 2 * 86400)
    assert gas.num_rows > 0
    assert water.num_rows > 0
    assert set(gas.column("kind").to_pylist()) == {"gas"}
    assert set(water.column("kind").to_pylist()) == {"water"}
    stored_gas = mdms.readings(channels=[900])
    assert gas.num_rows == stored_gas.num_rows
    used = gas.column("consumption").to_numpy(zero_copy_only=False)
    assert np.nanmin(used.astype(float)) >= 0


def test_head_end_sink_with_outage_and_disconnection(tmp_path: Path) -> None:
    config = FleetConfig(meters=40, start=datetime(2026, 7, 1, tzinfo=JST), seed=2,
                         retention=None)
    fleet = Fleet(config)
    clock = SimulatedClock(fleet.time + 6 * 3600)  # the head-end delivers after the fact
    with Mdms(tmp_path / "d", clock=clock) as mdms:
        sink = MdmsSink(mdms)
        fleet.advance(120, sink)
        fleet.disconnect(3)
        fleet.schedule_outage(fleet.time + 600, fleet.time + 4200, transformers=(1,))
        fleet.advance(240, sink)
        mdms.ingest_events(_events(fleet))
        assert sink.batches > 0
        assert sink.stored == sink.rows
        table = mdms.readings(channels=[140])
        reasons = table.column("reasons").to_numpy()
        meters = table.column("meter_id").to_numpy()
        assert ((reasons & Reason.DISCONNECTED) > 0)[meters == fleet.meter_ids[3]].any()
        outage_meters = fleet.meter_ids[list(fleet.topology.meters_of_transformer(1))]
        assert ((reasons & Reason.OUTAGE) > 0)[np.isin(meters, outage_meters)].any()
        assert not ((table.column("quality").to_numpy() & Quality.SUSPECT) > 0).any()


def _events(fleet: Fleet) -> pa.Table:
    from smame.meter.events import events_table

    return events_table(fleet.events.drain())
