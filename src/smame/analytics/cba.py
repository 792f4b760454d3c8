"""The seed's 10-year cost-benefit table, per function, in 億円 and 円 per meter per month
(SPEC A1), with its sensitivity to the parameters.

Amounts are 億円 (10^8 yen) over the evaluation period; a range is ``(low, high)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PositiveInt, model_validator

from smame.yamlfile import load_model

__all__ = [
    "CbaParameters",
    "CbaRow",
    "Swing",
    "evaluate",
    "load_parameters",
    "seed_parameters_path",
    "tornado_net_benefit",
    "tornado_yen_per_month",
    "yen_per_meter_month",
]

YEN_PER_OKU = 100_000_000


def _amount(value: object) -> tuple[float, float]:
    def number(item: object) -> float:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValueError("must be a number of 億円 or [low, high]")
        if item < 0:
            raise ValueError("must not be negative")
        return float(item)

    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = number(value[0]), number(value[1])
        if low > high:
            raise ValueError("must be [low, high] with low <= high")
        return low, high
    one = number(value)
    return one, one


Amount = Annotated[tuple[float, float], BeforeValidator(_amount)]
"""億円 as ``(low, high)``; the file gives one figure or ``[low, high]``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FunctionRow(_Strict):
    """One row of the seed's table (中間取りまとめ p. 9)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_ja: str
    name_en: str
    benefit_ja: str
    spec: list[str]
    benefit_oku: Amount | None
    """想定便益 over the period; None where the seed counts it in another row."""
    cost_oku_initial: Amount | None = None
    """想定費用 as first estimated (第4回次世代スマメ検)."""
    cost_oku: list[Amount] = Field(min_length=1)
    """再見積結果 (第5回), as the parts whose sum the seed turns into 円 per month."""
    seed_yen_per_month: Amount | None = None
    seed_month_basis: Literal["range", "low"] = "range"
    """``low``: the seed's monthly figure is for the low end of the cost only."""
    verdict: str


class Sensitivity(_Strict):
    meters: tuple[PositiveInt, PositiveInt]
    months: tuple[PositiveInt, PositiveInt]
    point_spread: float = Field(ge=0, lt=1)
    """Relative swing of an amount the seed gives as one (約) figure: 0.2 is ±20 %."""


class CbaParameters(_Strict):
    version: Literal[1]
    meters: PositiveInt
    months: PositiveInt
    functions: list[FunctionRow] = Field(min_length=1)
    sensitivity: Sensitivity

    @model_validator(mode="after")
    def _unique_ids(self) -> CbaParameters:
        ids = [row.id for row in self.functions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"function ids must be unique: {', '.join(repeated)}")
        return self


def seed_parameters_path() -> Path:
    """The parameter file that restates the seed's table, shipped with smame."""
    return Path(str(resources.files("smame.analytics") / "cba_seed.yaml"))


def load_parameters(path: Path | None = None) -> CbaParameters:
    """Read a cost-benefit parameter file (default: the seed's); a bad one raises
    :class:`smame.yamlfile.ParameterFileError` naming the field."""
    return load_model(path or seed_parameters_path(), CbaParameters)


def yen_per_meter_month(cost_oku: float, meters: int, months: int) -> float:
    """A cost in 億円 spread over ``meters`` meters and ``months`` months, in 円 per meter per
    month (SPEC A1: 1,017 億円 over 80 M meters and 120 months is 10.6 円/月)."""
    return cost_oku * YEN_PER_OKU / (meters * months)


def total_cost(row: FunctionRow) -> tuple[float, float]:
    """``(low, high)`` of the re-estimated cost, its parts added, in 億円."""
    parts = row.cost_oku
    return sum(low for low, _ in parts), sum(high for _, high in parts)


@dataclass(frozen=True, slots=True)
class CbaRow:
    """One function evaluated: amounts in 億円, costs per meter in 円 per month."""

    function: FunctionRow
    benefit: tuple[float, float] | None
    cost: tuple[float, float]
    yen_per_month: tuple[float, float]
    net: tuple[float, float] | None
    """Benefit minus cost, worst case first: ``(benefit low − cost high, high − low)``."""

    @property
    def matches_seed(self) -> bool | None:
        """Whether the monthly figure, rounded to 0.1 円 as the seed prints it, is the seed's
        (None where the seed prints none)."""
        if self.function.seed_yen_per_month is None:
            return None
        seed_low, seed_high = self.function.seed_yen_per_month
        low, high = (round(value, 1) for value in self.yen_per_month)
        if self.function.seed_month_basis == "low":
            return low == seed_low
        return (low, high) == (seed_low, seed_high)


def evaluate(params: CbaParameters, meters: int | None = None,
             months: int | None = None) -> list[CbaRow]:
    """Every function of the table with its cost per meter per month (SPEC A1)."""
    meters = meters or params.meters
    months = months or params.months
    rows = []
    for function in params.functions:
        cost = total_cost(function)
        benefit = function.benefit_oku
        net = (benefit[0] - cost[1], benefit[1] - cost[0]) if benefit is not None else None
        rows.append(CbaRow(function, benefit, cost,
                           tuple(yen_per_meter_month(c, meters, months) for c in cost), net))
    return rows


@dataclass(frozen=True, slots=True)
class Swing:
    """One bar of a tornado plot: the output with ``parameter`` at its low and high ends."""

    parameter: str
    at_low: float
    at_high: float

    @property
    def width(self) -> float:
        return abs(self.at_high - self.at_low)


def _mid(pair: tuple[float, float]) -> float:
    return (pair[0] + pair[1]) / 2


def swing_range(pair: tuple[float, float], point_spread: float) -> tuple[float, float]:
    """The range a sensitivity swings over: a stated range as it is, one figure ±
    ``point_spread`` of itself."""
    low, high = pair
    return (low * (1 - point_spread), high * (1 + point_spread)) if low == high else pair


def _tornado(names: list[str], output: Callable[[str | None, int], float]) -> list[Swing]:
    """Swings of ``output(varied, end)`` (end 0: low, 1: high; others at their middle),
    widest first."""
    swings = [Swing(name, output(name, 0), output(name, 1)) for name in names]
    return sorted(swings, key=lambda swing: -swing.width)


def tornado_yen_per_month(params: CbaParameters) -> tuple[float, list[Swing]]:
    """The whole table's cost in 円 per meter per month at middle values, and its swing with
    the meter count, the period and each function's cost (SPEC A1). The middle of a cost
    given as one figure is that figure."""
    spread = params.sensitivity.point_spread
    costs = {row.id: swing_range(total_cost(row), spread) for row in params.functions}

    def output(varied: str | None, end: int) -> float:
        meters = params.sensitivity.meters[end] if varied == "meters" else params.meters
        months = params.sensitivity.months[end] if varied == "months" else params.months
        total = sum(cost[end] if varied == fid else _mid(cost) for fid, cost in costs.items())
        return yen_per_meter_month(total, meters, months)

    return output(None, 0), _tornado(["meters", "months", *costs], output)


def tornado_net_benefit(params: CbaParameters) -> tuple[float, list[Swing]]:
    """The net benefit in 億円 of the functions with a stated benefit, at middle values, and
    its swing with each one's benefit and cost (SPEC A1)."""
    rows = [row for row in params.functions if row.benefit_oku is not None]
    spread = params.sensitivity.point_spread
    benefits = {f"{row.id} benefit": swing_range(row.benefit_oku, spread) for row in rows}
    costs = {f"{row.id} cost": swing_range(total_cost(row), spread) for row in rows}

    def output(varied: str | None, end: int) -> float:
        gain = sum(b[end] if varied == n else _mid(b) for n, b in benefits.items())
        spend = sum(c[end] if varied == n else _mid(c) for n, c in costs.items())
        return gain - spend

    return output(None, 0), _tornado([*benefits, *costs], output)
