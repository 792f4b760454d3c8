"""End to end over real TCP on 127.0.0.1: the dlms-cosem client (``DlmsClient`` with
``TcpTransport`` and ``BlockingTcpIO``) in a worker thread against the asyncio server;
pushes over real UDP (SPEC M1, M3, M5–M8, S14)."""

from __future__ import annotations

import asyncio

from dlms_cosem import enumerations as enums
from dlms_cosem.client import DataResultError
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.time import datetime_from_bytes

from smame.clock import from_epoch
from smame.dlms import (
    DEMO_KEYS,
    MeterEndpoint,
    PushSender,
    open_push,
    parse_interval_push,
    serve_meter,
)
from smame.dlms.wrapper import Frame, WrapperDecoder
from tests.dlms.support import HOST, IC, attr, method, tcp_client, value


async def serving(endpoint: MeterEndpoint, scenario, **kwargs):
    server = await serve_meter(endpoint, HOST, 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    try:
        return await scenario(port)
    finally:
        server.close()
        await server.wait_closed()


def in_thread(function, *args):
    return asyncio.get_running_loop().run_in_executor(None, function, *args)


def test_management_client_reads_clock_registers_and_profile_by_range(endpoint, meter):
    start = from_epoch(meter.fleet.time - 5 * 3600)
    end = from_epoch(meter.fleet.time)
    clock = CaptureObject(attr(IC.CLOCK, "0.0.1.0.0.255", 2))

    def session(port: int) -> dict:
        client = tcp_client(port, 1, max_pdu=256)  # small PDUs: the profile comes in blocks
        with client.session():
            return {
                "clock": client.get(attr(IC.CLOCK, "0.0.1.0.0.255", 2)),
                "import": client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 2)),
                "export": client.get(attr(IC.REGISTER, "1.0.2.8.0.255", 2)),
                "scaler": client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 3)),
                "profile": client.get(
                    attr(IC.PROFILE_GENERIC, "1.0.99.1.0.255", 2),
                    access_descriptor=RangeDescriptor(clock, start, end)),
            }

    read = asyncio.run(serving(endpoint, lambda port: in_thread(session, port)))
    stamp, _status = datetime_from_bytes(bytes(value(read["clock"])))
    assert int(stamp.timestamp()) == meter.time
    assert value(read["import"]) == meter.import_register
    assert value(read["export"]) == meter.export_register
    assert value(read["scaler"]) == [meter.unit_exponent + 3, 30]
    rows = value(read["profile"])
    stored = meter.stored(30, start, end)
    assert len(rows) == stored.boundaries.size == 11
    for k, row in enumerate(rows):
        when, _ = datetime_from_bytes(bytes(row[0]))
        assert int(when.timestamp()) == stored.boundaries[k] * 60
        assert row[1:] == [int(stored.flags[0][k]), int(stored.values["imp"][0][k]),
                           int(stored.values["exp"][0][k])]


def test_public_client_over_tcp(endpoint, meter):
    def session(port: int):
        client = tcp_client(port, 16)
        with client.session():
            name = client.get(attr(IC.DATA, "0.0.42.0.0.255", 2))
            clock = client.get(attr(IC.CLOCK, "0.0.1.0.0.255", 2))
            try:
                client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 2))
            except DataResultError as exc:
                refused = str(exc)
            else:
                refused = ""
        return name, clock, refused

    name, clock, refused = asyncio.run(serving(endpoint, lambda port: in_thread(session, port)))
    assert value(name) == f"SMM{meter.meter_id}".encode()
    assert int(datetime_from_bytes(bytes(value(clock)))[0].timestamp()) == meter.time
    assert "READ_WRITE_DENIED" in refused


def test_dlms_cosem_learns_the_counter_publicly_then_associates_ciphered_twice(endpoint,
                                                                              meter):
    counter = attr(IC.DATA, "0.0.43.1.0.255", 2)

    def learn(port: int) -> int:
        client = tcp_client(port, 16)
        with client.session():
            return value(client.get(counter))

    def manage(port: int, first_counter: int) -> bytes:
        client = tcp_client(port, 1, first_counter=first_counter)
        with client.session():
            return value(client.get(attr(IC.DATA, "0.0.42.0.0.255", 2)))

    def scenario(port: int) -> list[tuple[int, bytes, int]]:
        sessions = []
        for _ in range(2):
            learned = learn(port)
            name = manage(port, learned)
            sessions.append((learned, name, endpoint.security.client_counter))
        return sessions

    sessions = asyncio.run(serving(endpoint, lambda port: in_thread(scenario, port)))
    (first, name_one, last_one), (second, name_two, last_two) = sessions
    assert name_one == name_two == f"SMM{meter.meter_id}".encode()
    assert first == 0
    assert second == last_one + 1  # the lowest counter the meter accepts next
    assert last_two > second  # the second session counted upward from the learned value


def test_commands_over_tcp_change_the_meter_and_a_reservation_executes(endpoint, meter, fleet):
    at = fleet.time + 1800
    from smame.dlms import axdr
    from smame.dlms.cosem_time import JST, encode_date, encode_time

    local = from_epoch(at).astimezone(JST)
    execution = axdr.array([axdr.structure(
        axdr.octet_string(encode_time(local.hour, local.minute, local.second)),
        axdr.octet_string(encode_date(local.date())))])
    script = axdr.structure(axdr.octet_string(bytes([0, 0, 10, 0, 128, 255])),
                            axdr.long_unsigned(15))

    async def scenario(port: int):
        client = tcp_client(port, 1)

        def first() -> list:
            client.connect()
            client.associate()
            results = [
                client.set(attr(IC.LIMITER, "0.0.17.0.0.255", 4), axdr.long_unsigned(50)).result,
                client.set(attr(IC.SINGLE_ACTION_SCHEDULE, "0.0.15.0.128.255", 2),
                           script).result,
                client.set(attr(IC.SINGLE_ACTION_SCHEDULE, "0.0.15.0.128.255", 4),
                           execution).result,
            ]
            client.action(method(IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 1), axdr.integer(0))
            return results

        results = await in_thread(first)
        assert results == [enums.DataAccessResult.SUCCESS] * 3
        assert meter.limit_a == 50
        assert not meter.connected
        assert [(r.time, r.amps) for r in meter.reservations()] == [(at, 15)]
        fleet.advance(31)  # the fleet passes the reservation while the client is connected

        def second() -> tuple:
            client.action(method(IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 2), axdr.integer(0))
            limit = value(client.get(attr(IC.LIMITER, "0.0.17.0.0.255", 3)))
            client.release_association()
            client.disconnect()
            return limit, meter.connected

        return await in_thread(second)

    limit, connected = asyncio.run(serving(endpoint, scenario))
    assert limit == meter.limit_a == 15
    assert connected
    assert meter.reservations() == []


def test_push_over_udp_from_the_push_method(endpoint, meter):
    async def scenario():
        loop = asyncio.get_running_loop()
        received: asyncio.Future[bytes] = loop.create_future()

        class Listener(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                if not received.done():
                    received.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(Listener, local_addr=(HOST, 0))
        listen_port = transport.get_extra_info("sockname")[1]
        sender = await PushSender.open(HOST)
        endpoint.push_destinations[bytes([0, 0, 25, 9, 0, 255])] = f"{HOST}:{listen_port}"

        def session(port: int) -> None:
            client = tcp_client(port, 1)
            with client.session():
                client.action(method(IC.PUSH, "0.0.25.9.0.255", 1), b"\x0f\x00")

        try:
            await serving(endpoint, lambda port: in_thread(session, port), push_sender=sender)
            return await received
        finally:
            sender.close()
            transport.close()

    datagram = asyncio.run(scenario())
    (frame,) = WrapperDecoder().feed(datagram)
    assert isinstance(frame, Frame)
    assert (frame.source, frame.destination) == (1, 1)
    push = parse_interval_push(open_push(frame.payload, DEMO_KEYS))
    assert push.interval.import_register == meter.stored(30, 0, 2**40).values["imp"][0][-1]


def test_garbage_and_split_frames_over_tcp(endpoint, meter):
    from tests.dlms.support import wrap

    async def scenario(port: int):
        reader, writer = await asyncio.open_connection(HOST, port)
        from dlms_cosem.protocol import acse, xdlms

        aarq = acse.ApplicationAssociationRequest(user_information=acse.UserInformation(
            xdlms.InitiateRequest(proposed_conformance=xdlms.Conformance(get=True))))
        get = bytes((192, 1, 0xC1, 0, 1, 0, 0, 42, 0, 0, 255, 2, 0))
        stream = b"\xff\xff" + wrap(aarq.to_bytes(), 16) + wrap(get, 16)
        for piece in (stream[:5], stream[5:40], stream[40:]):
            writer.write(piece)
            await writer.drain()
        decoder, frames = WrapperDecoder(), []
        while len(frames) < 2:
            frames += [f for f in decoder.feed(await reader.read(4096)) if isinstance(f, Frame)]
        writer.close()
        await writer.wait_closed()
        return frames

    aare, response = asyncio.run(serving(endpoint, scenario))
    assert aare.payload[0] == 0x61
    assert response.payload[:4] == bytes((196, 1, 0xC1, 0))
    assert value(response.payload[4:]) == f"SMM{meter.meter_id}".encode()
