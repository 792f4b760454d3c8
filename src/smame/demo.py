"""``make demo``: the system lives through one summer day.

A fleet of a few hundred meters is served over DLMS/COSEM and collected by the head-end on
an accelerated clock: pushes every 30 minutes, pulls for what did not arrive, the 5-minute
groups, a mass ampere reservation, a disconnect, a clock sync, and an outage whose Last
Gasp alarms reach the head-end. By default the DLMS bytes cross the per-packet multi-hop
920 MHz model (``smame.fan``: frames, hops, MAC retries, losses); ``network="tcp"`` serves
the meters on loopback TCP instead.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path
from queue import Queue

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from smame.analytics.grid import DayOutages, day_outages
from smame.api.config import ApiConfig
from smame.api.data import DataService
from smame.api.live import listen, serve_system
from smame.clock import JST
from smame.echonet.client import UdpTransport
from smame.echonet.node import Node
from smame.echonet.smartmeter import SmartMeterObject
from smame.echonet.udp import open_udp_node
from smame.hes.commands import Command, CommandKind
from smame.hes.groups import (
    HISTORICAL_WITHIN_S,
    REALTIME_WITHIN_S,
    FiveMinuteGroups,
    on_time_share,
)
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.sinks import MemorySink
from smame.mdms import Mdms, MdmsSink
from smame.mdms.seed import seed_registry
from smame.meter import EventKind, Fleet, FleetConfig
from smame.meter.events import events_table
from smame.meter.simulate import BatchSummary, meters_table
from smame.readings import CHANNELS, Period, Quantity, channel_code
from smame.system import MESH_ANSWER_TIMEOUT_S, ARoute, running_a_route

DEMO_DAY = date(2026, 7, 1)
_BARS = " ▁▂▃▄▅▆▇█"


def _at(hour: int, minute: int = 0) -> int:
    """POSIX seconds of a JST time on the demo day; 24:00 is the next midnight."""
    midnight = datetime.combine(DEMO_DAY, time(0), JST)
    return int((midnight + timedelta(hours=hour, minutes=minute)).timestamp())


def _jst(posix: float) -> str:
    return datetime.fromtimestamp(posix, JST).strftime("%H:%M:%S")


AFTER_DAY_SPEED = 60.0
"""Simulated seconds per real second once the demo day is over and the API serves: the
day itself runs fast to be watched in a minute; serving for hours at that pace would
outrun what one machine collects, and the console would show the shortfall as loss."""
S1_RATE = 0.997
"""S1: the collection rate a fully deployed multi-hop network achieves."""


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share:.2%}"


FLEET_STEP_S = 300
"""The fleet advances in 5-minute windows on the 5-minute grid: its random draws are per
window, so equal windows give equal load for a seed however the clock's ticks fall."""
LEAD_IN_S = 1800
"""The fleet runs from 23:30 the day before, so 00:00's registers are collected."""
DEMO_FEEDER_SIZE = (4, 6)
"""Pole transformers per feeder: small feeders, so a few hundred meters hang on several and
a feeder outage leaves the rest of the fleet supplied."""
PUSH_WINDOW_S = 240
"""The meters spread their interval pushes over 4 minutes after each interval (push setup
attribute 5)…"""
PUSH_GRACE_S = 600
"""…and the head-end pulls what has not arrived 10 minutes after it."""
SESSION_TIMEOUT_S = {"mesh": MESH_ANSWER_TIMEOUT_S, "tcp": 10.0}
"""How long the head-end waits for an answer: over the mesh simulated seconds on the mesh's
clock (frames queue behind a window's pushes), over loopback TCP wall seconds."""


def run_demo(console: Console, meters: int = 300, seed: int = 7, speed: float = 1440,
             port: int | None = 8080, serve_for: float | None = None,
             network: str = "mesh") -> None:
    """Run the day; then, unless ``port`` is None, serve the API and console on it until
    Ctrl-C (or for ``serve_for`` seconds) while the fleet keeps running. The port (0: any
    free one) is taken before the day starts, so a busy port fails at once (ListenError)."""
    listener = listen("127.0.0.1", port) if port is not None else None
    try:
        asyncio.run(_demo(console, meters, seed, speed, listener, serve_for, network))
    finally:
        if listener is not None:
            listener.close()


async def _demo(console: Console, meters: int, seed: int, speed: float,
                listener: socket.socket | None, serve_for: float | None, network: str) -> None:
    # The fleet starts half an hour before the day, so the day opens with a 00:00 register
    # reading like any day after the first: retail 30-minute values need it (S4).
    fleet = Fleet(FleetConfig(meters=meters, start=datetime.fromtimestamp(
        _at(0) - LEAD_IN_S, JST), seed=seed, transformers_per_feeder=DEMO_FEEDER_SIZE))
    outage_meter = fleet.meter(10)
    fleet.meter(outage_meter.index + 1).set_last_gasp(False)  # as later low-voltage meters
    fleet.schedule_outage(_at(10), _at(10, 40), transformers=(outage_meter.transformer,))
    last_feeder = int(fleet.topology.transformer_feeder.max())
    if last_feeder != fleet.topology.transformer_feeder[outage_meter.transformer]:
        fleet.schedule_outage(_at(14), _at(14, 50), feeders=(last_feeder,))
    groups = FiveMinuteGroups.select(fleet.meter_ids, seed=seed)
    ids = [int(m) for m in fleet.meter_ids]
    console.rule(f"[bold]smame demo — {DEMO_DAY.isoformat()} (JST), one simulated day")
    how = ("through the per-packet multi-hop 920 MHz model" if network == "mesh"
           else "on loopback TCP")
    console.print(f"Serving {meters} meters over DLMS/COSEM {how}; the head-end collects "
                  f"them at {speed:g}× real time ({86400 / speed:.0f} s for the day)…")
    with tempfile.TemporaryDirectory(prefix="smame-demo-") as work:
        memory = MemorySink()
        handed_at: list[float] = []  # system-clock moment of each batch, for S3's figures
        to_mdms: MdmsSink | None = None
        # The MDMS ingests in a thread of its own, as behind a real head-end's queue: its
        # validation must not hold up the event loop that receives the meters' pushes.
        queue: Queue[pa.Table] = Queue()

        def sink(batch: pa.Table) -> None:  # the head-end's output: kept, and into the MDMS
            memory(batch)
            handed_at.append(system.clock.time())
            queue.put(batch)

        async with running_a_route(fleet, speed, sink, Path(work),
                                   HesConfig(push_grace_seconds=PUSH_GRACE_S,
                                             session_timeout=SESSION_TIMEOUT_S[network]),
                                   groups,
                                   push_window=PUSH_WINDOW_S, fleet_step_s=FLEET_STEP_S,
                                   network=network, mesh_seed=seed) as (system, drive):
            _print_network(console, system)
            # The MDMS stamps arrivals on the system's (simulated) clock: S1's 60 minutes
            # are simulated minutes, as the head-end's are. The clock waits while it opens.
            system.clock.set_speed(0)
            mdms = Mdms(Path(work) / "mdms", clock=system.clock)
            seed_registry(mdms.registry, meters_table(fleet), fleet.joint_meters(), DEMO_DAY)
            to_mdms = MdmsSink(mdms, source_name="hes")
            threading.Thread(target=_ingest_queued, args=(queue, to_mdms), daemon=True,
                             name="mdms-ingest").start()
            system.clock.set_speed(speed)
            hes = system.headend
            commands: list[Command] = []

            def submit(kind: CommandKind, targets: list[int], params=None):
                return lambda: commands.append(hes.commands.submit(kind, targets, params))

            driver = drive(_at(24))
            await asyncio.gather(
                driver,
                hes.run_schedule(_at(24) + PUSH_GRACE_S, since=_at(0) - LEAD_IN_S),
                _forward(system, _at(24) + PUSH_GRACE_S),
                system.at(_at(6), submit(CommandKind.SOFT_SWITCH, ids[3:5], {"minutes": 15})),
                system.at(_at(8), submit(CommandKind.RESERVE_LIMIT, ids[20:60],
                                         {"at": _at(18), "amps": 20})),
                system.at(_at(9), submit(CommandKind.CLOCK_SYNC, ids)),
                system.at(_at(12), submit(CommandKind.DISCONNECT, ids[2:3])),
                system.at(_at(13), submit(CommandKind.READ_INSTANTANEOUS, ids[5:6])),
                system.at(_at(15), submit(CommandKind.RECONNECT, ids[2:3])),
            )
            # The day is over: the clock stops while the head-end finishes and the demo
            # reports, so work done after the day is not stamped hours late.
            system.clock.set_speed(0)
            await hes.commands.drain()
            refilled = sum([await hes.fill_gaps(_at(0) - LEAD_IN_S, _at(24), period)
                            for period in (30, 15)])
            hes.flush()
            await asyncio.to_thread(queue.join)
            table = memory.table()
            _print_fleet(console, fleet)
            _print_load(console, table)
            mdms.ingest_events(events_table(system.meter_events))
            figures = DataService(mdms, system.clock).collection(DEMO_DAY)
            _print_collection(console, hes, figures, refilled, system.pushes_sent)
            _print_field(console, system)
            _print_outages(console, hes, fleet)
            _print_commands(console, fleet, commands, system.meter_events)
            _print_readings(console, table, groups, handed_at, memory.batches)
            _print_mdms(console, mdms, to_mdms)
            _print_grid(console, day_outages(mdms, DEMO_DAY))
            await _show_broute(console, fleet, table)
            if listener is not None:
                after = min(speed, AFTER_DAY_SPEED)
                system.clock.set_speed(after)
                console.print(f"\nThe day is done. From here the clock runs at {after:g}× real "
                              f"time (one simulated hour in {3600 / after:.0f} s), a pace the "
                              "system keeps up with, so the console shows the next day as "
                              "it is collected.")
                await serve_system(system, drive, mdms, ApiConfig(Path(work) / "mdms"),
                                   console=console, run_for=serve_for, listener=listener)


def _print_grid(console: Console, outages: DayOutages) -> None:
    """Outages located from the MDMS's data alone, and the day's IEEE 1366 indices (S8)."""
    console.print("\n[bold]Outages located from the meters' data (S8, IEEE 1366)")
    for incident in outages.incidents:
        end = "ongoing" if incident.end is None else _jst(incident.end)[:5]
        kind = "momentary " if incident.momentary else ""
        evidence = ", ".join(f"{n} {k}" for k, n in sorted(incident.evidence.items()))
        console.print(f"  {kind}{incident.level} {incident.element}: {_jst(incident.start)[:5]}"
                      f"–{end}, {incident.customers} customers, "
                      f"{incident.customer_minutes(outages.end):,.0f} customer-minutes "
                      f"({evidence})")
    area = outages.area
    console.print(f"  SAIDI {area.saidi:.2f} min, SAIFI {area.saifi:.4f}, CAIDI "
                  f"{area.caidi:.1f} min, MAIFI {area.maifi:.4f} over {area.customers} customers")


def _ingest_queued(queue: Queue[pa.Table], sink: MdmsSink) -> None:
    """Ingest what the head-end delivered, all that waits at once: a busy MDMS catches up
    in one version instead of falling further behind one small batch at a time."""
    while True:
        batches = [queue.get()]
        while not queue.empty():
            batches.append(queue.get())
        try:
            sink(pa.concat_tables(batches))
        finally:
            for _ in batches:
                queue.task_done()


FORWARD_EVERY_S = 600
"""The head-end hands what it received to the MDMS every 10 simulated minutes, whatever
its pulls are doing (they may lag the clock on a busy machine; the pushes must not)."""


async def _forward(system: ARoute, until: float) -> None:
    while system.clock.time() < until:
        await system.clock.sleep(FORWARD_EVERY_S)
        system.headend.flush()


def _print_fleet(console: Console, fleet: Fleet) -> None:
    topo, traits = fleet.topology, fleet.traits
    joint = fleet.joint_meters().column("kind").to_pylist()
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
    slots = (ends - _at(0)) // 1800 - 1
    load = {}
    for quantity in (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT):
        mask = (channel == channel_code(quantity, Period.MIN30)) & (slots >= 0) & (slots < 48)
        load[quantity] = np.bincount(slots[mask], weights=values[mask], minlength=48) * 0.02
    top = max(load[Quantity.ACTIVE_IMPORT].max(), 1e-9)
    line = lambda kw: "".join(_BARS[round(v / top * 8)] for v in kw)  # noqa: E731
    console.print("\n[bold]Fleet load collected by the head-end, 30-minute slots (mean kW)")
    console.print(f"  import │{line(load[Quantity.ACTIVE_IMPORT])}│ peak "
                  f"{load[Quantity.ACTIVE_IMPORT].max():.0f} kW")
    console.print(f"  export │{line(load[Quantity.ACTIVE_EXPORT])}│ peak "
                  f"{load[Quantity.ACTIVE_EXPORT].max():.0f} kW (PV reverse flow)")


def _print_collection(console: Console, hes: HeadEnd, figures: dict, refilled: int,
                      sent: int) -> None:
    """S1 as the API and console count it (smame.mdms.collection), then how it was got."""
    report = [r for r in hes.collection_report(30) if _at(0) < r["end"] <= _at(24)]
    pushed = sum(r["push"] for r in report)
    pulled = sum(r["pull"] for r in report)
    settled = [s for s in figures["slots"] if s["settled"]]
    console.print("\n[bold]Scheduled collection (S1: every 30-minute value in the MDMS within "
                  "60 minutes)")
    worst = min(settled, key=lambda s: s["on_time"], default=None)
    console.print(
        f"  {len(settled)} of 48 half-hour slots settled for {figures['meters']} meters: "
        f"{_pct(figures['on_time_rate'])} on time, {figures['late']:,} late, "
        f"{figures['missing'] + figures['awaited']:,} not collected"
        + (f"; worst slot {_jst(worst['end'])[:5]} with {worst['on_time']} of "
           f"{worst['expected']} on time" if worst else "") + ".")
    verdict = ("meets S1" if figures["on_time_rate"] is not None
               and figures["on_time_rate"] >= S1_RATE else "does NOT meet S1")
    console.print(f"  The day {verdict} (goal {S1_RATE:.1%} on time)" + (
        "" if verdict == "meets S1" else
        f": {figures['late']:,} values arrived after 60 minutes and "
        f"{figures['missing'] + figures['awaited']:,} were not collected — the machine "
        "could not keep up with the clock; try a lower --speed or fewer --meters") + ".")
    console.print(
        f"  How: {pushed:,} by push, {pulled:,} pulled after the push did not arrive, "
        f"{refilled} re-read by gap fill, {hes.duplicates} duplicates dropped; "
        f"{hes.pushes:,} pushes accepted of {sent:,} sent.")
    for name, samples in (("push", hes.push_latency), ("pull", hes.pull_latency)):
        summary = hes.latency_summary(samples)
        if summary:
            console.print(
                f"  {name} delivery after the interval closed (simulated s): "
                f"p50 {summary['p50']:.0f}, p90 {summary['p90']:.0f}, p99 {summary['p99']:.0f}, "
                f"max {summary['max']:.0f}  (goal: within 3,600 s)")


def _print_outages(console: Console, hes: HeadEnd, fleet: Fleet) -> None:
    by_transformer: dict[int, dict[str, list]] = {}
    for event in hes.events:
        if event.kind in ("outage", "restore") and event.meter_id is not None:
            transformer = fleet.meter(fleet.index_of(event.meter_id)).transformer
            by_transformer.setdefault(transformer, {"outage": [], "restore": []})[
                event.kind].append(event)
    console.print("\n[bold]Outages seen by the head-end (S8, M6)")
    for transformer, seen in sorted(by_transformer.items()):
        members = len(fleet.topology.meters_of_transformer(transformer))
        gasps, restores = seen["outage"], seen["restore"]
        first = min((e.meter_time for e in gasps), default=None)
        arrival = max((e.time - e.meter_time for e in gasps), default=0)
        console.print(
            f"  transformer {transformer} (feeder {fleet.topology.transformer_feeder[transformer]},"
            f" {members} customers): {len(gasps)} Last Gasp alarms"
            + (f" from {_jst(first)}, all within {arrival:.0f} simulated s" if gasps else "")
            + f"; {len(restores)} restore reports"
            + (f" at {_jst(min(e.meter_time for e in restores))}" if restores else "")
            + (f"; {members - len(gasps)} meter(s) without Last Gasp stayed silent"
               if members > len(gasps) else ""))
    failures = [e for e in hes.events if e.kind not in ("outage", "restore")]
    if failures:
        kinds = sorted({e.kind for e in failures})
        console.print(f"  other head-end events: {len(failures)} ({', '.join(kinds)})")


def _print_commands(console: Console, fleet: Fleet, commands: list[Command], events) -> None:
    grid = Table(title="Commands (S9, M4, M7, M8): each with a correlation id")
    for column in ("correlation id", "command", "meters", "status", "confirmed", "failed"):
        grid.add_column(column)
    for command in commands:
        info = command.summary()
        grid.add_row(command.correlation_id[:8], str(command.kind), str(info["meters"]),
                     str(command.status), str(info["confirmed"]), str(info["failed"]))
    console.print(grid)
    executed = [e for e in events if e.kind is EventKind.RESERVATION_EXECUTED]
    if executed:
        console.print(f"  ampere reservation executed on {len(executed)} meters at "
                      f"{_jst(executed[0].time)} ({executed[0].value} A), in the meters' logs")
        _print_breakers(console, fleet, executed, events)


def _print_breakers(console: Console, fleet: Fleet, executed: list, events) -> None:
    """What the lower limit caused: trips, re-closes, lockouts, breakers left open (M7)."""
    reserved = {e.meter_id for e in executed}
    since = min(e.time for e in executed)
    counts = breaker_counts([e for e in events if e.meter_id in reserved and e.time >= since])
    left_open = sorted(m for m in reserved if fleet.meter(fleet.index_of(m)).breaker_locked)
    breaker = fleet.config.breaker
    console.print(
        f"  after it: {counts['tripped_meters']} of {len(reserved)} meters drew more than "
        f"{executed[0].value} A — {counts['trips']} breaker trips, {counts['recloses']} "
        f"automatic re-closes after {breaker.reclose_seconds} s, {counts['lockouts']} lockouts "
        f"({breaker.lockout_trips} trips within {breaker.lockout_window_seconds} s lock the "
        f"breaker until a remote reset); {counts['resets']} reset; {len(left_open)} "
        "meter(s) left open at 24:00" + (f" ({', '.join(map(str, left_open[:5]))}"
                                        f"{'…' if len(left_open) > 5 else ''}: no reset_breaker "
                                        "was sent)" if left_open else ""))


def breaker_counts(events) -> dict[str, int]:
    """Trips, re-closes, lockouts, resets among ``events``, and the meters that tripped."""
    kinds = [e.kind for e in events]
    return {"trips": kinds.count(EventKind.BREAKER_TRIP),
            "recloses": kinds.count(EventKind.BREAKER_RECLOSE),
            "lockouts": kinds.count(EventKind.BREAKER_LOCKOUT),
            "resets": kinds.count(EventKind.BREAKER_RESET),
            "tripped_meters": len({e.meter_id for e in events
                                   if e.kind is EventKind.BREAKER_TRIP})}


def _print_readings(console: Console, table: pa.Table, groups: FiveMinuteGroups,
                    handed_at: list[float], batches: list[pa.Table]) -> None:
    summary = BatchSummary()
    summary.add(table)
    data = summary.as_dict()
    console.print(f"\n[bold]Readings delivered to the sink: {data['rows']:,}")
    console.print(
        f"  5-minute groups (S3): {len(groups.realtime)} real-time meters every 5 minutes, "
        f"{len(groups.historical)} historical meters for the whole day; "
        f"{data['channels'].get('120', {}).get('rows', 0):,} 5-minute intervals")
    meter, end, arrived = _five_minute_arrivals(batches, handed_at)
    realtime = on_time_share(groups.realtime, meter, end, arrived, _at(0) + 300, _at(24),
                             REALTIME_WITHIN_S)
    historical = on_time_share(groups.historical, meter, end, arrived, _at(0) + 300,
                               _at(24), HISTORICAL_WITHIN_S)
    console.print(f"  real-time group: {_pct(realtime)} of its 5-minute values within "
                  f"{REALTIME_WITHIN_S // 60} minutes; historical group: {_pct(historical)} "
                  f"of the day's within {HISTORICAL_WITHIN_S // 86400} days (S3)")
    volts = data["voltage"]["100V"]
    if volts["within_band_share"] is not None:
        console.print(f"  voltage within 101±6 V: {volts['within_band_share']:.2%} of "
                      f"{volts['values']:,} 5-minute values")
    console.print(f"  energy collected: import {data['energy_kwh']['import']:,.1f} kWh, "
                  f"export {data['energy_kwh']['export']:,.1f} kWh")


_FIVE_MINUTE_IMPORT = [code for code, info in CHANNELS.items()
                       if info.quantity is Quantity.ACTIVE_IMPORT and info.period is Period.MIN5]


def _five_minute_arrivals(batches: list[pa.Table], handed_at: list[float]
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(meter, interval end, system-clock moment the head-end handed it over) of every
    5-minute active-import value delivered, one row per value (its first delivery)."""
    parts = []
    for batch, at in zip(batches, handed_at, strict=True):
        keep = np.isin(batch.column("channel").to_numpy(), _FIVE_MINUTE_IMPORT)
        if keep.any():
            parts.append((batch.column("meter_id").to_numpy()[keep],
                          batch.column("interval_end").cast(pa.int64()).to_numpy()[keep],
                          np.full(int(keep.sum()), at)))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    meter, end, arrived = (np.concatenate(c) for c in zip(*parts, strict=True))
    return meter, end, arrived


def _print_network(console: Console, system: ARoute) -> None:
    """What carries the DLMS bytes: the mesh's concentrators and routes, or loopback."""
    if not system.field_areas:
        return
    hops = np.concatenate([np.fromiter(a.hops.values(), np.int64) for a in system.field_areas])
    area = system.field_areas[0]
    console.print(
        f"  {len(system.field_areas)} concentrator(s), routes of 1–{hops.max()} hops "
        f"(median {np.median(hops):.0f}), link frame error rate {area.per:.0%}, "
        f"{area.medium.retries} MAC retries; the head-end runs {system.headend.config.per_cell} "
        "sessions at a time per concentrator (smame.fan, default.yaml)")


def _print_field(console: Console, system: ARoute) -> None:
    """How hard the mesh worked for the day, and what it lost."""
    if not system.field_areas:
        return
    attempts = sum(a.attempts for a in system.field_areas)
    lost = sum(a.lost for a in system.field_areas)
    busy = max(a.channel_busy_s for a in system.field_areas)
    console.print(f"  over the mesh: {attempts:,} frame attempts, {lost:,} transfers lost "
                  f"after their MAC retries; busiest concentrator channel "
                  f"{busy / 86400:.2%} of the day")


async def _show_broute(console: Console, fleet: Fleet, table: pa.Table) -> None:
    """A HEMS reads one meter over ECHONET Lite (B-route), against what the A-route got."""
    meter = fleet.meter(5)
    node = Node([SmartMeterObject(meter)], serial=meter.meter_id)
    endpoint = await open_udp_node(node, "127.0.0.1", 0, multicast=False)
    client_side = UdpTransport("127.0.0.1", endpoint.address[1])
    hems = await client_side.open(("127.0.0.1", 0))
    try:
        power = await hems.instantaneous_power()
        register, kwh_per_unit = await hems.cumulative_energy()
        now = fleet.minute
        series: dict = {}
        await hems.refill(series, now)  # the HEMS's 1-minute series of the last hour
        for lost in (now - 4, now - 17, now - 33):  # it missed three readings…
            series.pop(lost, None)
        refilled = await hems.refill(series, now)  # …and fetches them again
    finally:
        client_side.close()
        endpoint.close()
    registers = table.filter(pc.and_(
        pc.equal(table.column("meter_id"), meter.meter_id),
        pc.equal(table.column("channel"), channel_code(Quantity.ACTIVE_IMPORT, Period.REGISTER))))
    a_route = registers.column("value")[-1].as_py() if registers.num_rows else None
    console.print(f"\n[bold]B-route: a HEMS reads meter {meter.meter_id} over ECHONET Lite "
                  "(0x028801)")
    console.print(f"  E7 instantaneous power {power} W; E0 cumulative energy {register:,} × "
                  f"{kwh_per_unit:g} kWh = {register * kwh_per_unit:,.2f} kWh "
                  f"(the A-route register at 24:00: {a_route:,}"
                  f"{' — the same' if a_route == register else ''})")
    console.print(f"  1-minute readings EE/EF: {len(series)} of the last 60 minutes held; "
                  f"refilled minute(s) {[_jst(m * 60)[:5] for m in refilled]} from the meter's "
                  "60-minute store (M3)")


def _print_mdms(console: Console, mdms: Mdms, sink: MdmsSink) -> None:
    """The MDMS side: what was ingested and validated, the estimates, settlement (S1, S4)."""
    closed = mdms.close_day(DEMO_DAY)
    settlement = mdms.settle(DEMO_DAY)
    console.print("\n[bold]MDMS: ingest, VEE and settlement (S1, S4, S5)")
    console.print(f"  {sink.batches} batches from the head-end, {sink.rows:,} readings; "
                  f"validated as they arrived; day close estimated {closed.estimated} values "
                  f"({closed.replaced_failed} replacing failed ones)")
    grid = Table(title=f"30-minute settlement sums, {DEMO_DAY.isoformat()} "
                 "(input to 計画値同時同量 / imbalance settlement)")
    for column in ("retailer", "meters", "import kWh", "peak slot kW", "export kWh",
                   "estimated share"):
        grid.add_column(column, justify="right")
    rows = settlement.retailers.to_pylist()
    by_party: dict[str, list[dict]] = {}
    for row in rows:
        by_party.setdefault(row[settlement.retailers.column_names[0]], []).append(row)
    for party, slots in sorted(by_party.items()):
        imported = sum(r["import_wh"] for r in slots) / 1000
        estimated = sum(r["import_estimated_wh"] for r in slots) / 1000
        grid.add_row(party, str(max(r["meters"] for r in slots)), f"{imported:,.1f}",
                     f"{max(r['import_wh'] for r in slots) / 500:,.1f}",
                     f"{sum(r['export_wh'] for r in slots) / 1000:,.1f}",
                     f"{estimated / imported:.2%}" if imported else "–")
    console.print(grid)
    data = DataService(mdms, mdms.clock)
    electric = [m for m in data.view.meters.values() if m.kind == "electric"]
    retail = [data.retail_values(m, Quantity.ACTIVE_IMPORT, Period.MIN30, _at(0), _at(24))
              for m in electric]
    per_meter = sorted({len(r) for r in retail if r is not None})
    console.print(f"  retailers' 30-minute values (S4): {'/'.join(map(str, per_meter))} slots "
                  f"per meter; settlement {len({r['slot'] for r in rows})} slots")
