"""Meters served over real TCP on loopback, for head-end tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from smame.dlms import DEMO_KEYS, MeterEndpoint, serve_meter
from smame.hes.session import Endpoint
from smame.meter import Fleet, FleetConfig
from tests.conftest import jst

CLIENT_TITLE = b"SMMHES01"


def make_fleet(meters: int = 4, hours: int = 6, seed: int = 21) -> Fleet:
    fleet = Fleet(FleetConfig(meters=meters, start=jst(2026, 7, 1), seed=seed,
                              transformer_outages_per_year=0.0, feeder_outages_per_year=0.0))
    fleet.advance(hours * 60)
    return fleet


@contextlib.asynccontextmanager
async def served(fleet: Fleet, rows: range | None = None) -> AsyncIterator[list[Endpoint]]:
    """Serve meters of ``fleet`` on free loopback ports; yields their endpoints."""
    servers, endpoints = [], []
    for row in rows if rows is not None else range(fleet.n):
        meter = fleet.meter(row)
        server = await serve_meter(MeterEndpoint(meter, DEMO_KEYS), "127.0.0.1", 0)
        servers.append(server)
        endpoints.append(Endpoint(meter.meter_id, "127.0.0.1",
                                  server.sockets[0].getsockname()[1], cell=f"cell-{row % 2}"))
    try:
        yield endpoints
    finally:
        for server in servers:
            server.close()
        await asyncio.gather(*(s.wait_closed() for s in servers))
