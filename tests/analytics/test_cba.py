"""The seed's cost-benefit table (SPEC A1) recomputed from its parameter file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smame.analytics.cba import (
    evaluate,
    load_parameters,
    seed_parameters_path,
    swing_range,
    tornado_net_benefit,
    tornado_yen_per_month,
    yen_per_meter_month,
)
from smame.yamlfile import ParameterFileError

SEED_MONTHLY = {  # 1台当たりの費用（月額換算）, 中間取りまとめ p. 9
    "last_gasp": (10.6, 15.8),
    "remote_ampere": (3.4, 3.4),
    "five_minute": (14.2, 14.2),
    "realtime_voltage": (33.1, 33.1),
    "fifteen_minute": (1.7, None),
    "one_minute_storage": (0.2, 0.2),
    "wifi": (14.4, 14.4),
    "specified_meters": (0.9, 0.9),
}


def test_a_cost_spread_over_80_million_meters_and_120_months() -> None:
    assert yen_per_meter_month(1017, 80_000_000, 120) == pytest.approx(10.59375)
    assert yen_per_meter_month(322, 80_000_000, 120) == pytest.approx(3.354, abs=1e-3)
    assert yen_per_meter_month(0, 80_000_000, 120) == 0


def test_every_row_of_the_seed_table_is_reproduced() -> None:
    rows = {row.function.id: row for row in evaluate(load_parameters())}
    assert set(rows) == set(SEED_MONTHLY)
    for fid, (low, high) in SEED_MONTHLY.items():
        got_low, got_high = (round(v, 1) for v in rows[fid].yen_per_month)
        assert got_low == low, fid
        if high is not None:
            assert got_high == high, fid
        assert rows[fid].matches_seed, fid
    assert rows["last_gasp"].cost == (1017, 1521)
    assert rows["five_minute"].cost == (938 + 425, 938 + 425)
    assert rows["remote_ampere"].net == (1350 - 322, 1500 - 322)
    assert rows["realtime_voltage"].net is None


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "cba.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _seed_document() -> dict:
    return yaml.safe_load(seed_parameters_path().read_text(encoding="utf-8"))


def test_half_the_meters_double_the_monthly_cost_and_the_seed_check_fails(tmp_path) -> None:
    document = _seed_document()
    document["meters"] = 40_000_000
    rows = {r.function.id: r for r in evaluate(load_parameters(_write(tmp_path, document)))}
    assert rows["remote_ampere"].yen_per_month[0] == pytest.approx(2 * 322e8 / (80e6 * 120))
    assert rows["remote_ampere"].matches_seed is False


def test_tornado_swings_widest_first_around_the_middle() -> None:
    params = load_parameters()
    base, swings = tornado_yen_per_month(params)
    widths = [swing.width for swing in swings]
    assert widths == sorted(widths, reverse=True)
    months = next(swing for swing in swings if swing.parameter == "months")
    assert months.at_low == pytest.approx(base * 120 / 96)  # a shorter life costs more a month
    assert months.at_high == pytest.approx(base * 120 / 144)
    remote = next(swing for swing in swings if swing.parameter == "remote_ampere")
    assert remote.width == pytest.approx(yen_per_meter_month(2 * 0.2 * 322, 80_000_000, 120))
    net, net_swings = tornado_net_benefit(params)
    assert all(min(s.at_low, s.at_high) <= net <= max(s.at_low, s.at_high) for s in net_swings)
    assert "realtime_voltage cost" not in {s.parameter for s in net_swings}


def test_one_figure_swings_by_the_point_spread_and_a_range_by_itself() -> None:
    assert swing_range((100.0, 100.0), 0.2) == (80.0, 120.0)
    assert swing_range((1017.0, 1521.0), 0.2) == (1017.0, 1521.0)


@pytest.mark.parametrize(("change", "said"), [
    (lambda d: d.pop("meters"), "cba.yaml: meters: Field required"),
    (lambda d: d.update(meters="many"), "cba.yaml: meters: "),
    (lambda d: d["functions"][2].update(cost_oku=["abc"]),
     "cba.yaml: functions[2].cost_oku[0]: must be a number of 億円 or [low, high] (got 'abc')"),
    (lambda d: d["functions"][0].update(benefit_oku=[1500, 920]), "low <= high"),
    (lambda d: d["functions"][1].update(cost_oku=[-5]), "must not be negative"),
    (lambda d: d["functions"].append(d["functions"][0]), "function ids must be unique"),
    (lambda d: d["functions"][0].update(colour="red"), "functions[0].colour: Extra inputs"),
    (lambda d: d["sensitivity"].update(point_spread=1.5), "sensitivity.point_spread"),
])
def test_a_bad_parameter_file_is_one_line_naming_the_field(tmp_path, change, said) -> None:
    document = _seed_document()
    change(document)
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(_write(tmp_path, document))
    message = str(caught.value)
    assert said in message
    assert "\n" not in message


def test_unreadable_and_malformed_files(tmp_path) -> None:
    with pytest.raises(ParameterFileError, match="cannot read"):
        load_parameters(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("meters: [1, 2\n", encoding="utf-8")
    with pytest.raises(ParameterFileError, match="not valid YAML at line"):
        load_parameters(broken)
