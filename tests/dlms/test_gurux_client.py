"""A second, independent DLMS client unchanged against the meter: Gurux DLMS for Python
(the library behind Gurux Director), over TCP with the IEC 62056-47 wrapper, associating as
the management client with HLS-GMAC and authenticated encryption (SPEC M1, M3, S14)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric, GXDLMSRegister
from gurux_dlms.secure import GXDLMSSecureClient

from smame.clock import from_epoch
from smame.dlms import DEMO_KEYS, build_interval_push, build_last_gasp_push, push_frame
from smame.meter import EventKind
from tests.dlms.support import HOST
from tests.dlms.test_dlms_tcp import in_thread, serving


def gurux_client(sap: int, authentication_key: bytes) -> GXDLMSSecureClient:
    client = GXDLMSSecureClient(True, sap, 1, Authentication.HIGH_GMAC, None,
                                InterfaceType.WRAPPER)
    cipher = client.ciphering
    cipher.security = Security.AUTHENTICATION_ENCRYPTION
    cipher.systemTitle = b"GRX00001"
    cipher.blockCipherKey = bytearray(DEMO_KEYS.encryption_key)
    cipher.authenticationKey = bytearray(authentication_key)
    return client


class GuruxSession:
    """How Gurux's own examples drive a meter: frames out, bytes in until a reply is whole,
    receiver-ready for the next block."""

    def __init__(self, port: int, sap: int, authentication_key: bytes,
                 max_pdu: int = 256) -> None:
        self.client = gurux_client(sap, authentication_key)
        self.client.maxReceivePDUSize = max_pdu  # small: the profile comes in blocks
        self.socket = socket.create_connection((HOST, port), timeout=20)

    def exchange(self, frames) -> GXReplyData:
        reply = GXReplyData()
        for frame in frames if isinstance(frames, list) else [frames]:
            self.socket.sendall(bytes(frame))
            while True:
                received = GXByteBuffer()
                while not self.client.getData(received, reply, GXReplyData()):
                    chunk = self.socket.recv(65536)
                    if not chunk:
                        raise EOFError("the meter closed the connection")
                    received.set(chunk)
                if not reply.isMoreData():
                    break
                self.socket.sendall(bytes(self.client.receiverReady(reply)))
        return reply

    def associate(self) -> None:
        self.client.parseAareResponse(self.exchange(self.client.aarqRequest()).data)
        challenge = self.exchange(self.client.getApplicationAssociationRequest())
        self.client.parseApplicationAssociationResponse(challenge.data)

    def read(self, target, attribute: int):
        reply = self.exchange(self.client.read(target, attribute))
        return self.client.updateValue(target, attribute, reply.value)

    def close(self) -> None:
        try:
            self.exchange(self.client.releaseRequest())
        finally:
            self.socket.close()


def test_gurux_reads_clock_registers_and_the_30_minute_profile(endpoint, meter):
    start = from_epoch(meter.fleet.time - 5 * 3600)
    end = from_epoch(meter.fleet.time)

    def session(port: int) -> dict:
        gurux = GuruxSession(port, 1, DEMO_KEYS.authentication_key)
        clock, name = GXDLMSClock("0.0.1.0.0.255"), GXDLMSData("0.0.42.0.0.255")
        imp, exp = GXDLMSRegister("1.0.1.8.0.255"), GXDLMSRegister("1.0.2.8.0.255")
        profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
        try:
            gurux.associate()
            gurux.read(clock, 2)
            gurux.read(name, 2)
            for register in (imp, exp):
                gurux.read(register, 3)  # scaler and unit first, as Gurux applies them
                gurux.read(register, 2)
            gurux.read(profile, 3)
            reply = gurux.exchange(gurux.client.readRowsByRange(profile, start, end))
            gurux.client.updateValue(profile, 2, reply.value)
        finally:
            gurux.close()
        return {"clock": clock.time.value, "name": bytes(name.value), "imp": imp, "exp": exp,
                "columns": [(o.logicalName, a.attributeIndex) for o, a in
                            profile.captureObjects], "rows": profile.buffer}

    read = asyncio.run(serving(endpoint, lambda port: in_thread(session, port)))
    assert int(read["clock"].timestamp()) == meter.time
    assert read["name"] == b"SMM%d" % meter.meter_id
    wh_per_unit = 10 ** (meter.unit_exponent + 3)
    assert read["imp"].unit == 30  # Wh
    assert read["imp"].value == pytest.approx(meter.import_register * wh_per_unit)
    assert read["exp"].value == pytest.approx(meter.export_register * wh_per_unit)
    assert read["columns"] == [("0.0.1.0.0.255", 2), ("0.0.96.10.1.255", 2),
                               ("1.0.1.8.0.255", 2), ("1.0.2.8.0.255", 2)]
    stored = meter.stored(30, start, end)
    assert len(read["rows"]) == stored.boundaries.size == 11
    for k, (when, status, imp, exp) in enumerate(read["rows"]):
        assert int(when.value.timestamp()) == stored.boundaries[k] * 60
        assert [status, imp, exp] == [int(stored.flags[0][k]), int(stored.values["imp"][0][k]),
                                      int(stored.values["exp"][0][k])]


def test_gurux_with_a_wrong_key_is_refused_and_logged(endpoint, meter):
    def session(port: int) -> str:
        gurux = GuruxSession(port, 1, bytes(16))
        try:
            gurux.associate()
        except Exception as exc:  # Gurux raises its own exception types
            return type(exc).__name__
        finally:
            gurux.socket.close()
        return "associated"

    outcome = asyncio.run(serving(endpoint, lambda port: in_thread(session, port)))
    assert outcome == "GXDLMSException"  # the meter refused the association, not a drop
    assert [e.kind for e in meter.events()].count(EventKind.SECURITY_AUTH_FAILED) == 1


def test_gurux_deciphers_the_interval_and_last_gasp_pushes(endpoint, meter):
    """What a Gurux-based head-end receives on the push port (SPEC S1, M6)."""
    interval = push_frame(build_interval_push(meter, endpoint.security))
    gasp = push_frame(build_last_gasp_push(meter, endpoint.security, time=meter.time))
    opened = []
    for frame in (interval, gasp):
        notify = GXReplyData()
        gurux_client(1, DEMO_KEYS.authentication_key).getData(GXByteBuffer(frame),
                                                             GXReplyData(), notify)
        opened.append(notify)
    assert [n.command for n in opened] == [15, 15]  # data-notification
    setup, name, (_end, period, imp, exp, _imp_iv, _exp_iv, _status) = opened[0].value
    assert bytes(setup) == bytes([0, 0, 25, 9, 0, 255])
    assert bytes(name) == b"SMM%d" % meter.meter_id
    assert (period, imp, exp) == (30, meter.import_register, meter.export_register)
    setup, _name, (_when, code) = opened[1].value
    assert (bytes(setup), code) == (bytes([0, 0, 25, 9, 1, 255]), 31)  # Last Gasp
