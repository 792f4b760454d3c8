"""The whole A-route on one machine: a fleet served over DLMS/COSEM, collected by the head-end.

Two networks carry the same DLMS bytes between the real head-end and the meters' DLMS
servers: ``"tcp"``, where meters listen on loopback TCP ports and push over UDP, and
``"mesh"``, the per-packet multi-hop 920 MHz model of :mod:`smame.fan` (frames, hops, MAC
retries, losses, the concentrator's shared channel) paced on the same clock. The head-end
collects them on its schedule and runs commands. Everything shares one accelerated
clock, so a simulated day takes ``86400 / speed`` seconds. The demo and the system tests
drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smame.clock import AcceleratedClock, from_epoch
from smame.dlms import DEMO_KEYS, MeterEndpoint, PushScheduler, PushSender, serve_meter
from smame.dlms.obis import INTERVAL_PUSH, LAST_GASP_PUSH
from smame.fan.config import load_config
from smame.fan.field import FieldTransport, field_areas, push_through
from smame.fan.mesh import FieldArea
from smame.fan.paced import PacedEvents
from smame.fan.radio import area_depth, hop_depths, medium_for
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.keystore import KeyStore, MasterKey
from smame.hes.registry import Registry
from smame.hes.session import Endpoint, Transport
from smame.hes.sinks import ReadingSink
from smame.meter import Fleet, MeterEvent

__all__ = ["NETWORKS", "ARoute", "running_a_route"]

NETWORKS = ("mesh", "tcp")
"""How the head-end reaches the meters: the multi-hop field-network model, or loopback TCP."""

MESH_ANSWER_TIMEOUT_S = 120.0
"""Simulated seconds the head-end waits for a meter's answer over the mesh before it takes
the request as lost. A fleet advanced in 5-minute windows releases a window's interval
pushes together, and a few hundred pushes hold the concentrator's channel for tens of
seconds; a session's frames queue behind them."""

PushSend = Callable[[int, str, bytes], None]
"""Send one meter's push APDU (meter id, push destination, APDU)."""


@dataclass
class ARoute:
    """A running fleet, its meter servers and the head-end collecting them."""

    fleet: Fleet
    clock: AcceleratedClock
    headend: HeadEnd
    meter_events: list[MeterEvent] = field(default_factory=list)
    pushes_sent: int = 0
    network: str = "tcp"
    field_areas: list[FieldArea] = field(default_factory=list)
    """The concentrator areas the head-end reaches the meters through (``"mesh"``)."""
    fleet_step_s: int | None = None
    """Advance the fleet in windows of this many seconds, each starting on a multiple of
    it, so what it simulates does not depend on how the clock's ticks fall (None: up to
    the clock at every tick)."""

    async def drive(self, until: float, tick_seconds: float = 0.02,
                    schedulers: list[PushScheduler] | None = None,
                    send: PushSend | None = None) -> None:
        """Advance the fleet with the clock and send the pushes that fall due."""
        while True:
            now = min(self.clock.time(), until)
            self.advance_fleet(now)
            self.meter_events.extend(self.fleet.events.drain())
            for scheduler in schedulers or ():
                for destination, apdu in scheduler.due():
                    send(scheduler.endpoint.meter.meter_id, destination, apdu)
                    self.pushes_sent += 1
            if now >= until:
                return
            await asyncio.sleep(tick_seconds)

    def advance_fleet(self, now: float) -> None:
        """Run the fleet up to ``now`` (in :attr:`fleet_step_s` windows if set)."""
        if self.fleet_step_s is None:
            self.fleet.run_until(now)
            return
        step = self.fleet_step_s
        while self.fleet.time + step <= now:
            self.fleet.run_until((self.fleet.time // step + 1) * step)

    async def at(self, moment: float, action: Callable[[], object]) -> object:
        """Run ``action`` when the clock reaches ``moment`` (POSIX s)."""
        await self.clock.sleep(moment - self.clock.time())
        result = action()
        if asyncio.iscoroutine(result):
            result = await result
        return result


@contextlib.asynccontextmanager
async def running_a_route(
    fleet: Fleet,
    speed: float,
    sink: ReadingSink,
    work_dir: Path,
    config: HesConfig | None = None,
    groups: FiveMinuteGroups | None = None,
    push_window: int = 0,
    fleet_step_s: int | None = None,
    network: str = "tcp",
    mesh_seed: int = 0,
) -> AsyncIterator[tuple[ARoute, Callable[[float], asyncio.Task]]]:
    """Serve every meter of ``fleet`` and start a head-end; yields the system and a function
    that starts driving the fleet up to a given time. ``push_window``: the meters' interval
    push randomisation window, seconds (keep it under the head-end's ``push_grace_seconds``);
    ``fleet_step_s``: see :attr:`ARoute.fleet_step_s`; ``network``: one of
    :data:`NETWORKS`; ``mesh_seed``: the mesh's routes and frame losses."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {network!r}")
    keystore = KeyStore(work_dir / "hes-keys.db", MasterKey(bytes(32)))
    keystore.put_many({int(m): DEMO_KEYS for m in fleet.meter_ids})
    endpoints = [MeterEndpoint(fleet.meter(row), DEMO_KEYS, push_randomisation=push_window)
                 for row in range(fleet.n)]
    if network == "mesh":
        clock = AcceleratedClock(from_epoch(fleet.time), speed)
        opened = _over_mesh(fleet, endpoints, clock, mesh_seed)
    else:
        opened = await _over_tcp(fleet, endpoints)
        clock = AcceleratedClock(from_epoch(fleet.time), speed)  # once every meter listens
    headend = HeadEnd(Registry(opened.registry), keystore, sink, clock, config, groups,
                      transport=opened.transport)
    try:
        send = await opened.pushes_to(headend, endpoints)
        system = ARoute(fleet, clock, headend, fleet_step_s=fleet_step_s, network=network,
                        field_areas=opened.areas)
        schedulers = [PushScheduler(e) for e in endpoints]

        def drive(until: float) -> asyncio.Task:
            return asyncio.create_task(system.drive(until, schedulers=schedulers, send=send))

        yield system, drive
    finally:
        opened.close()
        keystore.close()


@dataclass
class _Network:
    """The meters' side of one network: what the registry holds, the head-end's transport,
    how pushes reach it, and how to close it all."""

    registry: list[Endpoint]
    transport: Transport | None
    pushes_to: Callable[[HeadEnd, list[MeterEndpoint]], Awaitable[PushSend]]
    close: Callable[[], None]
    areas: list[FieldArea] = field(default_factory=list)


async def _over_tcp(fleet: Fleet, endpoints: list[MeterEndpoint]) -> _Network:
    """Each meter's DLMS server on a loopback TCP port; pushes as UDP datagrams."""
    servers, registry = [], []
    for row, endpoint in enumerate(endpoints):
        server = await serve_meter(endpoint, "127.0.0.1", 0)
        servers.append(server)
        meter = fleet.meter(row)
        registry.append(Endpoint(meter.meter_id, "127.0.0.1",
                                 server.sockets[0].getsockname()[1],
                                 cell=f"feeder-{meter.feeder}-tx-{meter.transformer // 8}",
                                 unit_exponent=meter.unit_exponent))
    closing: list[Callable[[], None]] = [server.close for server in servers]

    async def pushes_to(headend: HeadEnd, endpoints: list[MeterEndpoint]) -> PushSend:
        udp = await headend.listen("127.0.0.1", 0)
        destination = f"127.0.0.1:{udp.get_extra_info('sockname')[1]}"
        for endpoint in endpoints:
            endpoint.push_destinations.update({INTERVAL_PUSH: destination,
                                               LAST_GASP_PUSH: destination})
        sender = await PushSender.open("127.0.0.1")
        closing[:0] = [sender.close, udp.close]
        return lambda _meter, to, apdu: sender.send(to, apdu)

    def close() -> None:
        for step in closing:
            step()

    return _Network(registry, None, pushes_to, close)


def _over_mesh(fleet: Fleet, endpoints: list[MeterEndpoint], clock: AcceleratedClock,
                     seed: int) -> _Network:
    """The meters behind concentrators of the default multi-hop area (``smame.fan``
    ``default.yaml``: its meters per concentrator, routing depth and link error rate), the
    frames paced on ``clock``."""
    config = load_config()
    m = config.multihop
    rng = np.random.default_rng([seed, 920])
    per_area = int(m.meters_per_concentrator.mean)
    concentrator = np.arange(fleet.n) // per_area
    hops = np.empty(fleet.n, np.int64)
    for k in np.unique(concentrator):
        rows = np.flatnonzero(concentrator == k)
        depth = int(area_depth(np.array([rows.size]), m.hops_at_500, m.max_hops)[0])
        hops[rows] = hop_depths(rng, rows.size, depth)
    events = PacedEvents(clock)
    area_of = field_areas(events, medium_for(config, "multihop"), fleet.meter_ids, hops,
                          m.link_per, rng, concentrator)
    registry = [Endpoint(int(meter_id), "field", 0, cell=f"concentrator-{concentrator[row]}",
                         unit_exponent=fleet.meter(row).unit_exponent)
                for row, meter_id in enumerate(fleet.meter_ids)]
    by_id = {int(m): e for m, e in zip(fleet.meter_ids, endpoints, strict=True)}

    async def pushes_to(headend: HeadEnd, endpoints: list[MeterEndpoint]) -> PushSend:
        for endpoint in endpoints:
            endpoint.push_destinations.update({INTERVAL_PUSH: "field:1",
                                               LAST_GASP_PUSH: "field:1"})
        return lambda meter, _to, apdu: push_through(area_of[meter], meter, apdu,
                                                     headend.receive_push)

    areas = list({id(a): a for a in area_of.values()}.values())
    return _Network(registry, FieldTransport(area_of, by_id, MESH_ANSWER_TIMEOUT_S), pushes_to,
                    events.close, areas)
