"""Minimax regret (後悔値最小法, SPEC A2) and the seed's 15-minute case."""

from __future__ import annotations

import pytest
import yaml

from smame.analytics.regret import load_case, minimax_regret, regret_table, seed_case_path
from smame.yamlfile import ParameterFileError


def test_regret_is_cost_less_the_best_in_each_future() -> None:
    costs = {"a": {"x": 10, "y": 50}, "b": {"x": 30, "y": 20}, "c": {"x": 60, "y": 0}}
    assert regret_table(costs) == {"a": {"x": 0, "y": 50}, "b": {"x": 20, "y": 20},
                                   "c": {"x": 50, "y": 0}}
    result = minimax_regret(costs)
    assert result.max_regret == {"a": 50, "b": 20, "c": 50}
    assert result.choice == "b"  # neither the cheapest in x nor in y


def test_a_tie_goes_to_the_first_option() -> None:
    assert minimax_regret({"p": {"x": 1, "y": 0}, "q": {"x": 0, "y": 1}}).choice == "p"


def test_every_option_must_be_costed_in_every_future() -> None:
    with pytest.raises(ValueError, match="'b' is not costed"):
        regret_table({"a": {"x": 1, "y": 2}, "b": {"x": 1}})


def test_the_seed_chooses_15_minute_values_in_the_meter() -> None:
    result = load_case().solve()
    assert result.choice == "meter_ready"
    assert result.max_regret == {"thirty_only": 6000 - 3174, "meter_ready": 163,
                                 "full_now": 3174}


def test_a_case_with_a_missing_cost_names_it(tmp_path) -> None:
    document = yaml.safe_load(seed_case_path().read_text(encoding="utf-8"))
    del document["costs"]["full_now"]["moves_15"]
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ParameterFileError,
                       match=r"costs\.full_now has no cost for scenario 'moves_15'"):
        load_case(path)
