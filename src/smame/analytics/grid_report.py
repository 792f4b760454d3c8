"""``smame analyze``'s reports: a day's outages and voltage as Markdown with PNG plots
(SPEC S8, A3)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from smame.analytics.outages import Incident, Level
from smame.analytics.plots import figure, save
from smame.analytics.reliability import Reliability
from smame.analytics.voltage import VoltageReport
from smame.clock import JST

__all__ = ["write_loss_report", "write_outage_report", "write_voltage_report"]

_LEVEL_COLOURS = {Level.PREMISE: "#4878a8", Level.TRANSFORMER: "#e08a2c",
                  Level.FEEDER: "#b83232"}


def _hm(posix: int | None) -> str:
    return "ongoing" if posix is None else datetime.fromtimestamp(posix, JST).strftime("%H:%M")


def _or_dash(value: object) -> str:
    return "—" if value is None else str(value)


def incident_row(incident: Incident, now: int) -> dict:
    """An incident as plain values (the API and the reports share it)."""
    end = incident.end
    return {
        "level": str(incident.level),
        "element": incident.element,
        "start": incident.start,
        "end": end,
        "minutes": None if end is None else round((end - incident.start) / 60, 1),
        "customers": incident.customers,
        "customer_minutes": round(incident.customer_minutes(now), 1),
        "momentary": incident.momentary,
        "confirmed": incident.confirmed,
        "evidence": incident.evidence,
        "restored_by": incident.restored_by,
    }


def _timeline(path: Path, incidents: list[Incident], start: int, end: int) -> None:
    shown = incidents[:40]
    fig, axes = figure(9, 0.35 * len(shown) + 1.6)
    for y, incident in enumerate(shown[::-1]):
        stop = incident.end if incident.end is not None else end
        axes.barh(y, max(stop - incident.start, 60) / 3600, left=(incident.start - start) / 3600,
                  color=_LEVEL_COLOURS[incident.level])
    axes.set_yticks(range(len(shown)),
                    [f"{i.level} {i.element}" for i in shown[::-1]], fontsize=8)
    axes.set_xlim(0, (end - start) / 3600)
    axes.set_xlabel("hour of the day (JST)")
    axes.set_title("Outage incidents")
    save(fig, path)


def write_outage_report(out: Path, day: str, incidents: list[Incident], area: Reliability,
                        feeders: dict[int, Reliability], start: int, end: int) -> Path:
    """``outages.md`` and ``outage_timeline.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _timeline(out / "outage_timeline.png", incidents, start, end)
    sustained = [i for i in incidents if not i.momentary]
    lines = [
        f"# Outages on {day} (JST) (SPEC S8)", "",
        f"{len(sustained)} sustained incidents and {len(incidents) - len(sustained)} momentary "
        f"ones among {area.customers:,} customers.", "",
        "| index (IEEE 1366) | area |", "|---|---|",
        f"| SAIFI (interruptions per customer) | {area.saifi:.4f} |",
        f"| SAIDI (minutes per customer) | {area.saidi:.3f} |",
        f"| CAIDI (minutes per interruption) | {area.caidi:.1f} |",
        f"| MAIFI (momentary per customer) | {area.maifi:.4f} |", "",
        "![timeline](outage_timeline.png)", "",
        "| level | element | start | end | minutes | customers | customer minutes "
        "| evidence |", "|---|---|---|---|---|---|---|---|",
    ]
    for incident in incidents:
        row = incident_row(incident, end)
        evidence = ", ".join(f"{k} {v}" for k, v in sorted(row["evidence"].items()))
        kind = " (momentary)" if incident.momentary else ""
        lines.append(f"| {row['level']}{kind} | {row['element']} | {_hm(row['start'])} "
                     f"| {_hm(row['end'])} | {_or_dash(row['minutes'])} "
                     f"| {row['customers']} | {row['customer_minutes']:,.1f} | {evidence} |")
    hit = {f: r for f, r in feeders.items() if r.saifi or r.maifi}
    if hit:
        lines += ["", "## Feeders with interruptions", "",
                  "| feeder | customers | SAIFI | SAIDI | CAIDI | MAIFI |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {f} | {r.customers:,} | {r.saifi:.4f} | {r.saidi:.2f} | {r.caidi:.1f} "
                  f"| {r.maifi:.4f} |" for f, r in sorted(hit.items())]
    report = out / "outages.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def _histogram(path: Path, report: VoltageReport) -> None:
    fig, axes = figure(8, 3.6)
    hundred = report.volts[report.nominal == 100]
    if hundred.size:
        axes.hist(hundred, bins=np.arange(90, 115.25, 0.25), color="#4878a8")
    for limit in (95, 107):
        axes.axvline(limit, color="#b83232", linewidth=1)
    axes.set_xlabel("5-minute mean voltage, 100 V service (V); lines: 101 ± 6 V")
    axes.set_ylabel("values")
    axes.set_title("Service voltage")
    save(fig, path)


def write_voltage_report(out: Path, day: str, report: VoltageReport) -> Path:
    """``voltage.md`` and ``voltage_histogram.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _histogram(out / "voltage_histogram.png", report)
    lines = [
        f"# Voltage on {day} (JST) (SPEC A3)", "",
        f"{report.values:,} 5-minute values; {report.share_out:.3%} outside 101 ± 6 V / "
        f"202 ± 20 V ({report.minutes_out:,} meter-minutes, {len(report.events):,} events).", "",
        "![histogram](voltage_histogram.png)", "",
        "## Transformers with the most minutes out of band", "",
        "| transformer | meters | meters out | minutes high | minutes low | worst meter "
        "| worst V | tap change | minutes out after |", "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in [r for r in report.transformers if r.minutes_out][:20]:
        lines.append(f"| {row.transformer} | {row.meters} | {row.meters_out} "
                     f"| {row.minutes_high} | {row.minutes_low} | {row.worst_meter} "
                     f"| {row.worst_v} | {row.tap_steps:+d} | {row.minutes_out_after} |")
    lines += ["", "## Meters with the most minutes out of band", "",
              "| meter | minutes |", "|---|---|"]
    lines += [f"| {meter} | {minutes} |" for meter, minutes in report.worst_meters]
    path = out / "voltage.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_loss_report(out: Path, day: str, losses) -> Path:
    """``losses.md`` and ``loss_voltage.png`` in ``out``."""
    from smame.analytics.losses import SEED_URBAN_LOSS_SHARE

    out.mkdir(parents=True, exist_ok=True)
    fig, axes = figure(7, 3.4)
    setpoints = [o.substation_pu for o in losses.options]
    axes.plot(setpoints, [o.technical_wh / 1000 for o in losses.options], marker="o")
    for option in losses.options:
        if not option.lawful:
            axes.plot(option.substation_pu, option.technical_wh / 1000, "x", color="#b83232")
    axes.set_xlabel("substation voltage (per unit); x: a service bus leaves 101 ± 6 V")
    axes.set_ylabel("technical losses (kWh)")
    axes.set_title("Losses against the substation voltage")
    save(fig, out / "loss_voltage.png")
    lines = [f"# Losses on {day} (JST) (SPEC A3)", "",
             "Technical losses of the modelled network (docs/analytics.md) under the day's "
             f"metered loads; the seed cites {SEED_URBAN_LOSS_SHARE:.2%} in an urban grid.", "",
             "| feeder | technical loss share |", "|---|---|"]
    lines += [f"| {f} | {share:.2%} |" for f, share in sorted(losses.technical_share.items())]
    if losses.estimates:
        lines += ["", "## Energy balance against the feeder-head energy", "",
                  "| feeder | in (kWh) | metered (kWh) | loss | technical (kWh) "
                  "| non-technical (kWh) |", "|---|---|---|---|---|---|"]
        lines += [f"| {e.feeder} | {e.input_wh / 1000:,.1f} | {e.metered_wh / 1000:,.1f} "
                  f"| {e.share:.2%} | {e.technical_wh / 1000:,.1f} "
                  f"| {e.non_technical_wh / 1000:,.1f} |" for e in losses.estimates]
    lines += ["", "## Voltage optimisation", "", "![losses](loss_voltage.png)", "",
              "| substation (pu) | technical losses (kWh) | lowest service (pu) "
              "| highest service (pu) | in band |", "|---|---|---|---|---|"]
    lines += [f"| {o.substation_pu:.2f} | {o.technical_wh / 1000:,.1f} | {o.lowest_pu:.3f} "
              f"| {o.highest_pu:.3f} | {'yes' if o.lawful else 'no'} |" for o in losses.options]
    nominal = next((o for o in losses.options if o.substation_pu == 1.0), None)
    if losses.best is not None and nominal is not None and nominal.technical_wh > 0:
        saved = 1 - losses.best.technical_wh / nominal.technical_wh
        lines += ["", f"Least losses in band at {losses.best.substation_pu:.2f} pu: "
                  f"{saved:.1%} less than at 1.00 pu."]
    path = out / "losses.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
