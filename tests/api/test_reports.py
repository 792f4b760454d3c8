"""Settlement, joint metering, differential metering, outages, collection, and versions
(SPEC S1, S8, S12, S13)."""

from __future__ import annotations

import pytest

from smame.readings import Quality, make_batch
from tests.api.support import DAY1, DAY2, START, Api


def test_settlement_per_role(api: Api, dataset) -> None:
    operator = api.get("/v1/settlement", api.token("distribution"), date=DAY1.isoformat())
    everything = operator.json()
    assert {r["retailer_id"] for r in everything["retailers"]} == {"R01", "R02", "R03", "R04",
                                                                   "R05"}
    mine = api.get("/v1/settlement", api.token("retailer", "R02"), date=DAY1.isoformat()).json()
    assert {r["retailer_id"] for r in mine["retailers"]} == {"R02"}
    assert len(mine["retailers"]) == 48
    assert {g["bg_id"] for g in mine["groups"]} == {"BG2"}  # R02 belongs to BG2
    assert mine["retailers"] == [r for r in everything["retailers"] if r["retailer_id"] == "R02"]


def test_gas_and_water_companies_see_only_their_meters(api: Api, dataset) -> None:
    gas = api.get("/v1/joint-readings", api.token("gas", "GAS01"), date=DAY1.isoformat()).json()
    water = api.get("/v1/joint-readings", api.token("water", "WATER01"),
                    date=DAY1.isoformat()).json()
    assert gas["readings"]
    assert {r["kind"] for r in gas["readings"]} == {"gas"}
    assert water["readings"]
    assert {r["kind"] for r in water["readings"]} == {"water"}
    used = [r["consumption"] for r in gas["readings"] if r["consumption"] is not None]
    assert used
    assert min(used) >= 0
    other = api.get("/v1/joint-readings", api.token("gas", "GAS01"), company="WATER01",
                    date=DAY1.isoformat())
    assert other.status_code == 404
    listing = api.get("/v1/meters", api.token("gas", "GAS01"), limit=1000).json()["items"]
    assert listing
    assert {m["kind"] for m in listing} == {"gas"}


def test_differential_metering(api: Api, dataset) -> None:
    meter = dataset.sub_main_meter
    body = api.get(f"/v1/meters/{meter}/differential", api.token("distribution"),
                   date=DAY1.isoformat()).json()
    slots = body["slots"]
    assert len(slots) == 48
    assert body["sub_meters"]
    for slot in slots:
        assert slot["sub_wh"] == 40
        assert slot["net_wh"] == slot["main_wh"] - 40


def test_outages_grouped_by_transformer(api: Api, dataset) -> None:
    body = api.get("/v1/fleet/outages", api.token("distribution"), date=DAY2.isoformat()).json()
    assert body["outages"], "the dataset has a transformer outage on DAY2"
    for outage in body["outages"]:
        assert outage["affected"] <= outage["customers"]
        assert outage["last_gasp_alarms"] + outage["silent"] == outage["affected"]
        assert outage["duration_s"] > 0
        assert outage["feeder_id"] is not None
    meter = body["outages"][0]["meter_ids"][0]
    events = api.get(f"/v1/meters/{meter}/events", api.token("retailer", dataset.retailer(
        meter)), date=DAY2.isoformat()).json()["events"]
    assert {"outage", "restore"} <= {e["category"] for e in events}


def test_fleet_outages_are_the_located_incidents_per_transformer(api: Api, dataset) -> None:
    """One grouping (S8): /v1/fleet/outages splits /v1/grid/outages's incidents by
    transformer, so both name the same meters, starts and restorations."""
    token = api.token("distribution")
    grid = api.get("/v1/grid/outages", token, date=DAY2.isoformat()).json()["incidents"]
    fleet = api.get("/v1/fleet/outages", token, date=DAY2.isoformat()).json()["outages"]
    transformers = [i for i in grid if i["level"] == "transformer"]
    assert transformers
    for incident in transformers:
        [row] = [r for r in fleet if r["transformer_id"] == incident["transformer_id"]
                 and r["start"] == incident["start"]]
        assert row["level"] == "transformer"
        assert row["meter_ids"] == incident["meter_ids"]
        assert row["restored"] == incident["end"]
        assert row["feeder_id"] == incident["feeder_id"]
        assert row["momentary"] == incident["momentary"]
    assert sorted(m for r in fleet for m in r["meter_ids"]) == sorted(
        m for i in grid for m in i["meter_ids"])


def test_collection_report(api: Api, dataset) -> None:
    body = api.get("/v1/fleet/collection", api.token("distribution"),
                   date=DAY1.isoformat()).json()
    assert body["meters"] == len(dataset.meters)  # the opted-out meter is not expected
    assert len(body["slots"]) == 48
    assert all(s["received"] + s["missing"] == s["expected"] for s in body["slots"])


def test_versions_history_and_the_read_model_follow_the_mdms(api: Api, dataset) -> None:
    meter = dataset.meters[-2]
    token = api.token("distribution")
    end = START + 3 * 1800
    before = api.get(f"/v1/meters/{meter}/readings", token, date=DAY1.isoformat()).json()
    old = before["MeterReadings"][0]["IntervalBlocks"][0]["IntervalReadings"][2]
    dataset.mdms.ingest(make_batch(meter, end, 140, old["value"] + 7,
                                   int(Quality.VALIDATED)), source_name="revision")
    api.state.data.refresh()  # what the background refresher does every second
    after = api.get(f"/v1/meters/{meter}/readings", token, date=DAY1.isoformat()).json()
    new = after["MeterReadings"][0]["IntervalBlocks"][0]["IntervalReadings"][2]
    assert new["value"] == old["value"] + 7
    assert new["version"] > old["version"]
    history = api.get(f"/v1/meters/{meter}/readings", token, date=DAY1.isoformat(),
                      history="true").json()
    versions = [r for r in history["MeterReadings"][0]["IntervalBlocks"][0]["IntervalReadings"]
                if r["timeStamp"] == old["timeStamp"]]
    assert [v["value"] for v in versions] == [old["value"], old["value"] + 7]
    retailer = api.token("retailer", dataset.retailer(meter))
    assert api.get(f"/v1/meters/{meter}/readings", retailer, date=DAY1.isoformat(),
                   history="true").status_code == 403


def test_grid_outages_locate_the_transformer_outage_with_indices(api: Api, dataset) -> None:
    body = api.get("/v1/grid/outages", api.token("distribution"), date=DAY2.isoformat()).json()
    sustained = [i for i in body["incidents"] if not i["momentary"]]
    assert any(i["level"] == "transformer" for i in sustained)
    area = body["reliability"]["area"]
    assert area["customers"] >= len(dataset.meters)  # every registered meter is served
    assert area["saifi"] == pytest.approx(sum(i["customers"] for i in sustained)
                                          / area["customers"])
    assert area["saidi"] == pytest.approx(sum(i["customer_minutes"] for i in sustained)
                                          / area["customers"], rel=1e-3)
    for incident in sustained:
        assert incident["customers"] == len(incident["meter_ids"])
        assert incident["end"] is None or incident["end"] > incident["start"]
    # where each incident is, and the feeders it reached with all their transformers
    reached = body["topology"]["feeders"]
    for incident in body["incidents"]:
        assert str(incident["feeder_id"]) in reached
        assert set(incident["transformers"]) <= set(reached[str(incident["feeder_id"])])
        if incident["level"] == "transformer":
            assert incident["transformers"] == [incident["transformer_id"]]
        assert sum(incident["restored_by"].values()) == incident["customers"]


def test_grid_voltage_reports_the_band(api: Api) -> None:
    body = api.get("/v1/grid/voltage", api.token("distribution"), date=DAY2.isoformat()).json()
    assert body["values"] > 0
    assert 0 <= body["share_out"] <= 1
    for row in body["transformers"]:
        assert row["minutes_out"] == row["minutes_high"] + row["minutes_low"]
        assert -2 <= row["tap_steps"] <= 2
    bad = api.get("/v1/grid/voltage", api.token("distribution"), date="1900-01-01")
    assert bad.status_code == 400
