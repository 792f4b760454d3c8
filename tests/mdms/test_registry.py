"""The registry on DuckDB and on PostgreSQL: same schema, same answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import duckdb
import pytest

from smame.mdms.vee.physical import PhysicalLimits
from smame.store import Registry, RegistryError, check_service_point, service_point_id

SP1, SP2, SP3 = (service_point_id(3, n) for n in (1, 2, 3))


@pytest.fixture(params=["duckdb", "postgres"])
def registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    if request.param == "duckdb":
        reg = Registry.duckdb(duckdb.connect())
    else:
        reg = Registry.postgres(request.getfixturevalue("postgres_db"))
    reg.load("feeders", {"feeder_id": [1], "name": ["F1"]})
    reg.load("transformers", {"transformer_id": [10, 11], "feeder_id": [1, 1],
                              "capacity_kva": [20.0, 30.0]})
    reg.load("service_points", {"sp_id": [SP1, SP2, SP3], "transformer_id": [10, 10, 11],
                                "voltage": [100, 100, 200], "contract_amps": [30, 40, 60]})
    reg.load("meters", {"meter_id": [101, 102, 103], "sp_id": [SP1, SP2, SP3],
                        "kind": ["electric"] * 3, "unit_exponent": [-2] * 3})
    reg.load("retailers", {"retailer_id": ["R1", "R2"], "name": ["Alpha", "Beta"]})
    reg.load("balancing_groups", {"bg_id": ["G1"], "name": ["Group"]})
    reg.load("retailer_groups", {"retailer_id": ["R1", "R2"], "bg_id": ["G1", "G1"],
                                 "valid_from": [date(2026, 1, 1)] * 2, "valid_to": [None, None]})
    reg.load("supply_contracts", {"sp_id": [SP1, SP2, SP3], "retailer_id": ["R1", "R1", "R2"],
                                  "valid_from": [date(2026, 1, 1)] * 3,
                                  "valid_to": [None, None, None]})
    yield reg
    reg.close()


def test_service_point_ids_have_22_digits() -> None:
    assert len(SP1) == 22
    assert check_service_point(SP1) == SP1
    assert check_service_point("1000000000000000000001")
    for bad in ("031", "03000000000000000000000", "x" * 22, "1100000000000000000001",
                "0000000000000000000001"):
        with pytest.raises(RegistryError):
            check_service_point(bad)
    with pytest.raises(RegistryError):
        service_point_id(11, 1)


def test_assignments_follow_contract_periods(registry: Registry) -> None:
    day = date(2026, 7, 1)
    rows = registry.assignments(day).to_pylist()
    assert [(r["meter_id"], r["retailer_id"], r["bg_id"]) for r in rows] == [
        (101, "R1", "G1"), (102, "R1", "G1"), (103, "R2", "G1")]
    registry.set_retailer(SP2, "R2", date(2026, 7, 2))
    assert registry.retailer_of(SP2, day) == "R1"
    assert registry.retailer_of(SP2, date(2026, 7, 2)) == "R2"
    later = registry.assignments(date(2026, 7, 2)).to_pylist()
    assert [r["retailer_id"] for r in later] == ["R1", "R2", "R2"]
    assert registry.assignments(date(2025, 12, 31)).num_rows == 0


def test_topology_and_attached_meters(registry: Registry) -> None:
    assert registry.meters_of_feeder(1) == [101, 102, 103]
    registry.load("sub_meters", {"sub_meter_id": [9101], "main_meter_id": [101], "kind": ["ev"]})
    registry.load("utility_companies", {"company_id": ["GAS1", "WAT1"], "kind": ["gas", "water"],
                                        "name": ["Gas Co", "Water Works"]})
    registry.load("joint_meters", {"meter_id": [5101, 6102], "kind": ["gas", "water"],
                                   "host_meter_id": [101, 102], "company_id": ["GAS1", "WAT1"]})
    assert registry.sub_meters().column("main_meter_id").to_pylist() == [101]
    assert registry.joint_meters("GAS1").column("meter_id").to_pylist() == [5101]
    assert registry.table_count("joint_meters") == 2


def test_invalid_service_point_is_refused(registry: Registry) -> None:
    with pytest.raises(RegistryError):
        registry.load("service_points", {"sp_id": ["12345"], "transformer_id": [10],
                                         "voltage": [100], "contract_amps": [30]})
    with pytest.raises(RegistryError):
        registry.table("nope")


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_seeding_from_simulated_meters(backend: str, request: pytest.FixtureRequest) -> None:
    import pyarrow as pa

    from smame.mdms.seed import seed_registry

    reg = (Registry.duckdb(duckdb.connect()) if backend == "duckdb"
           else Registry.postgres(request.getfixturevalue("postgres_db")))
    meters = pa.table({
        "meter_id": pa.array([100000001, 100000002, 100000003], pa.int64()),
        "transformer": pa.array([0, 0, 1], pa.int32()), "feeder": pa.array([0, 0, 0], pa.int32()),
        "contract_amps": pa.array([30, 40, 60], pa.int16()),
        "pv_kw": pa.array([0.0, 4.5, 0.0], pa.float32()),
        "ev_kw": pa.array([3.0, 0.0, 0.0], pa.float32()),
        "service_voltage": pa.array([100, 100, 200], pa.int16()),
        "unit_exponent": pa.array([-2, -2, -2], pa.int8())})
    joint = pa.table({"meter_id": pa.array([5100000001], pa.int64()), "kind": ["gas"],
                      "host_meter_id": pa.array([100000001], pa.int64())})
    assert seed_registry(reg, meters, joint, date(2026, 7, 1)) == 3
    assert seed_registry(reg, meters, joint, date(2026, 7, 1)) == 0
    assert reg.assignments(date(2026, 7, 1)).num_rows == 3
    assert sorted(reg.sub_meters().column("kind").to_pylist()) == ["ev", "pv"]
    assert reg.joint_meters("GAS01").column("host_meter_id").to_pylist() == [100000001]
    assert reg.meters_of_feeder(0) == [100000001, 100000002, 100000003]
    facts = reg.physical_facts(100000001, 5100000001)
    assert facts.schema.field("state").type == pa.string()  # NULL everywhere, typed
    assert PhysicalLimits.of(facts).meter.tolist() == [100000001, 100000002, 100000003,
                                                        5100000001]
    reg.close()
