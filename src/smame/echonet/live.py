"""One live meter on the B-route: a small fleet on a clock, its meter's node, the ticks.

Used by ``smame broute serve`` and ``smame broute dongle``. The fleet advances to the
clock's minute before the node looks for announcements due (SPEC M8); the clock is
injected, so tests drive it with a :class:`~smame.clock.SimulatedClock`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smame.clock import Clock
from smame.echonet.edt import JST
from smame.echonet.node import Node, Outgoing
from smame.echonet.smartmeter import SmartMeterObject
from smame.meter import Fleet, FleetConfig, RetentionConfig
from smame.meter.meter import Meter

__all__ = ["RETAINED_DAYS", "LiveMeter", "fleet_start", "parse_start"]

RETAINED_DAYS = RetentionConfig().minute30_days
"""Days of 30-minute values a meter keeps (SPEC M3): what E5 can reach back to."""


def fleet_start(now: datetime, history_days: int) -> datetime:
    """00:00 JST ``history_days`` days before the day of ``now``: the fleet's first minute,
    so the meter's stores hold history when the node starts (SPEC M3)."""
    local = now.astimezone(JST)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=history_days)


@dataclass
class LiveMeter:
    """A fleet, the served meter and its node, advanced by ``clock``."""

    fleet: Fleet
    meter: Meter
    node: Node
    clock: Clock

    @classmethod
    def build(cls, clock: Clock, meters: int = 1, meter_id: int | None = None, seed: int = 0,
              history_days: int | None = None, route_b_id: bytes | None = None
              ) -> LiveMeter:
        """Build a fleet of ``meters`` starting ``history_days`` before the clock's day
        (default: as many as the meter keeps 30-minute values, 45, SPEC M3) and run it to
        the clock's minute. Raises KeyError for an unknown ``meter_id``."""
        if history_days is None:
            history_days = RETAINED_DAYS
        config = FleetConfig(meters=meters, seed=seed,
                             start=fleet_start(clock.now(), history_days))
        fleet = Fleet(config)
        index = 0 if meter_id is None else fleet.index_of(meter_id)
        meter = fleet.meter(index)
        fleet.run_until(clock.time())
        obj = SmartMeterObject(meter, route_b_id=route_b_id)
        return cls(fleet, meter, Node([obj], serial=meter.meter_id), clock)

    def tick(self) -> list[Outgoing]:
        """Advance the fleet to the clock and return the announcements now due."""
        self.fleet.run_until(self.clock.time())
        return self.node.poll()

    async def run(self, send: Callable[[Outgoing], None]) -> None:
        """Tick at every minute of the clock, forever; announcements go to ``send``."""
        while True:
            for out in self.tick():
                send(out)
            now = self.clock.time()
            await self.clock.sleep(60 - now % 60 + 0.001)


def parse_start(text: str) -> datetime:
    """An ISO date or date-time; naive values are JST."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)
