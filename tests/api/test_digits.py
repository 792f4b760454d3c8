"""8 digits for the distribution operator, 6 digits for retailers (SPEC S4)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from smame.registers import RETAIL_MODULUS, retail_register
from tests.api.support import DAY1, DAY2, START, Api


def _values(body: dict, key: str = "IntervalBlocks") -> tuple[list[str], list[int], dict]:
    block = body["MeterReadings"][0][key][0]
    readings = block.get("IntervalReadings") or block.get("values")
    return ([r["timeStamp"] for r in readings], [r["value"] for r in readings],
            block["ReadingType"])


def test_six_and_eight_digits_of_the_same_day(api: Api, dataset) -> None:
    meter = dataset.meters[0]
    operator = api.token("distribution")
    retailer = api.token("retailer", dataset.retailer(meter))
    day = DAY2.isoformat()
    _, reg8, type8 = _values(api.get(f"/v1/meters/{meter}/registers", operator,
                                     date=day).json(), "Readings")
    _, reg6, type6 = _values(api.get(f"/v1/meters/{meter}/registers", retailer,
                                     date=day).json(), "Readings")
    assert len(reg8) == len(reg6) == 49
    assert max(reg8) > 999_999 or True  # 8-digit registers may exceed six digits
    assert all(0 <= v < RETAIL_MODULUS for v in reg6)
    assert reg6 == [retail_register(v) for v in reg8]
    assert (type8["unit"], type6["unit"]) == ("0.01 kWh", "0.1 kWh")
    assert type6["multiplier"] == type8["multiplier"] + 1
    assert (type8["digits"], type6["digits"]) == (8, 6)

    ends8, iv8, _ = _values(api.get(f"/v1/meters/{meter}/readings", operator, date=day).json())
    ends6, iv6, rt6 = _values(api.get(f"/v1/meters/{meter}/readings", retailer,
                                      date=day).json())
    assert len(iv8) == len(iv6) == 48
    assert ends8 == ends6
    assert sum(iv8) == (reg8[-1] - reg8[0]) % 10**8
    assert sum(iv6) == (reg6[-1] - reg6[0]) % RETAIL_MODULUS  # telescopes exactly
    assert abs(sum(iv8) / 10 - sum(iv6)) < 1  # within one retail unit over the day
    assert rt6["unit"] == "0.1 kWh"
    # the same numbers as the MDMS's own retail derivation
    expected = dataset.mdms.retail([meter], START + 86400, START + 2 * 86400)
    expected = expected.filter(pa.array(expected.column("channel").to_numpy() == 100))
    assert expected.column("retail_interval").to_pylist()[1:] == iv6


def test_a_retailer_sees_only_its_supply_period(api: Api, dataset) -> None:
    meter = dataset.switched_meter  # R03 until DAY2, R01 from DAY2
    before = api.token("retailer", dataset.switched_from)
    after = api.token("retailer", "R01")
    for token, day, count in ((before, DAY1, 47), (before, DAY2, 0), (after, DAY1, 0),
                              (after, DAY2, 48)):
        answer = api.get(f"/v1/meters/{meter}/readings", token, date=day.isoformat())
        assert answer.status_code == 200
        values = answer.json()["MeterReadings"][0]["IntervalBlocks"][0]["IntervalReadings"]
        assert len(values) == count, (token == before, day)
    # the switching reading at 00:00 of DAY2 is both suppliers' reading
    registers = {}
    for name, token in (("before", before), ("after", after)):
        body = api.get(f"/v1/meters/{meter}/registers", token,
                       start="2026-07-01T23:30:00+09:00", end="2026-07-02T00:30:00+09:00")
        registers[name] = [r["timeStamp"] for r in body.json()["MeterReadings"][0][
            "Readings"][0]["values"]]
    assert "2026-07-02T00:00:00+09:00" in registers["before"]
    assert "2026-07-02T00:00:00+09:00" in registers["after"]
    assert "2026-07-02T00:30:00+09:00" not in registers["before"]
    assert "2026-07-01T23:30:00+09:00" not in registers["after"]


def test_five_minute_retail_values_add_up_to_the_half_hour(api: Api, dataset) -> None:
    five = dataset.mdms.readings(None, START + 86400, START + 2 * 86400, [120])
    meter = next(int(m) for m in np.unique(five.column("meter_id").to_numpy())
                 if m != dataset.switched_meter)
    retailer = api.token("retailer", dataset.retailer(meter))
    day = DAY2.isoformat()
    body5 = api.get(f"/v1/meters/{meter}/readings", retailer, date=day, period=5).json()
    body30 = api.get(f"/v1/meters/{meter}/readings", retailer, date=day).json()
    _, v5, rt5 = _values(body5)
    _, v30, _ = _values(body30)
    assert len(v5) == 288
    assert rt5["unit"] == "0.1 kWh"
    assert [sum(v5[k * 6:(k + 1) * 6]) for k in range(48)] == v30


def test_exports_carry_the_same_digits(api: Api, dataset) -> None:
    import io

    import pyarrow.parquet as pq

    meter = dataset.meters[0]
    retailer = api.token("retailer", dataset.retailer(meter))
    operator = api.token("distribution")
    for token, digits in ((retailer, 6), (operator, 8)):
        answer = api.get("/v1/export", token, date=DAY2.isoformat(), format="parquet")
        assert answer.status_code == 200
        table = pq.read_table(io.BytesIO(answer.content))
        rows = table.filter(pa.array(table.column("meter_id").to_numpy() == meter))
        assert set(table.column("digits").to_pylist()) == {digits}
        series = api.get(f"/v1/meters/{meter}/readings", token, date=DAY2.isoformat()).json()
        _, values, _ = _values(series)
        assert rows.column("value").to_pylist() == values
    retailer_rows = pq.read_table(io.BytesIO(api.get(
        "/v1/export", retailer, date=DAY2.isoformat()).content))
    supplied = {m for m in dataset.meters if dataset.retailer(m) == dataset.retailer(meter)}
    supplied.discard(dataset.switched_meter)
    assert set(retailer_rows.column("meter_id").to_pylist()) <= supplied | {
        dataset.switched_meter}
    csv = api.get("/v1/export", retailer, date=DAY1.isoformat(), format="csv")
    assert csv.status_code == 200
    assert csv.text.startswith('"meter_id","sp_id"')


def test_the_whole_day_retail_view_equals_the_per_request_derivation(api: Api, dataset) -> None:
    from smame.api.series import retail_intervals
    from smame.readings import Period, Quantity

    data = api.state.data
    for day in (DAY1, DAY2):
        lo = START + (day - DAY1).days * 86400
        for meter_id in dataset.meters:
            meter = data.view.meters[meter_id]
            for quantity in (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT):
                fast = data.retail_values(meter, quantity, Period.MIN30, lo, lo + 86400)
                registers = data.values(meter, quantity, Period.REGISTER, lo, lo + 86400)
                slow = retail_intervals(registers, fast.channel, 1800, lo, lo + 86400)
                assert fast.t.tolist() == slow.t.tolist()
                assert fast.value.tolist() == slow.value.tolist()
                assert fast.quality.tolist() == slow.quality.tolist()
                assert fast.version.tolist() == slow.version.tolist()
                assert (fast.span is None) == (slow.span is None)
