"""Minimax regret (後悔値最小法, SPEC A2): choose the option whose worst regret over the
possible futures is least, without putting probabilities on the futures.

Costs are net costs in one unit (the worked case: 億円 over 10 years); lower is better.
The regret of an option in a scenario is its cost minus the least cost any option has there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smame.yamlfile import load_model

__all__ = ["RegretCase", "RegretResult", "load_case", "minimax_regret", "regret_table",
           "seed_case_path"]

Costs = Mapping[str, Mapping[str, float]]
"""``costs[option][scenario]``."""


def regret_table(costs: Costs) -> dict[str, dict[str, float]]:
    """``regret[option][scenario]``: the option's cost less the best option's in that scenario
    (SPEC A2). Every option must be costed in the same scenarios."""
    options = list(costs)
    if not options:
        raise ValueError("no options")
    scenarios = list(costs[options[0]])
    for option in options:
        if set(costs[option]) != set(scenarios):
            raise ValueError(f"option {option!r} is not costed in every scenario")
    best = {s: min(costs[o][s] for o in options) for s in scenarios}
    return {o: {s: costs[o][s] - best[s] for s in scenarios} for o in options}


@dataclass(frozen=True, slots=True)
class RegretResult:
    regret: dict[str, dict[str, float]]
    max_regret: dict[str, float]
    choice: str
    """The option of least maximum regret; on a tie, the first in the case's order."""


def minimax_regret(costs: Costs) -> RegretResult:
    """Minimax regret over ``costs[option][scenario]`` (SPEC A2)."""
    regret = regret_table(costs)
    worst = {option: max(row.values()) for option, row in regret.items()}
    choice = min(worst, key=lambda option: (worst[option], list(worst).index(option)))
    return RegretResult(regret, worst, choice)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    note: str = ""


class RegretCase(_Strict):
    """A decision under uncertain futures, as a parameter file."""

    version: Literal[1]
    title: str
    unit: str
    options: list[Choice] = Field(min_length=2)
    scenarios: list[Choice] = Field(min_length=2)
    costs: dict[str, dict[str, float]]
    """``costs[option id][scenario id]``, in ``unit``."""

    @model_validator(mode="after")
    def _every_cell(self) -> RegretCase:
        scenario_ids = [s.id for s in self.scenarios]
        for option in self.options:
            row = self.costs.get(option.id)
            if row is None:
                raise ValueError(f"costs has no row for option {option.id!r}")
            missing = [s for s in scenario_ids if s not in row]
            if missing:
                raise ValueError(f"costs.{option.id} has no cost for scenario {missing[0]!r}")
        unknown = sorted(set(self.costs) - {o.id for o in self.options})
        if unknown:
            raise ValueError(f"costs names an option that is not listed: {unknown[0]!r}")
        return self

    def solve(self) -> RegretResult:
        ordered = {o.id: {s.id: self.costs[o.id][s.id] for s in self.scenarios}
                   for o in self.options}
        return minimax_regret(ordered)


def seed_case_path() -> Path:
    """The seed's worked case: whether meters record 15-minute values (SPEC A2, S10)."""
    return Path(str(resources.files("smame.analytics") / "regret_15min.yaml"))


def load_case(path: Path | None = None) -> RegretCase:
    return load_model(path or seed_case_path(), RegretCase)
