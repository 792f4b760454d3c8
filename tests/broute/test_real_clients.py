"""Unchanged HEMS software against ``smame broute serve`` and ``smame broute dongle``.

pychonet 2.8.2 (behind Home Assistant's ECHONET Lite integration) binds 0.0.0.0:3610 and
sends to port 3610 of the device, so the node runs on 127.0.0.2:3610: both sockets set
SO_REUSEADDR and the kernel delivers to the more specific address. pychonet is given
``local_ip="127.0.0.1"`` so its multicast membership stays on the loopback interface.
momonga 0.7.0 opens the dongle's pty as a serial port; ``internal_xmit_interval`` (its
public pause between requests, 5 s by default for real radios) is set to 0.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from momonga import Momonga, MomongaSkJoinFailure
from pychonet import ECHONETAPIClient, LowVoltageSmartElectricEnergyMeter
from pychonet.lib.udpserver import UDPServer

from smame.clock import SimulatedClock
from smame.echonet.client import UdpTransport
from smame.echonet.live import LiveMeter

from .conftest import PASSWORD, RBID

START = "2026-07-02T10:07:05"  # JST; speed 0.01 keeps the meter inside this minute
FLEET = ["--meters", "3", "--seed", "5", "--speed", "0.01", "--start", START]


def _expected() -> LiveMeter:
    return LiveMeter.build(SimulatedClock(datetime.fromisoformat(START + "+09:00")),
                           meters=3, seed=5, history_days=1)


def test_pychonet_reads_power_and_energy_over_udp(smame) -> None:
    assert "udp://127.0.0.2:3610" in smame("serve", "--host", "127.0.0.2")
    expected = _expected().meter
    host = "127.0.0.2"

    async def main() -> dict:
        udp = UDPServer(local_ip="127.0.0.1")
        udp.run("0.0.0.0", 3610, loop=asyncio.get_running_loop())
        api = ECHONETAPIClient(udp)
        api.configure(logger=lambda *args: None)
        try:
            # What the integration's config flow does: discover, maps, identification.
            assert await api.discover(host)
            assert api.state[host]["discovered"]
            assert list(api.state[host]["instances"][0x02]) == [0x88]
            assert await api.getAllPropertyMaps(host, 0x02, 0x88, 0x01)
            assert await api.getIdentificationInformation(host, 0x02, 0x88, 0x01)
            meter = LowVoltageSmartElectricEnergyMeter(host, api)
            return await meter.update([0xE7, 0xE0, 0xE1, 0xD3, 0xE8])
        finally:
            udp.close()

    values = asyncio.run(main())
    assert values[0xE7] == round(expected.instantaneous().power_w)
    assert values[0xE0] == expected.import_register
    assert values[0xE1] == 0.01
    assert values[0xD3] == 1
    assert set(values[0xE8]) == {"r_phase_amperes", "t_phase_amperes"}


@pytest.mark.parametrize("model", ["bp35a1", "bp35c2"])
def test_momonga_reads_through_the_dongle(smame, tmp_path, model) -> None:
    link = tmp_path / "ttyWISUN"
    smame("dongle", "--link", str(link), "--model", model, "--rbid", RBID,
          "--password", PASSWORD)
    expected = _expected().meter
    mo = Momonga(RBID, PASSWORD, str(link))
    mo.internal_xmit_interval = 0
    with mo:
        power = mo.get_instantaneous_power()
        energy = mo.get_measured_cumulative_energy()
        one_minute = mo.get_one_minute_measured_cumulative_energy()
    assert power == round(expected.instantaneous().power_w)
    assert energy == pytest.approx(expected.import_register * 0.01)
    assert one_minute["cumulative energy"]["normal direction"] == pytest.approx(energy)


def test_momonga_wrong_password_fails_the_join(smame, tmp_path) -> None:
    link = tmp_path / "ttyWISUN"
    smame("dongle", "--link", str(link), "--rbid", RBID, "--password", PASSWORD)
    mo = Momonga(RBID, "NOTTHEPASSWD", str(link), join_retries=1)
    mo.internal_xmit_interval = 0
    with pytest.raises(MomongaSkJoinFailure):
        mo.open()


def test_pychonet_receives_the_inf_when_another_controller_sets_0x81(smame) -> None:
    smame("serve", "--host", "127.0.0.2")
    host = "127.0.0.2"

    async def main() -> tuple[list[bool], object]:
        udp = UDPServer(local_ip="127.0.0.1")
        udp.run("0.0.0.0", 3610, loop=asyncio.get_running_loop())
        api = ECHONETAPIClient(udp)
        api.configure(logger=lambda *args: None)
        pushed = asyncio.Event()
        received: list[bool] = []

        async def on_receive(is_push: bool) -> None:
            received.append(is_push)
            if is_push:
                pushed.set()

        transport = UdpTransport(host)
        other = await transport.open(("127.0.0.1", 0))
        try:
            assert await api.discover(host)
            assert await api.getAllPropertyMaps(host, 0x02, 0x88, 0x01)
            api.register_async_receive_callbacks(host, 0x02, 0x88, 0x01, on_receive)
            await other.set({0x81: b"\x08"})  # another HEMS moves the meter
            await asyncio.wait_for(pushed.wait(), 10)
            return received, api._state[host]["instances"][0x02][0x88][0x01].get(0x81)
        finally:
            transport.close()
            udp.close()

    received, location = asyncio.run(main())
    assert received == [True]  # pychonet got an unsolicited frame from the meter object
    assert location == b"\x08"  # pychonet never read 0x81: the value came with the INF
