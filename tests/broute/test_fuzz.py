"""Malformed input never crashes the node or the module (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smame.echonet import ESV, Frame, Property, encode
from smame.skstack import BP35A1, BP35C2, Coordinator, NodeLink, WiSunModule

from .conftest import CONTROLLER, METER, PASSWORD, RBID

FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
VALID = encode(Frame(5, CONTROLLER, METER, ESV.GET, (Property(0xE0), Property(0xE7))))


@FAST
@given(st.binary(max_size=300))
def test_node_survives_random_bytes(node, data: bytes) -> None:
    for out in node.receive(data, "fuzz"):
        assert len(out.data) <= node.max_frame


@FAST
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
       st.integers(0, len(VALID)), st.binary(max_size=8))
def test_node_survives_mutated_frames(node, flips, cut: int, tail: bytes) -> None:
    data = bytearray(VALID)
    for at, value in flips:
        data[at] = value
    node.receive(bytes(data[:cut]) + tail, "fuzz")


@FAST
@given(st.integers(0, 255), st.integers(0, 255), st.lists(st.integers(0, 255), max_size=255),
       st.integers(0, 0xFFFFFF))
def test_node_survives_any_service_and_object(node, esv: int, opc_pad: int, epcs, deoj) -> None:
    head = b"\x10\x81\x00\x01" + bytes(CONTROLLER) + deoj.to_bytes(3, "big") + bytes((esv,))
    body = bytes((len(epcs),)) + b"".join(bytes((e, 0)) for e in epcs)
    for out in node.receive(head + body, "fuzz"):
        assert len(out.data) <= node.max_frame
    node.receive(head + bytes((opc_pad,)), "fuzz")  # OPC larger than what follows


commands = st.sampled_from([b"SKVER", b"SKINFO", b"SKJOIN FE80::1", b"SKSENDTO 1 ",
                            b"SKSCAN 2 FFFFFFFF 6", b"ROPT", b"WOPT 01", b"SKTERM",
                            b"SKSREG S2 21", b"SKSETRBID " + RBID.encode(), b"SKLL64 00"])
chunks = st.lists(commands | st.binary(max_size=40) | st.sampled_from([b"\r\n", b"\r", b" "]),
                  max_size=25)


@FAST
@given(chunks, st.sampled_from([BP35A1, BP35C2]))
def test_module_survives_garbage(node, pieces: list[bytes], model) -> None:
    module = WiSunModule(model, Coordinator(b"\x00" * 8, RBID, PASSWORD), NodeLink(node),
                         b"\x00\x1d\x12\x90\x00\x00\x00\x01")
    for piece in pieces:
        module.receive_data(piece)
        out = module.data_to_send()
        assert b"Traceback" not in out
    module.receive_data(b"\r\nSKVER\r\n")
    assert module.data_to_send().endswith(b"OK\r\n") or module._pending is not None


@FAST
@given(st.binary(min_size=1, max_size=200), st.integers(1, 7))
def test_module_input_split_anywhere_gives_the_same_answer(node, noise: bytes, parts: int) -> None:
    script = b"SKSREG SFE 0\r\nSKVER\r\n" + noise.replace(b"SKSENDTO", b"") + b"\r\nSKINFO\r\n"

    def run(pieces) -> bytes:
        module = WiSunModule(BP35A1, Coordinator(b"\x00" * 8, RBID, PASSWORD), NodeLink(node),
                             b"\x00\x1d\x12\x90\x00\x00\x00\x01")
        out = b""
        for piece in pieces:
            module.receive_data(piece)
            out += module.data_to_send()
        return out

    step = max(1, len(script) // parts)
    assert run([script]) == run([script[k:k + step] for k in range(0, len(script), step)])
