"""Security suite 0, HLS-GMAC and invocation counters of the management client (SPEC S14)."""

from __future__ import annotations

import pytest
from dlms_cosem import enumerations as enums
from dlms_cosem.client import HLSError
from dlms_cosem.exceptions import DlmsClientException
from dlms_cosem.protocol import acse, xdlms

from smame.dlms import MeterEndpoint, MeterKeys
from smame.dlms.security import parse_ciphered
from smame.dlms.server import Associated, AssociationRejected, SecurityFailure
from smame.meter import EventKind
from tests.dlms.support import (
    CLIENT_TITLE,
    IC,
    SC,
    ManualSession,
    MemoryTransport,
    attr,
    management_client,
    public_client,
    value,
    wrap,
)

WRONG = MeterKeys(bytes(16), bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"))
GET_IMPORT = bytes((192, 1, 0xC1, 0, 3, 1, 0, 1, 8, 0, 255, 2, 0))


def security_events(meter, kind):
    return [e for e in meter.events() if e.kind == kind]


@pytest.mark.parametrize("keys", [
    WRONG,
    MeterKeys(bytes.fromhex("000102030405060708090A0B0C0D0E0F"), bytes(16)),
])
def test_wrong_keys_fail_the_association_and_are_logged(endpoint, meter, keys):
    client = management_client(endpoint, keys=keys)
    # extra info 6: confirmed-service-error, application-reference deciphering-error
    with pytest.raises(DlmsClientException, match=r"REJECTED_PERMANENT.*extra info: 6"):
        client.associate()
    assert client.transport.connection.association(1) is None
    (event,) = security_events(meter, EventKind.SECURITY_AUTH_FAILED)
    assert event.reference == 1  # the client SAP
    assert any(isinstance(e, AssociationRejected) for e in client.transport.events)


def test_demo_keys_associate_with_hls_gmac(endpoint, meter):
    client = management_client(endpoint)
    aare = client.associate()
    assert aare.authentication == enums.AuthenticationMechanism.HLS_GMAC
    assert aare.system_title == b"SMM" + meter.meter_id.to_bytes(5, "big")
    assert any(isinstance(e, Associated) for e in client.transport.events)
    assert value(client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 2))) == meter.import_register
    release = client.release_association()
    assert isinstance(release.user_information.content, xdlms.InitiateResponse)
    assert client.transport.connection.association(1) is None


def test_replayed_frame_is_rejected_and_logged(endpoint, meter):
    client = management_client(endpoint)
    client.associate()
    client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 2))
    frame = client.transport.sent[-1]
    ciphered = parse_ciphered(frame[8:])
    response = client.transport.exchange(frame)
    assert response[:3] == bytes((216, 1, 6))  # service-not-allowed, invocation-counter-error
    assert int.from_bytes(response[3:7], "big") == ciphered.invocation_counter + 1
    (event,) = security_events(meter, EventKind.SECURITY_REPLAY_REJECTED)
    assert event.value == ciphered.invocation_counter
    assert any(isinstance(e, SecurityFailure) for e in client.transport.events)
    # The association survives; the security log object shows the event.
    log = value(client.get(attr(IC.PROFILE_GENERIC, "0.0.99.98.1.255", 2)))
    assert [row[1] for row in log] == [EventKind.SECURITY_REPLAY_REJECTED]


def test_out_of_order_counter_is_rejected(endpoint, meter):
    session = ManualSession(endpoint)
    session.associate()
    session.counter = 100
    assert session.request(GET_IMPORT)[:2] == bytes((196, 1))
    session.counter = 50
    assert session.request(GET_IMPORT)[:3] == bytes((216, 1, 6))
    assert len(security_events(meter, EventKind.SECURITY_REPLAY_REJECTED)) == 1


def test_tampered_apdu_is_a_deciphering_error(endpoint, meter):
    session = ManualSession(endpoint)
    session.associate()
    apdu = bytearray(session.cipher(GET_IMPORT))
    apdu[-5] ^= 0x40
    response = session.transport.send_request(bytes(apdu))
    assert response == bytes((216, 1, 5))
    assert len(security_events(meter, EventKind.SECURITY_AUTH_FAILED)) == 1
    assert session.request(GET_IMPORT)[:2] == bytes((196, 1))  # still associated


def test_wrong_hls_proof_leaves_no_association(endpoint, meter):
    session = ManualSession(endpoint)
    reply = session.associate(proof=b"\x10" + bytes(16))
    assert reply[:2] == bytes((199, 1))
    assert reply[3] == enums.ActionResultStatus.OTHER_REASON
    assert session.connection.association(1) is None
    assert len(security_events(meter, EventKind.SECURITY_AUTH_FAILED)) == 1
    assert session.request(GET_IMPORT)[0] == 216


def test_requests_before_hls_are_refused(endpoint):
    session = ManualSession(endpoint)
    request = xdlms.InitiateRequest(proposed_conformance=xdlms.Conformance(get=True),
                                    client_max_receive_pdu_size=1024)
    session.crypto.invocation_counter = 0
    ic, ciphertext = session.crypto.protect(request.to_bytes())
    session.counter = 1
    aarq = acse.ApplicationAssociationRequest(
        ciphered=True, system_title=CLIENT_TITLE,
        authentication=enums.AuthenticationMechanism.HLS_GMAC, authentication_value=b"x" * 16,
        user_information=acse.UserInformation(content=xdlms.GlobalCipherInitiateRequest(
            security_control=SC, invocation_counter=ic, ciphered_text=ciphertext)))
    session.transport.send_request(aarq.to_bytes())
    session.meter_title = endpoint.security.system_title
    assert session.request(GET_IMPORT) == bytes((216, 1, 1))


def test_server_proves_the_keys_to_the_client(endpoint):
    session = ManualSession(endpoint, counter=7)
    reply = session.associate(challenge=b"0123456789abcdef")
    assert reply[:5] == bytes((199, 1, 0xC0, 0, 1))
    proof = bytes(value(reply[6:]))
    from dlms_cosem.security import gmac

    from tests.dlms.support import SC_AUTH

    expected = gmac(SC_AUTH, endpoint.security.system_title, int.from_bytes(proof[1:5], "big"),
                    session.keys.encryption_key, session.keys.authentication_key,
                    b"0123456789abcdef")
    assert proof[0] == 0x10
    assert proof[5:] == expected


def test_plain_request_in_a_ciphered_association_is_refused(endpoint):
    session = ManualSession(endpoint)
    session.associate()
    response = session.transport.send_request(GET_IMPORT)
    assert response == bytes((216, 1, 1))


def test_service_specific_glo_apdus(endpoint, meter):
    session = ManualSession(endpoint)
    session.associate()
    response = session.transport.send_request(session.cipher(GET_IMPORT, tag=200))
    assert response[0] == 204  # glo-get-response
    plain = session.decipher(response)
    assert value(plain[4:]) == meter.import_register


def test_replayed_aarq_is_rejected(endpoint, meter):
    first = management_client(endpoint)
    first.associate()
    aarq_frame = first.transport.sent[0]
    response = first.transport.exchange(aarq_frame)
    aare = acse.ApplicationAssociationResponse.from_bytes(response)
    assert aare.result == enums.AssociationResult.REJECTED_PERMANENT
    assert len(security_events(meter, EventKind.SECURITY_REPLAY_REJECTED)) == 1
    # A new session must continue above the counters already used.
    again = management_client(endpoint, first_counter=endpoint.security.client_counter + 1)
    again.associate()


def test_meter_counter_only_increases(endpoint):
    client = management_client(endpoint)
    client.associate()
    for _ in range(3):
        client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 2))
    counters = [parse_ciphered(r).invocation_counter for r in client.transport.received[1:]]
    assert counters == sorted(set(counters))
    assert endpoint.security.invocation_counter > counters[-1]


@pytest.mark.parametrize(("sap", "ciphered", "mechanism", "diagnostic"), [
    (1, False, None, enums.AcseServiceUserDiagnostics.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
    (1, True, None, enums.AcseServiceUserDiagnostics.AUTHENTICATION_MECHANISM_NAME_REQUIRED),
    (1, True, enums.AuthenticationMechanism.LLS,
     enums.AcseServiceUserDiagnostics.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNIZED),
    (16, True, None, enums.AcseServiceUserDiagnostics.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
    (16, False, enums.AuthenticationMechanism.LLS,
     enums.AcseServiceUserDiagnostics.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNIZED),
    (3, False, None, enums.AcseServiceUserDiagnostics.NO_REASON_GIVEN),
])
def test_associations_outside_the_policy_are_rejected(endpoint, sap, ciphered, mechanism,
                                                      diagnostic):
    request = xdlms.InitiateRequest(proposed_conformance=xdlms.Conformance(get=True),
                                    client_max_receive_pdu_size=1024)
    aarq = acse.ApplicationAssociationRequest(
        ciphered=ciphered, system_title=CLIENT_TITLE, authentication=mechanism,
        authentication_value=b"secret12" if mechanism else None,
        user_information=acse.UserInformation(content=request))
    conn = endpoint.connection()
    conn.receive_data(wrap(aarq.to_bytes(), sap))
    aare = acse.ApplicationAssociationResponse.from_bytes(conn.data_to_send()[8:])
    assert aare.result == enums.AssociationResult.REJECTED_PERMANENT
    assert aare.result_source_diagnostics == diagnostic
    assert conn.association(sap) is None


class OldVersion(xdlms.InitiateRequest):
    """An InitiateRequest proposing DLMS version 5 (dlms-cosem always writes 6)."""

    def to_bytes(self) -> bytes:
        raw = bytearray(super().to_bytes())
        raw[4] = 5
        return bytes(raw)


@pytest.mark.parametrize(("initiate", "error"), [
    (xdlms.InitiateRequest(proposed_conformance=xdlms.Conformance(get=True),
                           client_max_receive_pdu_size=32), enums.InitiateError.PDU_SIZE_TOO_SHORT),
    (OldVersion(proposed_conformance=xdlms.Conformance(get=True)),
     enums.InitiateError.DLMS_VERSION_TOO_LOW),
    (xdlms.InitiateRequest(proposed_conformance=xdlms.Conformance(event_notification=True)),
     enums.InitiateError.INCOMPATIBLE_CONFORMANCE),
])
def test_bad_initiate_requests_get_a_confirmed_service_error(endpoint, initiate, error):
    aarq = acse.ApplicationAssociationRequest(user_information=acse.UserInformation(initiate))
    conn = endpoint.connection()
    conn.receive_data(wrap(aarq.to_bytes(), 16))
    aare = acse.ApplicationAssociationResponse.from_bytes(conn.data_to_send()[8:])
    assert aare.result == enums.AssociationResult.REJECTED_PERMANENT
    assert aare.user_information.content.error == error


def test_hls_failure_through_the_library_client(endpoint, meter):
    client = management_client(endpoint)
    original = client.dlms_connection.authentication.hls_generate_reply_data
    client.dlms_connection.authentication.hls_generate_reply_data = (
        lambda conn: original(conn)[:-1] + bytes((original(conn)[-1] ^ 1,)))
    with pytest.raises(HLSError):
        client.associate()
    assert len(security_events(meter, EventKind.SECURITY_AUTH_FAILED)) == 1


def test_public_and_management_associations_share_one_connection(endpoint, meter):
    conn = endpoint.connection()
    public = public_client(endpoint)
    public.transport = MemoryTransport(conn, 16)
    management = management_client(endpoint)
    management.transport = MemoryTransport(conn, 1)
    public.associate()
    management.associate()
    assert value(public.get(attr(IC.DATA, "0.0.42.0.0.255", 2))).startswith(b"SMM")
    assert value(management.get(attr(IC.REGISTER, "1.0.2.8.0.255", 2))) == meter.export_register
    assert conn.association(16).role.value == "public"
    assert conn.association(1).role.value == "management"
    # Another meter has its own system title and counters.
    other = MeterEndpoint(meter.fleet.meter(0), endpoint.security.keys)
    assert other.security.system_title != endpoint.security.system_title
    assert other.security.client_counter == -1
