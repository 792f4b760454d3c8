"""The capacity report: Markdown with PNG plots (matplotlib, Agg) and summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from smame.fan.area import LATENCY_EDGES
from smame.fan.config import FanConfig
from smame.fan.national import MethodSummary

__all__ = ["S1_GOAL", "figures", "write_report"]

S1_GOAL = 0.997
S3_REALTIME = 0.03
S3_HISTORICAL = 0.10
LABELS = {"multihop": "920 MHz multi-hop", "1n": "1:N cellular", "plc": "PLC"}


def figures(s: MethodSummary, config: FanConfig) -> dict[str, float]:
    """The headline figures of one method, as plain numbers (also summary.json)."""
    budget = config.multihop.hourly_tx_budget_s
    return {
        "meters": s.meters,
        "areas_simulated": s.areas_simulated,
        "concentrators_or_cells_deployed": round(s.areas_represented),
        "concentrators_or_cells_needed": round(s.concentrators_needed),
        "s1_within_60_min": s.share("on_time", "expected"),
        "s1_within_horizon": s.share("by_horizon", "expected"),
        "s1_eventually": s.share("eventual", "expected"),
        "lost_beyond_retention": s.lost,
        "meters_without_coverage": s.holes,
        "realtime_within_10_min": s.share("realtime_on_time", "realtime_expected"),
        "historical_within_day": s.share("historical_delivered", "historical_expected"),
        "max_realtime_share_p5_area": s.weighted_quantile("max_realtime_share", 0.05),
        "max_realtime_share_mean": s.weighted_mean("max_realtime_share"),
        "max_historical_share_p5_area": s.weighted_quantile("max_historical_share", 0.05),
        "max_historical_share_mean": s.weighted_mean("max_historical_share"),
        "peak_5min_utilisation_p50": s.weighted_quantile("peak_utilisation_5min", 0.5),
        "peak_5min_utilisation_p95": s.weighted_quantile("peak_utilisation_5min", 0.95),
        "mean_utilisation": s.weighted_mean("mean_utilisation"),
        "relay_tx_s_per_h_p95": s.weighted_quantile("peak_relay_tx_s_per_h", 0.95),
        "concentrator_tx_s_per_h_p95": s.weighted_quantile("peak_concentrator_tx_s_per_h",
                                                           0.95),
        "arib_budget_s_per_h": budget if s.method == "multihop" else 0.0,
        "latency_p50_s": latency_quantile(s.latency_hist, 0.5),
        "latency_p99_s": latency_quantile(s.latency_hist, 0.99),
        "jobs_simulated": s.jobs,
    }


def latency_quantile(hist: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a latency histogram over LATENCY_EDGES (upper bin edge), s."""
    cum = np.cumsum(hist)
    if not cum.size or cum[-1] == 0:
        return float("nan")
    return float(LATENCY_EDGES[1:][np.searchsorted(cum / cum[-1], q)])


def _pct(x: float) -> str:
    return f"{100 * x:.3f} %"


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name


def _plots(results: dict[str, MethodSummary], config: FanConfig, out: Path) -> list[str]:
    names = []
    fig, (ax, tail) = plt.subplots(1, 2, figsize=(10, 4))
    for method, s in results.items():
        cum = np.cumsum(s.latency_hist)
        if cum[-1] > 0:
            minutes = LATENCY_EDGES[1:] / 60
            ax.step(minutes, cum / cum[-1], where="post", label=LABELS[method])
            # the share of the day's intervals not yet delivered, on a log scale: S1's 0.3 %
            waiting = np.maximum(1 - cum / s.expected, 1e-7) if s.expected else cum * 0
            tail.step(minutes, waiting, where="post", label=LABELS[method])
    for axis in (ax, tail):
        axis.axvline(60, color="grey", linestyle="--", linewidth=1)
        axis.set_xscale("log")
        axis.set_xlabel("latency of 30-minute data, minutes (log)")
        axis.legend(fontsize=7)
    tail.axhline(1 - S1_GOAL, color="red", linestyle=":", linewidth=1)
    tail.set_yscale("log")
    tail.set_ylabel("share not yet delivered")
    ax.set_ylabel("share delivered")
    ax.set_title("30-minute data latency (S1: 60 minutes)")
    tail.set_title(f"tail (red: {1 - S1_GOAL:.1%} allowed late)")
    names.append(_save(fig, out, "latency_cdf.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    for method, s in results.items():
        hourly = np.array([r.hourly_utilisation for r, _ in s.areas])
        weights = np.array([w * r.meters for r, w in s.areas])
        ax.plot(range(24), (hourly * weights[:, None]).sum(0) / weights.sum(),
                label=f"{LABELS[method]} (mean)")
        ax.plot(range(24), hourly.max(0), linestyle=":", label=f"{LABELS[method]} (max)")
    ax.set_xlabel("hour of day (JST)")
    ax.set_ylabel("channel busy share")
    ax.set_title("Concentrator / cell channel use by hour")
    ax.legend(fontsize=7)
    names.append(_save(fig, out, "utilisation_by_hour.png"))

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for method, s in results.items():
        values, weights = s.per_area("max_realtime_share")
        axes[0].hist(values * 100, bins=30, weights=weights, histtype="step",
                     label=LABELS[method])
        values, weights = s.per_area("peak_utilisation_5min")
        axes[1].hist(values, bins=30, weights=weights, histtype="step", label=LABELS[method])
    axes[0].axvline(S3_REALTIME * 100, color="grey", linestyle="--", linewidth=1)
    axes[0].set_xlabel("largest real-time 5-minute share that fits, %")
    axes[1].set_xlabel("peak 5-minute channel use")
    for ax in axes:
        ax.set_ylabel("meters")
        ax.legend(fontsize=7)
    names.append(_save(fig, out, "headroom.png"))

    if "multihop" in results:
        s = results["multihop"]
        fig, ax = plt.subplots(figsize=(7, 3.6))
        for name, label in (("peak_relay_tx_s_per_h", "busiest first-hop relay"),
                            ("peak_concentrator_tx_s_per_h", "concentrator")):
            values, weights = s.per_area(name)
            ax.hist(values, bins=30, weights=weights, histtype="step", label=label)
        ax.axvline(config.multihop.hourly_tx_budget_s, color="red", linestyle="--", linewidth=1,
                   label="ARIB STD-T108 budget")
        ax.set_xlabel("transmit time in the busiest hour, s")
        ax.set_ylabel("meters")
        ax.legend(fontsize=7)
        names.append(_save(fig, out, "duty.png"))
    return names


def write_report(results: dict[str, MethodSummary], config: FanConfig, out: Path,
                 elapsed_s: float, command: str) -> Path:
    """Write report.md, the plots and summary.json into ``out``; the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    table = {m: figures(s, config) for m, s in results.items()}
    plots = _plots(results, config, out)
    (out / "summary.json").write_text(json.dumps(
        {"command": command, "elapsed_s": elapsed_s, "config_version": config.version,
         "methods": table}, indent=2))
    lines = [
        "# Field-network capacity report", "",
        f"`{command}` — {config.fleet.meters:,} meters, one simulated day, "
        f"{sum(s.areas_simulated for s in results.values())} representative areas, "
        f"{elapsed_s:.1f} s.", "",
        "Model and sources: docs/fan.md. Each simulated area stands for many of the fleet's "
        "areas (weights in summary.json); fault strata carry their configured shares.", "",
        "| figure | " + " | ".join(LABELS[m] for m in table) + " |",
        "|---|" + "---|" * len(table),
    ]

    def row(label: str, key: str, fmt=_pct) -> str:
        return f"| {label} | " + " | ".join(fmt(f[key]) for f in table.values()) + " |"

    def whole(x: float) -> str:
        return f"{x:,.0f}"

    def seconds(x: float) -> str:
        return f"{x:,.1f} s"

    def verdict(key: str, goal: float) -> str:
        return " | ".join("meets" if f[key] >= goal else "**misses**" for f in table.values())

    lines += [
        row("meters", "meters", whole),
        row("concentrators / cells deployed", "concentrators_or_cells_deployed", whole),
        row("concentrators / cells needed for the load", "concentrators_or_cells_needed",
            whole),
        row("S1: 30-minute data within 60 min", "s1_within_60_min"),
        f"| S1 goal {S1_GOAL:.1%} | {verdict('s1_within_60_min', S1_GOAL)} |",
        row("30-minute data within the 2-day horizon", "s1_within_horizon"),
        row("30-minute data eventually (gap fill within retention)", "s1_eventually"),
        row("intervals lost beyond retention", "lost_beyond_retention", whole),
        row("meters without coverage (need another method)", "meters_without_coverage",
            whole),
        row("latency p50", "latency_p50_s", seconds),
        row("latency p99", "latency_p99_s", seconds),
        row("real-time group: 5-minute data within 10 min", "realtime_within_10_min"),
        row("historical group: day read within the day", "historical_within_day"),
        row("S3 largest real-time share that fits (5 % of meters' areas below)",
            "max_realtime_share_p5_area"),
        f"| S3 real-time ≥ {S3_REALTIME:.0%} | "
        f"{verdict('max_realtime_share_p5_area', S3_REALTIME)} |",
        row("largest real-time share, fleet mean", "max_realtime_share_mean"),
        row("S3 largest historical share that fits (5 % below)",
            "max_historical_share_p5_area"),
        f"| S3 historical ≥ {S3_HISTORICAL:.0%} | "
        f"{verdict('max_historical_share_p5_area', S3_HISTORICAL)} |",
        row("peak 5-minute channel use, median area", "peak_5min_utilisation_p50",
            lambda x: f"{x:.2f}"),
        row("peak 5-minute channel use, p95 area", "peak_5min_utilisation_p95",
            lambda x: f"{x:.2f}"),
        row("busiest relay transmit s/h, p95 area", "relay_tx_s_per_h_p95", seconds),
        row("concentrator transmit s/h, p95 area", "concentrator_tx_s_per_h_p95", seconds),
        row("ARIB STD-T108 budget s/h", "arib_budget_s_per_h", seconds),
        row("transactions simulated", "jobs_simulated", whole),
        "",
    ]
    lines += [f"![{name}]({name})" for name in plots]
    lines += ["", "Headroom: shares are what fits while the channel stays below "
              f"{config.traffic.target_utilisation:.0%} busy in its worst 5 minutes "
              "(and, on the 920 MHz mesh, the busiest relay within ARIB STD-T108's "
              "transmit-time budget).", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
