"""A second, independent DLMS client unchanged against the meter: Gurux DLMS for Python
(the library behind Gurux Director), over TCP with the IEC 62056-47 wrapper, associating as
the management client with HLS-GMAC and authenticated encryption (SPEC M1, M3, S14)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.enums import AccessMode, Authentication, InterfaceType, ObjectType, Security
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSObjectCollection,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
    GXDLMSSecuritySetup,
)
from gurux_dlms.secure import GXDLMSSecureClient

from smame.clock import from_epoch
from smame.dlms import DEMO_KEYS, build_interval_push, build_last_gasp_push, push_frame
from smame.meter import EventKind
from tests.dlms.support import HOST
from tests.dlms.test_dlms_tcp import in_thread, serving


def gurux_client(sap: int, authentication_key: bytes,
                 invocation_counter: int = 0) -> GXDLMSSecureClient:
    client = GXDLMSSecureClient(True, sap, 1, Authentication.HIGH_GMAC, None,
                                InterfaceType.WRAPPER)
    cipher = client.ciphering
    cipher.security = Security.AUTHENTICATION_ENCRYPTION
    cipher.systemTitle = b"GRX00001"
    cipher.blockCipherKey = bytearray(DEMO_KEYS.encryption_key)
    cipher.authenticationKey = bytearray(authentication_key)
    cipher.invocationCounter = invocation_counter
    return client


class GuruxRefusedError(Exception):
    """The meter answered a Gurux request with a Data-Access-Result other than success."""

    def __init__(self, error: int) -> None:
        super().__init__(f"data access result {error}")
        self.error = error


class GuruxSession:
    """How Gurux's own examples drive a meter: frames out, bytes in until a reply is whole,
    receiver-ready for the next block."""

    def __init__(self, port: int, client: GXDLMSClient, max_pdu: int = 256) -> None:
        self.client = client
        self.client.maxReceivePDUSize = max_pdu  # small: long answers come in blocks
        self.socket = socket.create_connection((HOST, port), timeout=20)

    @classmethod
    def management(cls, port: int, authentication_key: bytes = DEMO_KEYS.authentication_key,
                   invocation_counter: int = 0) -> GuruxSession:
        return cls(port, gurux_client(1, authentication_key, invocation_counter))

    @classmethod
    def public(cls, port: int) -> GuruxSession:
        """Client SAP 16, no authentication, no security: what a standard client tries
        first."""
        return cls(port, GXDLMSClient(True, 16, 1, Authentication.NONE, None,
                                      InterfaceType.WRAPPER))

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
        if self.client.authentication == Authentication.HIGH_GMAC:
            challenge = self.exchange(self.client.getApplicationAssociationRequest())
            self.client.parseApplicationAssociationResponse(challenge.data)

    def try_associate(self) -> str:
        """"associated", or the name of what Gurux raised when the meter refused; the
        connection is closed either way."""
        try:
            self.associate()
        except Exception as exc:  # Gurux raises its own exception types
            return type(exc).__name__
        finally:
            self.socket.close()
        return "associated"

    def read(self, target, attribute: int):
        reply = self.exchange(self.client.read(target, attribute))
        if reply.error:
            raise GuruxRefusedError(reply.error)
        return self.client.updateValue(target, attribute, reply.value)

    def objects(self) -> GXDLMSObjectCollection:
        """The association's object list, as Gurux reads it before anything else."""
        return self.client.parseObjects(self.exchange(self.client.getObjectsRequest()).data,
                                        True)

    def close(self) -> None:
        try:
            self.exchange(self.client.releaseRequest())
        finally:
            self.socket.close()


def test_gurux_reads_clock_registers_and_the_30_minute_profile(endpoint, meter):
    start = from_epoch(meter.fleet.time - 5 * 3600)
    end = from_epoch(meter.fleet.time)

    def session(port: int) -> dict:
        gurux = GuruxSession.management(port)
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
        return GuruxSession.management(port, bytes(16)).try_associate()

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


# ---------------------------------------------------------------------------- public client


PUBLIC_VIEW = {"0.0.42.0.0.255", "0.0.1.0.0.255", "0.0.40.0.0.255", "0.0.43.1.0.255",
               "0.0.43.1.1.255"}


def test_gurux_public_client_reads_its_object_list_name_clock_and_counter(endpoint, meter):
    """A standard client's first steps: public association (SAP 16, no security), the
    object list, then the objects it lists."""
    def session(port: int) -> dict:
        gurux = GuruxSession.public(port)
        try:
            gurux.associate()
            objects = gurux.objects()
            name = objects.findByLN(ObjectType.DATA, "0.0.42.0.0.255")
            clock = objects.findByLN(ObjectType.CLOCK, "0.0.1.0.0.255")
            counter = objects.findByLN(ObjectType.DATA, "0.0.43.1.1.255")
            association = objects.findByLN(ObjectType.ASSOCIATION_LOGICAL_NAME,
                                           "0.0.40.0.0.255")
            gurux.read(name, 2)
            gurux.read(clock, 2)
            gurux.read(counter, 2)
            for index in (3, 4, 5, 6, 8, 9):
                gurux.read(association, index)
            refused = {}
            for target, index in [(GXDLMSRegister("1.0.1.8.0.255"), 2),
                                  (GXDLMSSecuritySetup("0.0.43.0.0.255"), 5),
                                  (association, 7)]:
                try:
                    gurux.read(target, index)
                except GuruxRefusedError as exc:
                    refused[target.logicalName, index] = exc.error
        finally:
            gurux.close()
        return {"listed": {o.logicalName for o in objects}, "name": name.value,
                "clock": clock.time.value, "counter": counter.value,
                "clock_access": [clock.getAccess(i) for i in (2, 3)],
                "secret_access": association.getAccess(7), "association": association,
                "refused": refused}

    read = asyncio.run(serving(endpoint, lambda port: in_thread(session, port)))
    assert read["listed"] == PUBLIC_VIEW
    assert read["name"] == f"SMM{meter.meter_id}"  # Gurux shows a printable octet string as text
    assert int(read["clock"].timestamp()) == meter.time
    assert read["counter"] == endpoint.security.client_counter + 1 == 0
    assert read["clock_access"] == [AccessMode.READ, AccessMode.READ]
    assert read["secret_access"] == AccessMode.NO_ACCESS
    association = read["association"]
    assert (association.clientSAP, association.serverSAP) == (16, 1)
    assert association.applicationContextName.contextId == 1  # LN, no ciphering
    assert association.authenticationMechanismName.mechanismId == Authentication.NONE
    context = association.xDLMSContextInfo
    assert (context.maxReceivePduSize, context.maxSendPduSize, context.dlmsVersionNumber) == (
        2048, 256, 6)
    assert association.associationStatus == 2
    assert association.securitySetupReference == "0.0.0.0.0.0"
    assert read["refused"] == {("1.0.1.8.0.255", 2): 3, ("0.0.43.0.0.255", 5): 3,
                               ("0.0.40.0.0.255", 7): 3}  # read-write-denied


def test_gurux_runs_ciphered_sessions_one_after_another_with_learned_counters(endpoint,
                                                                             meter):
    """Learn the counter on the public association, then associate with it as the
    management client; twice in a row. The first counter again is a replay."""
    def learn(port: int) -> int:
        gurux = GuruxSession.public(port)
        counter = GXDLMSData("0.0.43.1.1.255")
        try:
            gurux.associate()
            gurux.read(counter, 2)
        finally:
            gurux.close()
        return counter.value

    def manage(port: int, counter: int) -> dict:
        gurux = GuruxSession.management(port, invocation_counter=counter)
        name, clock = GXDLMSData("0.0.42.0.0.255"), GXDLMSClock("0.0.1.0.0.255")
        association = GXDLMSAssociationLogicalName("0.0.40.0.0.255")
        try:
            gurux.associate()
            gurux.read(name, 2)
            gurux.read(clock, 2)
            objects = gurux.objects()
            for index in (3, 4, 6, 8, 9):
                gurux.read(association, index)
        finally:
            gurux.close()
        return {"name": bytes(name.value), "clock": clock.time.value,
                "objects": len(objects),
                "association": (association.clientSAP,
                                association.applicationContextName.contextId,
                                association.authenticationMechanismName.mechanismId,
                                association.associationStatus,
                                association.securitySetupReference)}

    def replay(port: int, counter: int) -> str:
        return GuruxSession.management(port, invocation_counter=counter).try_associate()

    def scenario(port: int) -> dict:
        first = learn(port)
        one = manage(port, first)
        second = learn(port)
        two = manage(port, second)
        return {"counters": (first, second), "sessions": (one, two),
                "replay": replay(port, first)}

    outcome = asyncio.run(serving(endpoint, lambda port: in_thread(scenario, port)))
    first, second = outcome["counters"]
    assert second > first
    for session in outcome["sessions"]:
        assert session["name"] == b"SMM%d" % meter.meter_id
        assert int(session["clock"].timestamp()) == meter.time
        assert session["objects"] == len(endpoint.model)  # the management view: everything
        assert session["association"] == (1, 3, Authentication.HIGH_GMAC, 2, "0.0.43.0.0.255")
    assert outcome["replay"] == "GXDLMSException"
    assert [e.kind for e in meter.events()].count(EventKind.SECURITY_REPLAY_REJECTED) == 1
