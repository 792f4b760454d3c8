"""The node over UDP on loopback and the dongle over a pty, with smame's own client."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from smame.echonet import ESV, decode
from smame.echonet.client import MinuteReading, UdpTransport
from smame.echonet.live import LiveMeter
from smame.echonet.udp import MULTICAST_GROUP, open_udp_node
from smame.skstack import BP35A1, BP35C2, Coordinator, NodeLink, PtyDongle, WiSunModule
from smame.skstack.client import SkstackError, open_meter

from .conftest import PASSWORD, RBID

HOST = "127.0.0.3"


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((MULTICAST_GROUP, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    struct.pack("=4s4s", socket.inet_aton(MULTICAST_GROUP),
                                socket.inet_aton("127.0.0.1")))
    sock.setblocking(False)
    return sock


def _series(live: LiveMeter, first: int, last: int) -> dict[int, MinuteReading]:
    stored = live.meter.stored(1, first * 60, last * 60)
    imp, exp = stored.values["imp"][0].tolist(), stored.values["exp"][0].tolist()
    return {m: MinuteReading(m, f, r)
            for m, f, r in zip(stored.boundaries.tolist(), imp, exp, strict=True)}


def test_udp_get_refill_and_announcements(live: LiveMeter) -> None:
    async def main() -> None:
        endpoint = await open_udp_node(live.node, HOST, 0)
        port = endpoint.address[1]
        listener = _listener(port)
        transport = UdpTransport(HOST, port)
        client = await transport.open(("127.0.0.1", 0))
        runner = asyncio.get_running_loop().create_task(live.run(endpoint.send))
        try:
            assert endpoint.joined
            register, unit = await client.cumulative_energy()
            assert register == live.meter.import_register
            assert unit == 0.01
            assert await client.instantaneous_power() == round(live.meter.instantaneous().power_w)

            now = live.fleet.time // 60
            truth = _series(live, now - 59, now)
            series = {m: r for m, r in truth.items() if m % 7 and m % 11}  # missed polls
            gaps = sorted(set(truth) - set(series))
            assert await client.refill(series, now) == gaps
            assert series == truth

            live.clock.set(live.clock.time() + 23 * 60)  # past 10:30: the EA announcement
            data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(listener, 2048),
                                          10)
            frame = decode(data)
            assert frame.esv == ESV.INF
            assert frame.epcs == (0xEA, 0xEB)
        finally:
            runner.cancel()
            transport.close()
            endpoint.close()
            listener.close()

    asyncio.run(main())


@pytest.fixture(params=[BP35A1, BP35C2], ids=["bp35a1", "bp35c2"])
def dongle(request, live, background, tmp_path):
    module = WiSunModule(request.param,
                         Coordinator(bytes.fromhex("0013500005F5E101"), RBID, PASSWORD),
                         NodeLink(live.node), bytes.fromhex("001D129012345678"))
    pty = background.call(lambda: PtyDongle(module, tmp_path / "ttyWISUN"))
    background.call(pty.start)
    yield pty
    background.call(pty.close)


def test_pty_join_read_and_refill(dongle, live) -> None:
    async def main() -> None:
        link, client = await open_meter(dongle.path, RBID, PASSWORD)
        try:
            assert link.dual == dongle.module.model.dual
            assert link.reader.binary == (dongle.module.model.default_wopt == 0)
            register, _ = await client.cumulative_energy()
            assert register == live.meter.import_register
            now = live.fleet.time // 60
            truth = _series(live, now - 59, now)
            series = {m: r for m, r in truth.items() if m % 5}
            await client.refill(series, now)
            assert series == truth
        finally:
            link.close()

    asyncio.run(main())


@pytest.mark.parametrize(("rbid", "password", "message"), [
    (RBID, "WRONGPASSWORD", "EVENT 24"),
    ("F" * 32, PASSWORD, "no meter answered the scan"),
])
def test_pty_wrong_credentials(dongle, rbid, password, message) -> None:
    async def main() -> None:
        with pytest.raises(SkstackError, match=message):
            await open_meter(dongle.path, rbid, password)

    asyncio.run(main())
