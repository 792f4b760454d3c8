"""Protocol edges of the sans-I/O server: framing, addressing, unsupported services,
block transfer errors, release (Green Book exception and error responses)."""

from __future__ import annotations

from dlms_cosem import enumerations as enums
from dlms_cosem.protocol import acse, xdlms

from smame.dlms import DEMO_KEYS, MeterEndpoint, ServerConfig
from smame.dlms.server import FrameRejected, ProtocolError, Released
from smame.dlms.wrapper import Frame, WrapperDecoder, encode_frame
from tests.dlms.support import SC, ManualSession, public_client, value, wrap

GET_NAME = bytes((192, 1, 0xC1, 0, 1, 0, 0, 42, 0, 0, 255, 2, 0))


def answers(conn) -> list[Frame]:
    return [f for f in WrapperDecoder().feed(conn.data_to_send()) if isinstance(f, Frame)]


def associated_public(endpoint):
    client = public_client(endpoint)
    client.associate()
    return client, client.transport.connection


def test_request_without_association_is_an_exception(endpoint):
    conn = endpoint.connection()
    events = conn.receive_data(wrap(GET_NAME, 16))
    assert [f.payload for f in answers(conn)] == [bytes((216, 1, 1))]
    assert isinstance(events[0], ProtocolError)


def test_frames_for_another_logical_device_are_dropped(endpoint):
    _client, conn = associated_public(endpoint)
    events = conn.receive_data(encode_frame(16, 2, GET_NAME))
    assert answers(conn) == []
    assert events == [FrameRejected("no logical device at wPort 2")]


def test_answers_go_back_to_the_client_wport(endpoint, meter):
    _client, conn = associated_public(endpoint)
    conn.receive_data(wrap(GET_NAME, 16) + wrap(GET_NAME, 16))  # two frames in one read
    frames = answers(conn)
    assert [(f.source, f.destination) for f in frames] == [(1, 16), (1, 16)]
    assert value(frames[1].payload[4:]) == f"SMM{meter.meter_id}".encode()


def test_unknown_tag_short_names_and_unsupported_services(endpoint):
    _client, conn = associated_public(endpoint)
    conn.receive_data(wrap(b"\x42\x00", 16))
    conn.receive_data(wrap(bytes((5, 1, 2, 0, 1)), 16))  # SN readRequest
    conn.receive_data(wrap(bytes((193, 4, 0xC1, 0)), 16))  # SET with-list
    conn.receive_data(wrap(GET_NAME[:-3], 16))  # cut short
    assert [f.payload for f in answers(conn)] == [
        bytes((216, 2, 2)),  # service-unknown, service-not-supported
        bytes((14, 5, 3, 2)),  # confirmed-service-error: read, service, unsupported
        bytes((216, 1, 2)),  # service-not-allowed, service-not-supported
        bytes((216, 1, 3)),  # service-not-allowed, other-reason
    ]


def test_oversized_apdu_is_pdu_too_long(meter):
    endpoint = MeterEndpoint(meter, DEMO_KEYS, config=ServerConfig(max_receive_pdu=100))
    _client, conn = associated_public(endpoint)
    conn.receive_data(wrap(b"\xc0" * 150, 16) + wrap(GET_NAME, 16))
    payloads = [f.payload for f in answers(conn)]
    assert payloads[0] == bytes((216, 1, 4))
    assert payloads[1][:4] == bytes((196, 1, 0xC1, 0))


def test_get_next_errors(endpoint):
    session = ManualSession(endpoint, max_pdu=128)
    session.associate()
    next_block = bytes((192, 2, 0xC1, 0, 0, 0, 1))
    response = session.request(next_block)
    assert response[-2:] == bytes((1, enums.DataAccessResult.NO_LONG_GET_IN_PROGRESS))
    profile = bytes((192, 1, 0xC1, 0, 7, 1, 0, 99, 1, 0, 255, 2, 0))
    first = session.request(profile)
    assert first[:4] == bytes((196, 2, 0xC1, 0))  # with-datablock, not the last
    wrong = bytes((192, 2, 0xC1, 0, 0, 0, 7))
    response = session.request(wrong)
    assert response[-2:] == bytes((1, enums.DataAccessResult.DATA_BLOCK_NUMBER_INVALID))
    assert session.request(next_block)[-1] == enums.DataAccessResult.NO_LONG_GET_IN_PROGRESS


def test_release_forms(endpoint):
    _client, conn = associated_public(endpoint)
    conn.receive_data(wrap(b"\x62\x00", 16))  # an empty RLRQ releases too
    (frame,) = answers(conn)
    assert acse.ReleaseResponse.from_bytes(frame.payload).reason == (
        enums.ReleaseResponseReason.NORMAL)
    assert conn.association(16) is None
    session = ManualSession(endpoint)
    session.associate()
    # A ciphered association's RLRQ whose user-information does not authenticate is refused.
    forged = acse.ReleaseRequest(
        reason=enums.ReleaseRequestReason.NORMAL,
        user_information=acse.UserInformation(content=xdlms.GlobalCipherInitiateRequest(
            security_control=SC,
            invocation_counter=10**6, ciphered_text=b"\x00" * 30)))
    response = session.transport.send_request(forged.to_bytes())
    assert response == bytes((216, 1, 5))
    assert session.connection.association(1) is not None
    events = session.connection.receive_data(wrap(b"\x62\x00", 1))
    assert Released(1) in events
