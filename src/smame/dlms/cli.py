"""``smame meter serve``: emulated meters on the A-route, DLMS/COSEM over TCP (SPEC M1–M8).

A fleet runs on an accelerated clock and each meter listens on its own TCP port: meter
*i* (0-based) on ``--port + i``, or on a free port chosen by the system when ``--port``
is 0. Every meter has server SAP 1; the management client is SAP 1 (HLS-GMAC, security
suite 0), the public client SAP 16. ``--manifest`` writes where each meter listens.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from smame.clirun import CliError, console, new_app
from smame.clock import AcceleratedClock, clock_file
from smame.dlms import obis
from smame.dlms.aio import DEFAULT_PORT, PushSender, serve_meter
from smame.dlms.association import MANAGEMENT_SAP, PUBLIC_SAP
from smame.dlms.cosem.control import parse_destination
from smame.dlms.keys import KeyFileError, load_keys
from smame.dlms.push import PushScheduler, logical_device_name
from smame.dlms.security import DEMO_KEYS, MeterKeys
from smame.dlms.server import (
    Associated,
    AssociationRejected,
    MeterEndpoint,
    SecurityFailure,
    ServerEvent,
)
from smame.messages import tr
from smame.meter.config import FleetConfig

__all__ = ["app"]

app = new_app("Emulated next-generation meters on the A-route (DLMS/COSEM).")
MANIFEST_FORMAT = "smame-meter-manifest/1"
EPOCH_2020 = 1_577_836_800
SHOWN = 5  # listening addresses printed; the manifest has them all


@app.callback()
def _meter() -> None:
    """Emulated meters on the A-route (DLMS/COSEM)."""


def _fail(message: str) -> CliError:
    return CliError(message)


@dataclass(frozen=True)
class _Plan:
    meters: int
    host: str
    port: int
    keys: dict[int, MeterKeys] | None  # None: demo keys
    keys_label: str
    speed: float
    seed: int
    manifest: Path | None
    push: str | None
    run_for: float | None
    verbose: bool
    push_window: int = 0
    first_meter_id: int = FleetConfig.first_meter_id
    clock: AcceleratedClock | None = None  # a deployment's shared clock, from --clock


@app.command("serve")
def serve(
    meters: Annotated[int, typer.Option(help="Number of meters to serve.")] = 1,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port of the first meter (0: any free).")] = (
        DEFAULT_PORT),
    keys: Annotated[Path | None, typer.Option(
        help="JSON or CSV file of per-meter keys (meter_id, encryption_key, "
             "authentication_key in hex).")] = None,
    demo_keys: Annotated[bool, typer.Option(
        "--demo-keys", help="Use the Green Book example keys for every meter.")] = False,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Fleet random seed.")] = 0,
    manifest: Annotated[Path | None, typer.Option(
        help="Write a JSON manifest of where each meter listens.")] = None,
    push: Annotated[str | None, typer.Option(
        help="host:port to send interval and Last Gasp pushes to (UDP).")] = None,
    push_window: Annotated[int, typer.Option(
        help="Randomisation window of the interval pushes, seconds (push setup attribute 5): "
             "each meter sends an interval's push within this long after it closes.")] = 0,
    run_for: Annotated[float | None, typer.Option(
        help="Stop after this many real seconds (default: until interrupted).")] = None,
    verbose: Annotated[bool, typer.Option(help="Print associations and security events.")] = (
        False),
    first_meter_id: Annotated[int, typer.Option(
        help="Id of the first meter; the others follow (several servers serve disjoint "
             "ranges).")] = FleetConfig.first_meter_id,
    clock: Annotated[Path | None, typer.Option(
        "--clock", help="Run on the clock this JSON file describes (start, speed, "
                        "wall_origin; as a manifest does) instead of from now at --speed: "
                        "the processes of a deployment then share one time.")] = None,
) -> None:
    """Serve N emulated meters over DLMS/COSEM (IEC 62056-47 wrapper on TCP)."""
    if meters < 1:
        raise _fail(f"--meters must be at least 1, got {meters}")
    if not 1 <= first_meter_id <= 10**12 - meters:
        raise _fail(f"--first-meter-id must be within 1..{10**12 - meters}, got "
                    f"{first_meter_id}")
    if not 0 <= port <= 65535 or (port and port + meters - 1 > 65535):
        raise _fail(f"ports {port}..{port + meters - 1} do not fit in 1..65535")
    if not speed > 0:
        raise _fail(f"--speed must be > 0, got {speed}")
    if run_for is not None and run_for < 0:
        raise _fail("--run-for cannot be negative")
    if not 0 <= push_window <= 0xFFFF:
        raise _fail(f"--push-window must be within 0..65535 s, got {push_window}")
    if push is not None:
        try:
            parse_destination(push)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    if (keys is None) == (not demo_keys):
        raise _fail(tr("give exactly one of --keys FILE or --demo-keys"))
    key_table = None
    if keys is not None:
        try:
            key_table = load_keys(keys, list(range(first_meter_id, first_meter_id + meters)))
        except KeyFileError as exc:
            raise _fail(str(exc)) from None
    shared = _shared_clock(clock) if clock is not None else None
    plan = _Plan(meters, host, port, key_table, "demo" if demo_keys else f"file:{keys}",
                 shared.speed if shared else speed, seed, manifest, push, run_for, verbose,
                 push_window, first_meter_id, shared)
    try:
        asyncio.run(_run(plan))
    except KeyboardInterrupt:
        console.print("stopped")
    except _RunError as exc:
        raise _fail(str(exc)) from None


def _shared_clock(path: Path) -> AcceleratedClock:
    """The clock a --clock file describes, or a one-line error."""
    try:
        return clock_file(path)
    except ValueError as exc:
        raise _fail(f"--clock {path}: {exc}") from None


class _RunError(Exception):
    """A runtime problem reported as one line (port in use, unwritable manifest)."""


def _report(event: ServerEvent, meter_id: int) -> None:
    if isinstance(event, Associated | AssociationRejected | SecurityFailure):
        console.print(f"meter {meter_id}: {event}", highlight=False)


async def _run(plan: _Plan) -> None:
    from smame.meter import Fleet

    # the fleet starts on a whole minute: a shared clock is followed to within a minute
    now = plan.clock.now() if plan.clock is not None else datetime.now(UTC)
    start = now.replace(second=0, microsecond=0)
    try:
        fleet = Fleet(FleetConfig(meters=plan.meters, start=start, seed=plan.seed,
                                  first_meter_id=plan.first_meter_id))
    except ValueError as exc:
        raise _RunError(str(exc)) from None
    clock = AcceleratedClock(start, plan.speed)
    wall_origin = time.time()
    # A restarted server must not reuse counters under the same keys: start from the time.
    first_counter = max(1, int(time.time()) - EPOCH_2020)
    endpoints = []
    for index in range(plan.meters):
        meter = fleet.meter(index)
        meter_keys = DEMO_KEYS if plan.keys is None else plan.keys[meter.meter_id]
        endpoints.append(MeterEndpoint(meter, meter_keys, invocation_counter=first_counter,
                                       push_destination=plan.push,
                                       push_randomisation=plan.push_window))
    sender = await PushSender.open()
    servers: list[asyncio.Server] = []
    try:
        listening = []
        for index, endpoint in enumerate(endpoints):
            port = plan.port + index if plan.port else 0
            meter_id = endpoint.meter.meter_id

            def on_event(event: ServerEvent, meter_id: int = meter_id) -> None:
                if plan.verbose:
                    _report(event, meter_id)

            try:
                server = await serve_meter(endpoint, plan.host, port, push_sender=sender,
                                           on_event=on_event)
            except OSError as exc:
                raise _RunError(f"cannot listen on {plan.host}:{port}: {exc.strerror or exc}"
                               ) from None
            servers.append(server)
            listening.append((endpoint, server.sockets[0].getsockname()[1]))
        _announce(plan, start, wall_origin, listening)
        await _tick(plan, fleet, clock, [PushScheduler(e) for e in endpoints], sender)
    finally:
        for server in servers:
            server.close()
        sender.close()


def _announce(plan: _Plan, start: datetime, wall_origin: float,
              listening: list[tuple[MeterEndpoint, int]]) -> None:
    entries = [{
        "index": endpoint.meter.index,
        "meter_id": endpoint.meter.meter_id,
        "host": plan.host,
        "port": port,
        "server_sap": 1,
        "logical_device_name": logical_device_name(endpoint.meter.meter_id).decode(),
        "system_title": endpoint.security.system_title.hex(),
    } for endpoint, port in listening]
    document = {
        "format": MANIFEST_FORMAT,
        "start": start.isoformat(),
        "speed": plan.speed,
        "wall_origin": wall_origin,  # POSIX time at which the fleet's clock read ``start``
        "seed": plan.seed,
        "keys": plan.keys_label,
        "client_sap": {"management": MANAGEMENT_SAP, "public": PUBLIC_SAP},
        "security": {"mechanism": "HLS-GMAC", "mechanism_id": 5, "security_suite": 0,
                     # where a client learns its first counter, on the public association
                     "invocation_counter": obis.ln_str(obis.MANAGEMENT_INVOCATION_COUNTER)},
        "push": plan.push,
        "push_window_s": plan.push_window,
        "meters": entries,
    }
    if plan.manifest is not None:
        try:
            plan.manifest.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise _RunError(f"cannot write manifest {plan.manifest}: {exc.strerror or exc}"
                           ) from None
    for entry in entries[:SHOWN]:
        console.print(f"meter {entry['meter_id']} listening on {entry['host']}:{entry['port']}",
                      highlight=False)
    if len(entries) > SHOWN:
        console.print(f"… and {len(entries) - SHOWN} more", highlight=False)
    if plan.manifest is not None:
        console.print(f"manifest written to {plan.manifest}", highlight=False)
    console.print(f"serving {len(entries)} meter(s) at {plan.speed:g}x from "
                  f"{start.isoformat()}", highlight=False)


async def _tick(plan: _Plan, fleet, clock, schedulers: list[PushScheduler],
                sender: PushSender) -> None:
    """Advance the fleet with the clock, send due pushes, until ``run_for`` passes."""
    step = min(1.0, max(0.05, 30.0 / plan.speed))
    loop = asyncio.get_running_loop()
    deadline = None if plan.run_for is None else loop.time() + plan.run_for
    while deadline is None or loop.time() < deadline:
        wait = step if deadline is None else max(0.0, min(step, deadline - loop.time()))
        await asyncio.sleep(wait)
        fleet.run_until(clock.time(), sink=lambda _batch: None)
        fleet.events.drain()  # nobody reads the fleet-wide outbox here; meters keep their logs
        for scheduler in schedulers:
            for destination, apdu in scheduler.due():
                sender.send(destination, apdu)


if __name__ == "__main__":
    app()
