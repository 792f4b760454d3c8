"""The sans-I/O server never raises: random bytes, mutated frames, broken framing.
The wrapper and A-XDR codecs round-trip (SPEC S14: robust against malformed input)."""

from __future__ import annotations

import contextlib
import functools
import os

from dlms_cosem.client import DataResultError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smame.dlms import DEMO_KEYS, MeterEndpoint, axdr
from smame.dlms.server import ProtocolError, ServerConfig
from smame.dlms.wrapper import Discarded, Frame, Oversized, WrapperDecoder, encode_frame
from tests.dlms.support import ManualSession, make_fleet, public_client, wrap

# SMAME_FUZZ_EXAMPLES=20000 runs a longer campaign; the default keeps the suite quick.
FUZZ = settings(max_examples=int(os.environ.get("SMAME_FUZZ_EXAMPLES", "250")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@functools.cache
def shared_endpoint() -> MeterEndpoint:
    """One meter for all examples; its state drifts, which the property does not mind."""
    return MeterEndpoint(make_fleet(meters=2, minutes=120).meter(0), DEMO_KEYS,
                         config=ServerConfig(max_errors=10**9))


def feed(conn, data: bytes, chunks: list[int] | None = None) -> list:
    """Feed ``data`` in pieces; check nothing escaped as an internal error."""
    events = []
    pieces = [data]
    if chunks:
        pieces, rest = [], data
        for size in chunks:
            pieces.append(rest[:size])
            rest = rest[size:]
        pieces.append(rest)
    for piece in pieces:
        events += conn.receive_data(piece)
    out = conn.data_to_send()
    frames = [f for f in WrapperDecoder().feed(out) if isinstance(f, Frame)]
    assert sum(len(f.payload) + 8 for f in frames) == len(out)
    assert not [e for e in events if isinstance(e, ProtocolError) and e.detail == "internal error"]
    return events


# ---------------------------------------------------------------------------- framing


frames = st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
                            st.binary(max_size=300)), max_size=6)


@given(frames, st.lists(st.integers(0, 200), max_size=20))
def test_wrapper_round_trips_in_any_pieces(items, cuts):
    stream = b"".join(encode_frame(s, d, p) for s, d, p in items)
    decoder = WrapperDecoder()
    out, offset = [], 0
    for cut in [*cuts, len(stream)]:
        out += decoder.feed(stream[offset:offset + cut])
        offset += cut
    out += decoder.feed(stream[offset:])
    assert out == [Frame(s, d, p) for s, d, p in items]
    assert decoder.buffered == 0


@given(st.binary(max_size=40).filter(lambda b: b"\x00" not in b), frames)
def test_wrapper_skips_garbage_without_zero_octets(garbage, items):
    stream = garbage + b"".join(encode_frame(s, d, p) for s, d, p in items)
    out = WrapperDecoder().feed(stream)
    assert [o for o in out if isinstance(o, Frame)] == [Frame(s, d, p) for s, d, p in items]
    assert sum(o.count for o in out if isinstance(o, Discarded)) == len(garbage)


def test_wrapper_skips_oversized_frames_and_resynchronises():
    decoder = WrapperDecoder(max_payload=10)
    stream = encode_frame(1, 1, b"x" * 50) + encode_frame(16, 1, b"ok")
    out = decoder.feed(stream[:30]) + decoder.feed(stream[30:])
    assert out == [Oversized(1, 1, 50), Frame(16, 1, b"ok")]


@given(st.binary(max_size=600))
def test_wrapper_decoder_takes_anything(data):
    decoder = WrapperDecoder()
    for item in decoder.feed(data):
        assert isinstance(item, Frame | Discarded | Oversized)
    assert decoder.buffered <= len(data)


# ---------------------------------------------------------------------------- A-XDR

simple = st.one_of(
    st.builds(lambda v: axdr.Data(axdr.Tag.DOUBLE_LONG_UNSIGNED, v), st.integers(0, 2**32 - 1)),
    st.builds(lambda v: axdr.Data(axdr.Tag.LONG, v), st.integers(-(2**15), 2**15 - 1)),
    st.builds(lambda v: axdr.Data(axdr.Tag.OCTET_STRING, v), st.binary(max_size=300)),
    st.builds(lambda v: axdr.Data(axdr.Tag.BOOLEAN, v), st.booleans()),
    st.builds(lambda v: axdr.Data(axdr.Tag.ENUM, v), st.integers(0, 255)),
    st.builds(lambda v: axdr.Data(axdr.Tag.VISIBLE_STRING, v),
              st.text(st.characters(max_codepoint=127), max_size=20)),
    st.just(axdr.Data(axdr.Tag.NULL)),
)
data_values = st.recursive(simple, lambda inner: st.one_of(
    st.builds(lambda v: axdr.Data(axdr.Tag.ARRAY, tuple(v)), st.lists(inner, max_size=5)),
    st.builds(lambda v: axdr.Data(axdr.Tag.STRUCTURE, tuple(v)), st.lists(inner, max_size=5)),
), max_leaves=30)


@given(data_values)
def test_axdr_round_trips(value):
    assert axdr.decode(axdr.encode(value)) == value


@given(st.binary(max_size=200))
def test_axdr_decoder_raises_only_its_own_error(data):
    with contextlib.suppress(axdr.AxdrError):
        axdr.decode(data)


def test_axdr_refuses_deep_nesting_and_impossible_counts():
    for raw in (b"\x01\x01" * 40 + b"\x00", b"\x01\x84\xff\xff\xff\xff\x00", b"\x09\x85\x01"):
        try:
            axdr.decode(raw)
        except axdr.AxdrError:
            continue
        raise AssertionError(f"{raw.hex()} decoded")


# ---------------------------------------------------------------------------- the server


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 60), max_size=8))
def test_random_bytes_never_raise(data, cuts):
    feed(shared_endpoint().connection(), data, cuts)


@FUZZ
@given(st.sampled_from([1, 16, 2, 0xFFFF]), st.binary(max_size=300))
def test_random_apdus_in_valid_frames_never_raise(sap, apdu):
    feed(shared_endpoint().connection(), wrap(apdu, sap))


@functools.cache
def recorded_frames() -> tuple[bytes, ...]:
    """Plain frames of a public session, and plain APDUs of a management session."""
    endpoint = MeterEndpoint(make_fleet(meters=2, minutes=120).meter(1), DEMO_KEYS)
    client = public_client(endpoint)
    client.associate()
    from dlms_cosem.cosem.capture_object import CaptureObject
    from dlms_cosem.cosem.selective_access import RangeDescriptor

    from smame.clock import from_epoch
    from tests.dlms.support import IC, attr

    client.get(attr(IC.DATA, "0.0.42.0.0.255", 2))
    client.get(attr(IC.CLOCK, "0.0.1.0.0.255", 2))
    for index in (2, 3, 4, 5, 6, 8, 9):  # the public association's own view
        client.get(attr(IC.ASSOCIATION_LN, "0.0.40.0.0.255", index))
    client.get(attr(IC.DATA, "0.0.43.1.1.255", 2))
    client.set(attr(IC.LIMITER, "0.0.17.0.0.255", 3), b"\x12\x00\x1e")
    rd = RangeDescriptor(CaptureObject(attr(IC.CLOCK, "0.0.1.0.0.255", 2)),
                         from_epoch(0), from_epoch(2**31))
    with contextlib.suppress(DataResultError):  # refused to the public client
        client.get(attr(IC.PROFILE_GENERIC, "1.0.99.1.0.255", 2), access_descriptor=rd)
    client.release_association()
    return tuple(client.transport.sent)


MANAGEMENT_REQUESTS = (
    bytes((192, 1, 0xC1, 0, 3, 1, 0, 1, 8, 0, 255, 2, 0)),
    bytes((192, 2, 0xC1, 0, 0, 0, 1)),
    bytes((192, 3, 0xC1, 2, 0, 3, 1, 0, 1, 8, 0, 255, 2, 0, 0, 8, 0, 0, 1, 0, 0, 255, 2, 0)),
    bytes((193, 1, 0xC1, 0, 71, 0, 0, 17, 0, 0, 255, 3, 0, 0x12, 0, 30)),
    bytes((193, 1, 0xC1, 0, 22, 0, 0, 15, 0, 128, 255, 4, 0, 1, 1, 2, 2, 9, 4, 12, 0, 0, 0,
           9, 5, 7, 234, 7, 2, 4)),
    bytes((193, 1, 0xC1, 0, 8, 0, 0, 1, 0, 0, 255, 2, 0, 9, 12, 7, 234, 7, 1, 3, 12, 0, 0, 0,
           0xFD, 0xE4, 0)),
    bytes((195, 1, 0xC1, 0, 70, 0, 0, 96, 3, 10, 255, 1, 1, 15, 0)),
    bytes((195, 1, 0xC1, 0, 70, 0, 0, 96, 3, 10, 255, 2, 1, 15, 0)),
    bytes((195, 1, 0xC1, 0, 8, 0, 0, 1, 0, 0, 255, 6, 1, 16, 0, 10)),
    bytes((195, 1, 0xC1, 0, 40, 0, 0, 25, 9, 0, 255, 1, 1, 15, 0)),
    bytes((192, 1, 0xC1, 0, 7, 1, 0, 99, 1, 0, 255, 2, 1, 2, 2, 4, 6, 0, 0, 0, 1, 6, 0, 0, 0, 3,
           18, 0, 1, 18, 0, 0)),
)


def mutate(data: bytes, draw) -> bytes:
    raw = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        if not raw:
            raw = bytearray(b"\x00")
        at = draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            raw[at] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0x81, 0x82, 0xFF]))
        elif kind == "cut":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=4))
        else:
            del raw[at]
    return bytes(raw)


@FUZZ
@given(st.data())
def test_mutated_public_frames_never_raise(data):
    frames_ = recorded_frames()
    conn = shared_endpoint().connection()
    stream = b""
    for index, frame in enumerate(frames_):
        if data.draw(st.booleans(), label=f"mutate {index}"):
            payload = mutate(frame[8:], data.draw)
            frame = (frame[:6] + len(payload).to_bytes(2, "big") + payload
                     if data.draw(st.booleans(), label="fix length") else mutate(frame, data.draw))
        stream += frame
    feed(conn, stream, data.draw(st.lists(st.integers(1, 50), max_size=6)))


@functools.cache
def management_session() -> ManualSession:
    session = ManualSession(shared_endpoint(), counter=10**6)
    session.associate()
    return session


@FUZZ
@given(st.data())
def test_mutated_requests_inside_a_ciphered_association_never_raise(data):
    """Authentic (correctly ciphered) APDUs whose plain content is mangled reach the
    decoders and the object model after authentication."""
    session = management_session()
    plain = mutate(data.draw(st.sampled_from(MANAGEMENT_REQUESTS)), data.draw)
    tag = data.draw(st.sampled_from([219, 200, 201, 203]))
    conn = session.connection
    conn.receive_data(wrap(session.cipher(plain, tag), 1))
    (response,) = [f for f in WrapperDecoder().feed(conn.data_to_send()) if isinstance(f, Frame)]
    if response.payload[0] != 216:
        session.decipher(response.payload)  # every other answer is ciphered for the client
    assert conn.association(1) is not None


def test_broken_streams_are_answered_then_closed(endpoint):
    conn = endpoint.connection()
    valid = recorded_frames()[0]
    events = feed(conn, b"\xff\xfe" + valid[:5], None)
    events += feed(conn, valid[5:] + valid)  # concatenated, after garbage
    assert conn.association(16) is not None
    for _ in range(40):
        feed(conn, wrap(b"\x07\x07", 16))
    assert conn.should_close
    assert conn.receive_data(valid) == []
    assert events


@functools.cache
def model_targets():
    from smame.dlms.association import Association, management_conformance
    from smame.dlms.cosem.base import Context, Role

    endpoint = shared_endpoint()
    association = Association(Role.MANAGEMENT, 1, management_conformance(), 65535,
                              ciphered=True, client_system_title=b"SMHES001", authenticated=True)
    ctx = Context(endpoint.meter, endpoint, association)
    targets = []
    for obj in endpoint.model:
        for index, attribute in obj.attributes.items():
            if attribute.set:
                targets.append(("set", obj, index))
            if attribute.selectors:
                targets.append(("select", obj, index))
        targets += [("action", obj, index) for index in obj.methods]
    return ctx, targets


@FUZZ
@given(st.data(), data_values, st.integers(0, 3))
def test_any_value_for_any_setter_selector_or_method_is_a_result(data, value, selector):
    """Every writable attribute, selective read and method answers a Data-Access-Result for
    any Data at all; nothing else escapes the model."""
    from smame.dlms.cosem.base import CosemError, Selection

    ctx, targets = model_targets()
    kind, obj, index = data.draw(st.sampled_from(targets))
    model = ctx.endpoint.model
    try:
        if kind == "set":
            model.set(ctx, obj.class_id, obj.logical_name, index, value)
        elif kind == "select":
            model.get(ctx, obj.class_id, obj.logical_name, index, Selection(selector, value))
        else:
            model.action(ctx, obj.class_id, obj.logical_name, index, value)
    except CosemError:
        pass
