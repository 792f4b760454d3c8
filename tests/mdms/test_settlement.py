"""Settlement sums per retailer and balancing group, checked by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from smame.mdms import Mdms
from smame.mdms.settlement import UNASSIGNED
from smame.readings import make_batch
from smame.store import service_point_id
from tests.mdms.helpers import DAY, START, day_batch, flat_day, slot_end


def register(mdms: Mdms, retailer_of: dict[int, str], groups: dict[str, str]) -> None:
    reg = mdms.registry
    meters = sorted(retailer_of)
    sps = [service_point_id(3, m) for m in meters]
    n = len(meters)
    reg.load("service_points", {"sp_id": sps, "transformer_id": [1] * n,
                                "voltage": [100] * n, "contract_amps": [30] * n})
    reg.load("meters", {"meter_id": meters, "sp_id": sps, "kind": ["electric"] * len(meters)})
    retailers = sorted(set(retailer_of.values()))
    reg.load("retailers", {"retailer_id": retailers, "name": retailers})
    reg.load("balancing_groups", {"bg_id": sorted(set(groups.values())),
                                  "name": sorted(set(groups.values()))})
    reg.load("retailer_groups", {"retailer_id": list(groups), "bg_id": list(groups.values()),
                                 "valid_from": [date(2026, 1, 1)] * len(groups),
                                 "valid_to": pa.array([None] * len(groups), pa.date32())})
    reg.load("supply_contracts", {"sp_id": sps, "retailer_id": [retailer_of[m] for m in meters],
                                  "valid_from": [date(2026, 1, 1)] * len(meters),
                                  "valid_to": pa.array([None] * len(meters), pa.date32())})


def row(table: pa.Table, party: str, key: str, slot: int) -> dict:
    rows = [r for r in table.to_pylist() if r[party] == key and r["slot"] == slot]
    assert len(rows) == 1
    return rows[0]


@pytest.fixture
def small(mdms: Mdms) -> Mdms:
    register(mdms, {1: "R1", 2: "R1", 3: "R2"}, {"R1": "G1", "R2": "G1"})
    values = np.vstack([flat_day(10)[0], flat_day(20)[0], flat_day(30)[0]])
    batch = day_batch(values, with_registers=False)
    t = batch.column("interval_end").cast(pa.int64()).to_numpy()
    m = batch.column("meter_id").to_numpy()
    batch = batch.filter(pa.array(~((m == 2) & (t == slot_end(5)))
                                  & ~((m == 3) & (t == slot_end(7)))))
    mdms.ingest(batch)
    mdms.ingest(make_batch(3, slot_end(7), 140, -1))  # fails: the slot's only value
    mdms.ingest(make_batch(3, [slot_end(k) for k in range(1, 49)], 240, 5))
    return mdms


def test_settlement_sums_by_hand(small: Mdms) -> None:
    before = small.settle(DAY)
    r1 = row(before.retailers, "retailer_id", "R1", 5)
    assert (r1["import_wh"], r1["import_estimated_wh"], r1["meters"]) == (100, 0, 1)
    r2 = row(before.retailers, "retailer_id", "R2", 7)
    assert (r2["import_wh"], r2["excluded_values"]) == (0, 1)
    assert r2["export_wh"] == 50

    small.close_day(DAY)
    after = small.settle(DAY)
    assert after.retailers.num_rows == 2 * 48
    r1 = row(after.retailers, "retailer_id", "R1", 5)
    assert (r1["import_wh"], r1["import_estimated_wh"]) == (300, 200)
    assert r1["estimated_share"] == pytest.approx(2 / 3)
    assert r1["estimated_values"] == 1
    assert r1["meters"] == 2
    r2 = row(after.retailers, "retailer_id", "R2", 7)
    assert (r2["import_wh"], r2["import_estimated_wh"], r2["excluded_values"]) == (300, 300, 0)
    assert r2["estimated_share"] == 1.0
    plain = row(after.retailers, "retailer_id", "R1", 1)
    assert (plain["import_wh"], plain["import_estimated_wh"], plain["estimated_share"]) == (
        300, 0, 0.0)
    assert plain["slot_end"].timestamp() == START + 1800
    g1 = row(after.groups, "bg_id", "G1", 5)
    assert (g1["import_wh"], g1["import_estimated_wh"], g1["export_wh"]) == (600, 200, 50)
    day_total = sum(r["import_wh"] for r in after.groups.to_pylist())
    assert day_total == 48 * 600


def test_retailer_switch_moves_meter_between_sums(small: Mdms) -> None:
    small.registry.set_retailer(service_point_id(3, 2), "R2", DAY)
    sums = small.settle(DAY)
    assert row(sums.retailers, "retailer_id", "R2", 1)["import_wh"] == 500


def test_fifteen_minute_slots(mdms: Mdms) -> None:
    register(mdms, {1: "R1"}, {"R1": "G1"})
    ends = START + 900 * np.arange(1, 97)
    mdms.ingest(make_batch(1, ends, 130, 4))
    sums = mdms.settle(DAY, minutes=15)
    assert sums.retailers.num_rows == 96
    assert row(sums.retailers, "retailer_id", "R1", 96)["import_wh"] == 40
    with pytest.raises(ValueError, match="30 or 15"):
        mdms.settle(DAY, minutes=5)


@pytest.fixture
def mixed(mdms: Mdms) -> Mdms:
    """Meter 1 in 30-minute mode, meter 2 in 15-minute mode, meter 3 without a contract."""
    register(mdms, {1: "R1", 2: "R1"}, {"R1": "G1"})
    sp = service_point_id(3, 3)
    mdms.registry.load("service_points", {"sp_id": [sp], "transformer_id": [1],
                                          "voltage": [100], "contract_amps": [30]})
    mdms.registry.load("meters", {"meter_id": [3], "sp_id": [sp], "kind": ["electric"]})
    half_hours = START + 1800 * np.arange(1, 49)
    quarters = START + 900 * np.arange(1, 97)
    mdms.ingest(make_batch(1, half_hours, 140, 7))  # 70 Wh per 30 minutes
    mdms.ingest(make_batch(2, quarters, 130, 2))  # 20 Wh per 15 minutes
    mdms.ingest(make_batch(3, half_hours, 140, 5))
    return mdms


def test_fifteen_minute_settlement_of_a_mixed_fleet_is_whole(mixed: Mdms) -> None:
    sums = mixed.settle(DAY, minutes=15)
    first = row(sums.retailers, "retailer_id", "R1", 1)
    second = row(sums.retailers, "retailer_id", "R1", 2)
    assert (first["import_wh"], second["import_wh"]) == (20 + 35, 20 + 35)
    assert first["import_converted_wh"] == 35
    assert first["converted_values"] == 1
    r1_day = sum(r["import_wh"] for r in sums.retailers.to_pylist() if r["retailer_id"] == "R1")
    assert r1_day == 48 * 70 + 96 * 20
    assert "split evenly" in sums.method


def test_an_odd_watt_hour_goes_to_the_first_half(mdms: Mdms) -> None:
    register(mdms, {1: "R1"}, {"R1": "G1"})
    mdms.ingest(make_batch(1, slot_end(1), 141, 3))  # 300 Wh at 0.1 kWh
    mdms.ingest(make_batch(1, slot_end(2), 143 - 3, 3))  # 30 Wh at 0.01 kWh
    sums = mdms.settle(DAY, minutes=15)
    values = [row(sums.retailers, "retailer_id", "R1", k)["import_wh"] for k in (1, 2, 3, 4)]
    assert values == [150, 150, 15, 15]
    mdms.ingest(make_batch(1, slot_end(3), 140, 1))  # 10 Wh: 5 + 5
    assert [row(mdms.settle(DAY, minutes=15).retailers, "retailer_id", "R1", k)["import_wh"]
            for k in (5, 6)] == [5, 5]


def test_thirty_minute_settlement_takes_15_minute_meters(mixed: Mdms) -> None:
    sums = mixed.settle(DAY)
    slot = row(sums.retailers, "retailer_id", "R1", 1)
    assert slot["import_wh"] == 70 + 40
    assert slot["import_converted_wh"] == 40
    assert slot["meters"] == 2


def test_a_meter_without_a_contract_is_unassigned_not_dropped(mixed: Mdms) -> None:
    sums = mixed.settle(DAY)
    assert row(sums.retailers, "retailer_id", UNASSIGNED, 1)["import_wh"] == 50
    assert row(sums.groups, "bg_id", UNASSIGNED, 1)["import_wh"] == 50
    total = sum(r["import_wh"] for r in sums.retailers.to_pylist())
    assert total == 48 * (70 + 40 + 50)
    mixed.ingest(make_batch(9, slot_end(1), 140, 5))  # not registered: quarantined
    slot = row(mixed.settle(DAY).retailers, "retailer_id", UNASSIGNED, 1)
    assert (slot["import_wh"], slot["excluded_values"]) == (50, 1)


def test_an_incomplete_pair_of_quarters_is_excluded_not_dropped(mdms: Mdms) -> None:
    register(mdms, {2: "R1"}, {"R1": "G1"})
    mdms.ingest(make_batch(2, START + 900, 130, 2))
    slot = row(mdms.settle(DAY).retailers, "retailer_id", "R1", 1)
    assert (slot["import_wh"], slot["excluded_values"]) == (0, 1)


def test_sub_meters_are_not_settled(mdms: Mdms) -> None:
    register(mdms, {1: "R1"}, {"R1": "G1"})
    mdms.registry.load("sub_meters", {"sub_meter_id": [71], "main_meter_id": [1],
                                      "kind": ["ev"]})
    mdms.ingest(make_batch([1, 71], slot_end(1), [140, 143], [10, 40]))
    sums = mdms.settle(DAY)
    assert [r["retailer_id"] for r in sums.retailers.to_pylist() if r["slot"] == 1] == ["R1"]
