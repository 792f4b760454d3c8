"""``make demo``: a small fleet lives through one summer day, with commands and an outage."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from smame.meter import EventKind, Fleet, FleetConfig
from smame.meter.simulate import BatchSummary
from smame.readings import CHANNELS, Period, Quantity, channel_code

JST = timezone(timedelta(hours=9), "JST")
DEMO_DAY = date(2026, 7, 1)
_BARS = " ▁▂▃▄▅▆▇█"


def _at(hour: int, minute: int = 0) -> int:
    """POSIX seconds of a JST time on the demo day; 24:00 is the next midnight."""
    midnight = datetime.combine(DEMO_DAY, time(0), JST)
    return int((midnight + timedelta(hours=hour, minutes=minute)).timestamp())


def _jst(posix: int) -> str:
    return datetime.fromtimestamp(posix, JST).strftime("%H:%M:%S")


def run_demo(console: Console, meters: int = 300, seed: int = 7) -> None:
    config = FleetConfig(meters=meters, start=datetime.combine(DEMO_DAY, time(0), JST), seed=seed)
    fleet = Fleet(config)
    batches: list[pa.Table] = []
    summary = BatchSummary()

    def run_to(posix: int) -> None:
        for batch in fleet.run_until(posix):
            batches.append(batch)
            summary.add(batch)

    outage_meter = fleet.meter(10)
    quiet = fleet.meter(outage_meter.index + 1)
    quiet.set_last_gasp(False)  # a meter without Last Gasp, as later low-voltage meters are
    reserved, switched, fifteen = fleet.meter(1), fleet.meter(2), fleet.meter(3)
    fifteen.set_soft_switch(15)
    reservation = reserved.reserve_limit(_at(18), 20)
    cancelled = reserved.reserve_limit(_at(21), 60)
    reserved.cancel_reservation(cancelled.id)
    fleet.schedule_outage(_at(10), _at(10, 40), transformers=(outage_meter.transformer,))

    run_to(_at(13))
    switched.disconnect()
    run_to(_at(15))
    switched.reconnect()
    run_to(_at(24))

    table = pa.concat_tables(batches)
    events = fleet.events.drain()
    summary.add_events([e.kind for e in events])
    _print_fleet(console, fleet)
    _print_load(console, table)
    _print_summary(console, summary, fleet)
    _print_events(console, events, fleet)
    console.print(
        f"Reservation #{reservation.id}: meter {reserved.meter_id} now limited to "
        f"{reserved.limit_a} A; soft switch of meter {fifteen.meter_id}: {fifteen.soft_switch} min."
    )


def _print_fleet(console: Console, fleet: Fleet) -> None:
    topo, traits = fleet.topology, fleet.traits
    joint = fleet.joint_meters().column("kind").to_pylist()
    console.rule(f"[bold]smame demo — {DEMO_DAY.isoformat()} (JST), one simulated day")
    console.print(
        f"{fleet.n} meters on {topo.n_transformers} pole transformers and {topo.n_feeders} "
        f"feeder(s); PV on {int((traits.pv_kw > 0).sum())} homes, EV chargers in "
        f"{int((traits.ev_kw > 0).sum())}; {joint.count('gas')} gas and {joint.count('water')} "
        "water meters relayed (M9)."
    )


def _print_load(console: Console, table: pa.Table) -> None:
    channel = table.column("channel").to_numpy()
    values = table.column("value").to_numpy()
    ends = table.column("interval_end").cast(pa.int64()).to_numpy()
    slots = (ends // 60 - ends.min() // 60) // 30
    load = {}
    for quantity in (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT):
        mask = channel == channel_code(quantity, Period.MIN30)
        kwh = np.bincount(slots[mask], weights=values[mask], minlength=48)[:48] * 0.01
        load[quantity] = kwh * 2  # kWh per half hour → mean kW
    top = max(load[Quantity.ACTIVE_IMPORT].max(), 1e-9)
    line = lambda kw: "".join(_BARS[round(v / top * 8)] for v in kw)  # noqa: E731
    console.print("\n[bold]Fleet load, 30-minute slots 00:00 → 24:00 (mean kW)")
    console.print(f"  import │{line(load[Quantity.ACTIVE_IMPORT])}│ peak "
                  f"{load[Quantity.ACTIVE_IMPORT].max():.0f} kW")
    console.print(f"  export │{line(load[Quantity.ACTIVE_EXPORT])}│ peak "
                  f"{load[Quantity.ACTIVE_EXPORT].max():.0f} kW (PV reverse flow)")


def _print_summary(console: Console, summary: BatchSummary, fleet: Fleet) -> None:
    data = summary.as_dict()
    grid = Table(title="Readings the meters produced", show_lines=False)
    grid.add_column("channel", justify="right")
    grid.add_column("what")
    grid.add_column("unit")
    grid.add_column("rows", justify="right")
    for code, info in data["channels"].items():
        grid.add_row(code, CHANNELS[int(code)].name, info["unit"], f"{info['rows']:,}")
    console.print(grid)
    volts = data["voltage"]["100V"]
    share = volts["within_band_share"]
    console.print(
        f"Energy: import {data['energy_kwh']['import']:,.1f} kWh "
        f"({data['energy_kwh']['import'] / fleet.n:.1f} kWh per meter), "
        f"export {data['energy_kwh']['export']:,.1f} kWh. "
        f"5-minute voltage within 101±6 V: {share:.2%} of {volts['values']:,} values."
        if share is not None else ""
    )


_SUPPLY = {EventKind.POWER_DOWN, EventKind.LAST_GASP, EventKind.POWER_RESTORED}
_SHOWN = {
    EventKind.DISCONNECTED, EventKind.RECONNECTED, EventKind.RESERVATION_SET,
    EventKind.RESERVATION_CANCELLED, EventKind.RESERVATION_EXECUTED, EventKind.BREAKER_LOCKOUT,
    EventKind.SOFT_SWITCH_CHANGED, EventKind.LAST_GASP_SETTING_CHANGED,
}


def _print_events(console: Console, events, fleet: Fleet) -> None:
    grid = Table(title=f"Meter events ({len(events)} in all)")
    grid.add_column("time (JST)")
    grid.add_column("meter")
    grid.add_column("event")
    grid.add_column("detail")
    for event in [e for e in events if e.kind in _SHOWN]:
        detail = ""
        if event.kind in (EventKind.RESERVATION_SET, EventKind.RESERVATION_EXECUTED,
                          EventKind.RESERVATION_CANCELLED):
            detail = f"#{event.reference}: {event.value} A"
        elif event.kind is EventKind.SOFT_SWITCH_CHANGED:
            detail = f"{event.value} min"
        grid.add_row(_jst(event.time), str(event.meter_id), event.kind.name, detail)
    console.print(grid)
    _print_outages(console, [e for e in events if e.kind in _SUPPLY], fleet)
    trips = sum(e.kind is EventKind.BREAKER_TRIP for e in events)
    tripped = len({e.meter_id for e in events if e.kind is EventKind.BREAKER_TRIP})
    console.print(f"Ampere breaker: {trips} trips on {tripped} meters, each re-closed after "
                  f"{fleet.config.breaker.reclose_seconds} s (M7).")


def _print_outages(console: Console, events, fleet: Fleet) -> None:
    """Supply events grouped by transformer: who lost supply, alarms sent, restoration."""
    by_transformer: dict[int, list] = {}
    for event in events:
        transformer = fleet.meter(fleet.index_of(event.meter_id)).transformer
        by_transformer.setdefault(transformer, []).append(event)
    for transformer, group in sorted(by_transformer.items()):
        down = [e for e in group if e.kind is EventKind.POWER_DOWN]
        gasps = [e for e in group if e.kind is EventKind.LAST_GASP]
        restored = [e for e in group if e.kind is EventKind.POWER_RESTORED]
        if not down:
            continue
        start = min(e.time for e in down)
        end = max((e.time for e in restored), default=None)
        lasted = f"{_jst(start)}–{_jst(end)} ({(end - start) // 60} min)" if end else (
            f"from {_jst(start)}, not yet restored")
        silent = len(down) - len(gasps)
        console.print(
            f"[bold]Outage[/] on transformer {transformer}: {len(down)} meters lost supply "
            f"{lasted}; {len(gasps)} Last Gasp alarms at {_jst(min(e.time for e in gasps))}"
            + (f", {silent} meter(s) with Last Gasp off stayed silent" if silent else "")
            + f"; {len(restored)} restore events (M6)."
        )
