"""The head-end's DLMS client against the meter's server, over real TCP (SPEC S1, S2, M4–M8)."""

import asyncio

import pytest

from smame.dlms import DEMO_KEYS, MeterKeys
from smame.hes import operations as ops
from smame.hes.commands import CommandError, TransientError
from smame.hes.session import DlmsRefusedError, open_session
from tests.hes.support import CLIENT_TITLE, make_fleet, served


def run(coro):
    return asyncio.run(coro)


def test_reads_match_the_meter():
    fleet = make_fleet()
    meter = fleet.meter(1)

    async def scenario():
        async with served(fleet, range(1, 2)) as (endpoint,):
            session = await open_session(endpoint, DEMO_KEYS, CLIENT_TITLE, first_counter=1)
            clock = await ops.read_clock(session)
            registers = await ops.read_registers(session)
            profile = await ops.read_profile(session, 30, fleet.time - 3 * 3600, fleet.time)
            five = await ops.read_profile(session, 5, fleet.time - 1800, fleet.time)
            minute = await ops.read_profile(session, 1, fleet.time - 600, fleet.time)
            now = await ops.read_instantaneous(session)
            await session.release()
            await session.close()
            return clock, registers, profile, five, minute, now

    clock, registers, profile, five, minute, now = run(scenario())
    assert clock == meter.time
    assert registers == {"imp": meter.import_register, "exp": meter.export_register,
                         "rea": meter.reactive_register}
    stored = meter.stored(30, fleet.time - 3 * 3600, fleet.time)
    assert [r.end for r in profile] == [int(b) * 60 for b in stored.boundaries]
    assert [r.imp for r in profile] == stored.values["imp"][0].tolist()
    stored5 = meter.stored(5, fleet.time - 1800, fleet.time)
    assert [r.decivolts for r in five] == stored5.values["volt"][0].tolist()
    assert [r.rea for r in five] == stored5.values["rea"][0].tolist()
    assert len(minute) == 11
    assert now["power_w"] == pytest.approx(meter.instantaneous().power_w, abs=1)
    assert now["voltage_v"] == pytest.approx(meter.instantaneous().voltage_v, abs=0.1)


def test_commands_change_the_meter():
    fleet = make_fleet()
    meter = fleet.meter(0)
    at = fleet.time + 3600
    clock_error = meter.time - fleet.time
    assert clock_error != 0

    async def scenario():
        async with served(fleet, range(0, 1)) as (endpoint,):
            session = await open_session(endpoint, DEMO_KEYS, CLIENT_TITLE, first_counter=1)
            await ops.set_limit(session, 40)
            assert meter.limit_a == 40
            first = await ops.reserve_limit(session, at, 20)
            second = await ops.reserve_limit(session, at + 1800, 30)
            assert [r.id for r in meter.reservations()] == [first["id"], second["id"]]
            listed = await ops.list_reservations(session)
            assert [r["amps"] for r in listed] == [20, 30]
            await ops.cancel_reservation(session, second["id"])
            assert [r.id for r in meter.reservations()] == [first["id"]]
            with pytest.raises(CommandError, match="no pending reservation"):
                await ops.cancel_reservation(session, 999)
            await ops.disconnect(session)
            assert not meter.connected
            await ops.reconnect(session)
            assert meter.connected
            await ops.set_soft_switch(session, 15)
            assert meter.soft_switch == 15
            error = await ops.clock_sync(session, fleet.time)
            assert meter.time == fleet.time
            with pytest.raises(DlmsRefusedError):
                await ops.set_limit(session, 70)
            await session.close()
            return first, error

    first, error = run(scenario())
    assert error == clock_error
    fleet.advance(61)
    assert meter.limit_a == 20
    assert first["time"] == at


def test_wrong_keys_and_unreachable_meters_fail_cleanly():
    fleet = make_fleet(meters=1)
    wrong = MeterKeys(bytes(16), bytes(16))

    async def scenario():
        async with served(fleet) as (endpoint,):
            with pytest.raises((CommandError, TransientError)):
                await open_session(endpoint, wrong, CLIENT_TITLE, first_counter=1)
            port = endpoint.port
        with pytest.raises(TransientError, match="cannot reach"):
            await open_session(endpoint, DEMO_KEYS, CLIENT_TITLE, first_counter=5, timeout=2)
        return port

    run(scenario())


def test_sessions_go_through_a_replaceable_transport():
    from smame.hes.session import TcpTransport

    class Recording(TcpTransport):
        def __init__(self):
            self.reached = []

        async def connect(self, endpoint):
            self.reached.append(endpoint.meter_id)
            return await super().connect(endpoint)

    fleet = make_fleet(meters=2)
    transport = Recording()

    async def scenario():
        async with served(fleet) as endpoints:
            for endpoint in endpoints:
                session = await open_session(endpoint, DEMO_KEYS, CLIENT_TITLE, 1,
                                             transport=transport)
                await session.close()

    run(scenario())
    assert transport.reached == [int(m) for m in fleet.meter_ids]
