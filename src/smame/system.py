"""The whole A-route on one machine: a fleet served over DLMS/COSEM, collected by the head-end.

Meters listen on loopback TCP ports and push over UDP; the head-end collects them on its
schedule and runs commands. Everything shares one accelerated clock, so a simulated day
takes ``86400 / speed`` seconds. The demo and the system tests drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from smame.clock import AcceleratedClock, from_epoch
from smame.dlms import DEMO_KEYS, MeterEndpoint, PushScheduler, PushSender, serve_meter
from smame.dlms.obis import INTERVAL_PUSH, LAST_GASP_PUSH
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.keystore import KeyStore, MasterKey
from smame.hes.registry import Registry
from smame.hes.session import Endpoint
from smame.hes.sinks import ReadingSink
from smame.meter import Fleet, MeterEvent

__all__ = ["ARoute", "running_a_route"]


@dataclass
class ARoute:
    """A running fleet, its meter servers and the head-end collecting them."""

    fleet: Fleet
    clock: AcceleratedClock
    headend: HeadEnd
    meter_events: list[MeterEvent] = field(default_factory=list)
    pushes_sent: int = 0
    fleet_step_s: int | None = None
    """Advance the fleet in windows of this many seconds, each starting on a multiple of
    it, so what it simulates does not depend on how the clock's ticks fall (None: up to
    the clock at every tick)."""

    async def drive(self, until: float, tick_seconds: float = 0.02,
                    schedulers: list[PushScheduler] | None = None,
                    sender: PushSender | None = None) -> None:
        """Advance the fleet with the clock and send the pushes that fall due."""
        while True:
            now = min(self.clock.time(), until)
            self.advance_fleet(now)
            self.meter_events.extend(self.fleet.events.drain())
            for scheduler in schedulers or ():
                for destination, apdu in scheduler.due():
                    sender.send(destination, apdu)
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
) -> AsyncIterator[tuple[ARoute, Callable[[float], asyncio.Task]]]:
    """Serve every meter of ``fleet`` and start a head-end; yields the system and a function
    that starts driving the fleet up to a given time. ``push_window``: the meters' interval
    push randomisation window, seconds (keep it under the head-end's ``push_grace_seconds``);
    ``fleet_step_s``: see :attr:`ARoute.fleet_step_s`."""
    keystore = KeyStore(work_dir / "hes-keys.db", MasterKey(bytes(32)))
    keystore.put_many({int(m): DEMO_KEYS for m in fleet.meter_ids})
    servers, endpoints, registry_entries = [], [], []
    for row in range(fleet.n):
        endpoint = MeterEndpoint(fleet.meter(row), DEMO_KEYS, push_randomisation=push_window)
        server = await serve_meter(endpoint, "127.0.0.1", 0)
        servers.append(server)
        endpoints.append(endpoint)
        meter = fleet.meter(row)
        registry_entries.append(Endpoint(meter.meter_id, "127.0.0.1",
                                         server.sockets[0].getsockname()[1],
                                         cell=f"feeder-{meter.feeder}-tx-{meter.transformer // 8}",
                                         unit_exponent=meter.unit_exponent))
    registry = Registry(registry_entries)
    clock = AcceleratedClock(from_epoch(fleet.time), speed)  # starts once every meter listens
    headend = HeadEnd(registry, keystore, sink, clock, config, groups)
    udp = await headend.listen("127.0.0.1", 0)
    destination = f"127.0.0.1:{udp.get_extra_info('sockname')[1]}"
    for endpoint in endpoints:
        endpoint.push_destinations.update({INTERVAL_PUSH: destination,
                                           LAST_GASP_PUSH: destination})
    schedulers = [PushScheduler(e) for e in endpoints]
    sender = await PushSender.open("127.0.0.1")
    system = ARoute(fleet, clock, headend, fleet_step_s=fleet_step_s)

    def drive(until: float) -> asyncio.Task:
        return asyncio.create_task(system.drive(until, schedulers=schedulers, sender=sender))

    try:
        yield system, drive
    finally:
        sender.close()
        udp.close()
        for server in servers:
            server.close()
        keystore.close()

