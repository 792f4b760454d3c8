"""``smame cba``'s report: the seed's cost-benefit table recomputed, tornado plots of its
sensitivity, and the minimax-regret choice of the worked case (SPEC A1, A2)."""

from __future__ import annotations

from pathlib import Path

from smame.analytics.cba import (
    CbaParameters,
    CbaRow,
    Swing,
    evaluate,
    tornado_net_benefit,
    tornado_yen_per_month,
)
from smame.analytics.plots import figure, save
from smame.analytics.regret import RegretCase

__all__ = ["write_report"]


def _amount(pair: tuple[float, float] | None, digits: int = 0) -> str:
    if pair is None:
        return "—"
    low, high = (f"{value:,.{digits}f}".replace("-", "−") for value in pair)
    return low if low == high else f"{low} to {high}"


def _check(row: CbaRow) -> str:
    return {True: "✓", False: "✗", None: ""}[row.matches_seed]


def _table(params: CbaParameters, rows: list[CbaRow]) -> list[str]:
    lines = [
        f"Costs spread over {params.meters:,} meters and {params.months} months.",
        "",
        "| function | SPEC | benefit (億円) | first estimate (億円) | re-estimate (億円) "
        "| 円/meter/month | seed's 円/月 | | net benefit (億円) | seed's verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        f = row.function
        first = _amount(f.cost_oku_initial)
        seed = _amount(f.seed_yen_per_month, 1)
        lines.append(
            f"| {f.name_ja} ({f.name_en}) | {', '.join(f.spec)} | {_amount(row.benefit)} "
            f"| {first} | {_amount(row.cost)} | {_amount(row.yen_per_month, 1)} | {seed} "
            f"| {_check(row)} | {_amount(row.net)} | {f.verdict} |")
    return lines


def _plot_tornado(path: Path, title: str, unit: str, base: float,
                  swings: list[Swing]) -> None:
    fig, axes = figure(8, 0.45 * len(swings) + 1.4)
    names = [swing.parameter for swing in swings][::-1]
    for y, swing in enumerate(swings[::-1]):
        low, high = sorted((swing.at_low, swing.at_high))
        axes.barh(y, high - low, left=low, color="#4878a8")
    axes.axvline(base, color="black", linewidth=1)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel(unit)
    axes.set_title(title)
    save(fig, path)


def _regret_section(case: RegretCase) -> list[str]:
    result = case.solve()
    header = " | ".join(s.name for s in case.scenarios)
    lines = [f"## Minimax regret: {case.title} (SPEC A2)", "",
             f"Net cost ({case.unit}) and, in brackets, regret: the cost less the best option's "
             "in that future.", "",
             f"| option | {header} | maximum regret |",
             "|---|" + "---|" * len(case.scenarios) + "---|"]
    for option in case.options:
        cells = " | ".join(f"{case.costs[option.id][s.id]:,.0f} "
                           f"({result.regret[option.id][s.id]:,.0f})" for s in case.scenarios)
        mark = " **← chosen**" if option.id == result.choice else ""
        lines.append(f"| {option.name} | {cells} | {result.max_regret[option.id]:,.0f}{mark} |")
    chosen = next(o for o in case.options if o.id == result.choice)
    lines += ["", f"Least maximum regret: **{chosen.name}**"
              f" ({result.max_regret[chosen.id]:,.0f} {case.unit}).", ""]
    lines += [f"- {o.name}: {o.note}" for o in case.options if o.note]
    return lines


def write_report(params: CbaParameters, case: RegretCase, out: Path) -> Path:
    """Write ``cba.md`` and its plots into ``out`` (created); returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    rows = evaluate(params)
    yen_base, yen_swings = tornado_yen_per_month(params)
    net_base, net_swings = tornado_net_benefit(params)
    _plot_tornado(out / "tornado_yen_per_month.png",
                  "Cost per meter per month, all rows of the table", "yen per meter per month",
                  yen_base, yen_swings)
    _plot_tornado(out / "tornado_net_benefit.png",
                  "Net benefit of the rows with a stated benefit",
                  "oku yen (100 million yen) over the period",
                  net_base, net_swings)
    matched = [row for row in rows if row.matches_seed is not None]
    lines = [
        "# Cost-benefit of the next-generation functions (SPEC A1)", "",
        "Recomputed from the parameter file; the seed's table is 中間取りまとめ p. 9 "
        "(第5回次世代スマートメーター制度検討会, 2021).", "",
        *_table(params, rows), "",
        f"{sum(bool(row.matches_seed) for row in matched)} of {len(matched)} monthly figures "
        "match the seed's to the 0.1 円 it prints.", "",
        "## Sensitivity", "",
        f"All rows of the table together cost {yen_base:.1f} 円 per meter per month at middle "
        "values; each bar moves one parameter to its low and high end.", "",
        "![cost per meter per month](tornado_yen_per_month.png)", "",
        f"Net benefit of the rows with a stated benefit: {net_base:,.0f} 億円 at middle "
        "values.", "",
        "![net benefit](tornado_net_benefit.png)", "",
        *_regret_section(case), "",
    ]
    report = out / "cba.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report
