"""Clients over a long run of the emulated dongle: PANA lifetime, re-authentication, the
meter ending the session, the ARIB STD-T108 transmit limit (EVENT 25–33). The dongle runs
on a simulated clock in a background loop; the test moves that clock, nobody sleeps."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from momonga import Momonga

from smame.echonet.live import LiveMeter
from smame.skstack import BP35A1, BP35C2, Coordinator, NodeLink, PtyDongle, Timing, WiSunModule
from smame.skstack.client import open_meter
from smame.skstack.timing import airtime_s, scan_channel_s

from .conftest import PASSWORD, RBID

GET_SIZE = 14  # a Get of one EPC
DAY = 86400


def _dongle(live: LiveMeter, background, tmp_path, model, sends_per_hour: int | None = None,
            scan: bool = False):
    limit = None if sends_per_hour is None else sends_per_hour * airtime_s(GET_SIZE)
    module = WiSunModule(model, Coordinator(bytes.fromhex("0013500005F5E101"), RBID, PASSWORD),
                         NodeLink(live.node), bytes.fromhex("001D129012345678"),
                         clock=live.clock, timing=Timing(scan=scan, transmit_limit_s=limit))
    pty = background.call(lambda: PtyDongle(module, tmp_path / "ttyWISUN"))
    background.call(pty.start)
    return pty


@pytest.fixture(params=[BP35A1, BP35C2], ids=["bp35a1", "bp35c2"])
def model(request):
    return request.param


def _run_with_link(pty, scenario) -> None:
    """Join through ``pty`` with smame's SKSTACK link and run ``scenario(link, client)``."""
    async def main() -> None:
        link, client = await open_meter(pty.path, RBID, PASSWORD)
        try:
            await scenario(link, client)
        finally:
            link.close()

    asyncio.run(main())


def test_own_client_rides_out_expiry_and_a_meter_ended_session(live, background, tmp_path,
                                                                model) -> None:
    pty = _dongle(live, background, tmp_path, model)
    module = pty.module
    power = round(live.meter.instantaneous().power_w)

    async def scenario(link, client) -> None:
        assert await client.instantaneous_power() == power
        background.call(live.clock.advance, DAY)  # EVENT 29, then 25 (S17 = 1)
        assert await client.instantaneous_power() == power
        assert module.authentications == 2
        background.call(module.meter_terminates)  # EVENT 26
        background.call(pty.flush)
        assert await client.instantaneous_power() == power
        assert link.rejoins == 1
        assert module.authentications == 3

    try:
        _run_with_link(pty, scenario)
    finally:
        background.call(pty.close)


def test_own_client_holds_its_sends_while_the_transmit_limit_holds(live, background, tmp_path,
                                                                   model) -> None:
    pty = _dongle(live, background, tmp_path, model, sends_per_hour=2)
    power = round(live.meter.instantaneous().power_w)

    async def scenario(link, client) -> None:
        assert await client.instantaneous_power() == power
        assert await client.instantaneous_power() == power
        third = asyncio.create_task(client.instantaneous_power())
        await asyncio.wait_for(link.transmit_limited.wait(), 10)  # EVENT 32
        assert not third.done()
        background.call(live.clock.advance, 3600)  # EVENT 33
        assert await asyncio.wait_for(third, 10) == power
        assert not link.transmit_limited.is_set()

    try:
        _run_with_link(pty, scenario)
    finally:
        background.call(pty.close)


def _momonga(pty) -> Momonga:
    mo = Momonga(RBID, PASSWORD, pty.path)
    mo.internal_xmit_interval = 0
    return mo


def test_momonga_reads_across_session_expiry(live, background, tmp_path, model) -> None:
    pty = _dongle(live, background, tmp_path, model)
    try:
        with _momonga(pty) as mo:
            first = mo.get_instantaneous_power()
            background.call(live.clock.advance, DAY)
            background.call(pty.flush)
            second = mo.get_instantaneous_power()
    finally:
        background.call(pty.close)
    assert first == second == round(live.meter.instantaneous().power_w)
    assert pty.module.authentications == 2


def test_momonga_waits_out_the_transmit_limit(live, background, tmp_path) -> None:
    # momonga's open reads E1 and D3: with the first read, three sends fit in the hour
    pty = _dongle(live, background, tmp_path, BP35A1, sends_per_hour=3)
    module = pty.module

    async def restricted() -> None:
        while module.restricted_until is None:
            pty.activity.clear()
            await pty.activity.wait()

    try:
        with _momonga(pty) as mo, ThreadPoolExecutor(1) as pool:
            first = mo.get_instantaneous_power()
            second = pool.submit(mo.get_instantaneous_power)
            background.run(restricted(), timeout=30)  # momonga's send met EVENT 32
            assert not second.done()
            background.call(live.clock.advance, 3600)  # EVENT 33 reopens momonga's gate
            assert second.result(60) == first
    finally:
        background.call(pty.close)
    assert module.restricted_until is None


def test_momonga_waits_for_a_scan_of_real_length(live, background, tmp_path) -> None:
    pty = _dongle(live, background, tmp_path, BP35C2, scan=True)
    module = pty.module

    async def scanning() -> None:
        while not module.scanning:
            pty.activity.clear()
            await pty.activity.wait()

    started = live.clock.time()
    try:
        with ThreadPoolExecutor(1) as pool:
            opened = pool.submit(_momonga(pty).open)
            background.run(scanning(), timeout=30)
            assert not opened.done()  # no EVENT 22 before the channels are scanned
            background.call(live.clock.advance, 28 * scan_channel_s(6))
            mo = opened.result(60)
            try:
                assert mo.get_instantaneous_power() == round(live.meter.instantaneous().power_w)
            finally:
                mo.close()
    finally:
        background.call(pty.close)
    assert live.clock.time() - started == pytest.approx(17.472)  # momonga's 17.5 s
