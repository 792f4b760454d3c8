"""Green Button (NAESB ESPI) Atom XML that an existing Green Button parser reads (SPEC S7)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from greenbutton_objects import parse

from tests.api.support import DAY2, Api


def _curve(api: Api, token: str, meter: int) -> list[int]:
    body = api.get(f"/v1/meters/{meter}/readings", token, date=DAY2.isoformat()).json()
    readings = body["MeterReadings"][0]["IntervalBlocks"][0]["IntervalReadings"]
    return [r["value"] for r in readings]


def test_a_green_button_tool_reads_the_feed(api: Api, dataset, tmp_path: Path) -> None:
    meter = dataset.meters[0]
    retailer = api.token("retailer", dataset.retailer(meter))
    answer = api.get(f"/v1/service-points/{dataset.sp(meter)}/greenbutton", retailer,
                     date=DAY2.isoformat())
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = tmp_path / "feed.xml"
    feed.write_bytes(answer.content)

    usage_points = parse.parse_feed(str(feed))  # the greenbutton_objects parser
    assert len(usage_points) == 1
    point = usage_points[0]
    assert point.serviceCategory.name == "electricity"
    readings = sorted(point.meterReadings, key=lambda r: r.readingType.flowDirection.value)
    forward = readings[0]
    assert forward.readingType.uom.name == "wattHours"
    assert forward.readingType.intervalLength == 1800
    assert forward.readingType.powerOfTenMultiplier == 2  # 0.1 kWh: six digits (S4)
    values = list(forward.intervalReadings)
    assert len(values) == 48
    assert all(v.timePeriod.duration == timedelta(minutes=30) for v in values)
    # the same 6-digit values as the JSON API, in Wh
    assert [v.value for v in values] == [x * 100 for x in _curve(api, retailer, meter)]
    from tests.api.support import START

    assert values[0].timePeriod.start.timestamp() == START + 86400  # 00:00 JST of DAY2
    assert parse.parse_feed_representation(usage_points).count("Wh") >= 48


def test_the_operator_gets_eight_digit_green_button(api: Api, dataset, tmp_path: Path) -> None:
    meter = dataset.meters[0]
    operator = api.token("distribution")
    answer = api.get(f"/v1/service-points/{dataset.sp(meter)}/greenbutton", operator,
                     start="2026-07-01T00:00:00+09:00", end="2026-07-03T00:00:00+09:00")
    feed = tmp_path / "feed.xml"
    feed.write_bytes(answer.content)
    point = parse.parse_feed(str(feed))[0]
    forward = next(r for r in point.meterReadings if r.readingType.flowDirection.value == 1)
    assert forward.readingType.powerOfTenMultiplier == 1  # 0.01 kWh = 10 Wh
    assert len(forward.intervalBlocks) == 2  # one block per JST day
    values = [v.value for v in forward.intervalReadings]
    assert values[-48:] == [x * 10 for x in _curve(api, operator, meter)]


def test_no_green_button_for_an_opted_out_service_point(api: Api, dataset) -> None:
    from tests.api.support import OPTED_OUT_SP

    answer = api.get(f"/v1/service-points/{OPTED_OUT_SP}/greenbutton", api.token(
        "distribution"), date=DAY2.isoformat())
    assert answer.status_code == 409
    assert "opt" in answer.json()["detail"]
    point = api.get(f"/v1/service-points/{OPTED_OUT_SP}", api.token("distribution")).json()
    assert point["opted_out"]
    assert not point["communicating"]
    assert point["meter_ids"] == []
