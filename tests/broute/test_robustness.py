"""No Set stores what a Get cannot serve; no property breaks a frame; frames fit 1,232 bytes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smame.echonet import EOJ, ESV, DeviceObject, Frame, Node, Property, PropertyDef, decode, encode
from smame.echonet.frame import FrameError
from smame.skstack import BP35A1, Coordinator, NodeLink, WiSunModule, link_local

from .conftest import CONTROLLER, METER, PASSWORD, RBID, get, request

YEAR_1 = b"\x00\x01\x01\x01\x00\x00"  # 0001-01-01 00:00 JST: 0000-12-31 15:00 UTC
LAST_MINUTE = b"\x27\x0f\x0c\x1f\x17\x1e"  # 9999-12-31 23:30 JST
FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
RESPONSES = {ESV.GET_RES, ESV.GET_SNA, ESV.SET_RES, ESV.SETC_SNA, ESV.SETI_SNA, ESV.SETGET_RES,
             ESV.SETGET_SNA, ESV.INF, ESV.INF_SNA, ESV.INFC_RES}


def test_history_times_before_year_1_utc_are_refused(node) -> None:
    for epc, count in ((0xED, 12), (0xEF, 10)):
        reply = request(node, ESV.SETC, [Property(epc, YEAR_1 + bytes((count,)))])
        assert reply.esv == ESV.SETC_SNA
        assert reply.properties[0].edt == YEAR_1 + bytes((count,))
    assert get(node, 0xEC, 0xEE).esv == ESV.GET_RES


def test_far_future_history_time_is_served_as_no_data(node) -> None:
    assert request(node, ESV.SETC, [Property(0xED, LAST_MINUTE + b"\x0c")]).esv == ESV.SET_RES
    reply = get(node, 0xEC, 0xED)
    assert reply.esv == ESV.GET_RES
    assert reply.edt(0xEC)[:7] == LAST_MINUTE + b"\x0c"
    assert set(reply.edt(0xEC)[7:]) == {0xFF, 0xFE}  # FFFFFFFE: no data


def _broken_node() -> Node:
    def boom() -> bytes:
        raise ArithmeticError("a getter that fails")

    def refuse_loudly(edt: bytes) -> bool:
        raise ArithmeticError("a setter that fails")

    table = {0x80: PropertyDef(get=lambda: b"\x30"), 0xE0: PropertyDef(get=boom),
             0xE1: PropertyDef(get=lambda: b"\x00" * 300), 0xE5: PropertyDef(set=refuse_loudly)}
    return Node([DeviceObject(METER, table)], serial=1)


def test_a_failing_property_does_not_break_the_frame() -> None:
    node = _broken_node()
    reply = get(node, 0x80, 0xE0, 0xE1)
    assert reply.esv == ESV.GET_SNA
    assert reply.properties == (Property(0x80, b"\x30"), Property(0xE0), Property(0xE1))
    reply = request(node, ESV.SETC, [Property(0xE5, b"\x01")])
    assert reply.esv == ESV.SETC_SNA
    assert reply.properties == (Property(0xE5, b"\x01"),)


METER_IP = link_local(bytes.fromhex("0013500005F5E101"))


def _joined(link) -> WiSunModule:
    """A BP35A1 in session with the meter behind ``link``, echo off, output drained."""
    module = WiSunModule(BP35A1, Coordinator(bytes.fromhex("0013500005F5E101"), RBID, PASSWORD),
                         link, bytes.fromhex("001D129012345678"))
    for command in ("SKSREG SFE 0", f"SKSETRBID {RBID}", f"SKSETPWD C {PASSWORD}",
                    "SKSREG S2 21", "SKSREG S3 8888", f"SKJOIN {METER_IP}"):
        module.receive_data(command.encode() + b"\r\n")
    module.data_to_send()
    return module


def test_a_failing_property_does_not_stall_the_module() -> None:
    node = _broken_node()
    module = _joined(NodeLink(node))
    frame = encode(Frame(1, CONTROLLER, METER, ESV.GET, (Property(0xE0),)))
    module.receive_data(f"SKSENDTO 1 {METER_IP} 0E1A 1 {len(frame):04X} ".encode() + frame)
    lines = module.data_to_send().split(b"\r\n")
    assert decode(bytes.fromhex(lines[2].split(b" ")[-1].decode())).esv == ESV.GET_SNA
    module.receive_data(b"SKVER\r\n")
    assert module.data_to_send() == b"EVER 1.2.10\r\nOK\r\n"


class _FailingMeter:
    """A meter whose ECHONET Lite stack fails on every frame."""

    def request(self, payload: bytes, source: str) -> list[tuple[bytes, bool]]:
        raise RuntimeError("meter firmware fault")

    def joined(self, hems: str) -> list[tuple[bytes, bool]]:
        return []


def test_a_failing_meter_answers_fail_er10_and_the_module_goes_on() -> None:
    module = _joined(_FailingMeter())
    module.receive_data(f"SKSENDTO 1 {METER_IP} 0E1A 1 0001 ".encode() + b"\x10")
    assert module.data_to_send().endswith(b"FAIL ER10\r\n")
    module.receive_data(b"SKVER\r\n")
    assert module.data_to_send() == b"EVER 1.2.10\r\nOK\r\n"


def test_get_of_255_properties_fits_the_frame_limit(node) -> None:
    out = node.receive(encode(Frame(1, CONTROLLER, METER, ESV.GET,
                                    tuple(Property(e) for e in range(255)))), "h")
    assert len(out[0].data) <= 1232
    reply = decode(out[0].data)
    assert reply.esv == ESV.GET_SNA
    assert [p.epc for p in reply.properties] == list(range(255))  # every EPC, in order
    served = [p for p in reply.properties if p.edt]
    assert len(served) > 20  # as many as fit, not none
    assert reply.edt(0x80) == b"\x30"


def test_get_of_255_large_properties_fits(node) -> None:
    out = node.receive(encode(Frame(1, CONTROLLER, METER, ESV.GET,
                                    tuple(Property(0xE2) for _ in range(255)))), "h")
    assert len(out[0].data) <= 1232
    reply = decode(out[0].data)
    assert sum(bool(p.edt) for p in reply.properties) == (1232 - 12 - 2 * 255) // 194


def test_setget_with_refused_sets_fits(node) -> None:
    sets = tuple(Property(0xE7, b"\xaa" * 200) for _ in range(6))
    gets = tuple(Property(0xE2) for _ in range(6))
    out = node.receive(encode(Frame(1, CONTROLLER, METER, ESV.SETGET, sets, gets)), "h")
    assert len(out[0].data) <= 1232
    reply = decode(out[0].data)
    assert reply.esv == ESV.SETGET_SNA
    assert len(reply.properties) == len(reply.get_properties) == 6


epcs = st.integers(0x80, 0xFF) | st.sampled_from([0x81, 0xE5, 0xED, 0xEF, 0xEC, 0xEE, 0xE2])
history_times = st.builds(
    lambda epc, year, rest: Property(epc, year.to_bytes(2, "big") + bytes(rest)),
    st.sampled_from([0xED, 0xEF]), st.sampled_from([0, 1, 2, 2026, 9999]) | st.integers(0, 10_000),
    st.sampled_from([(1, 1, 0, 0, 12), (1, 1, 8, 59, 10), (12, 31, 23, 30, 12)])
    | st.tuples(st.integers(0, 13), st.integers(0, 32), st.integers(0, 24),
              st.sampled_from([0, 30, 59, 60]), st.integers(0, 13)))
props = st.builds(Property, epcs, st.binary(max_size=20)) | history_times


@FAST
@given(st.lists(props, min_size=1, max_size=8),
       st.lists(st.builds(Property, epcs), min_size=1, max_size=40),
       st.sampled_from([ESV.SETC, ESV.SETI, ESV.SETGET]),
       st.sampled_from([METER, EOJ(0x02, 0x88, 0x00), EOJ(0x0E, 0xF0, 0x01)]))
def test_any_set_then_any_get_gives_well_formed_frames(node, sets, gets, esv, deoj) -> None:
    """Whatever was set, every later reply decodes, fits and answers each EPC asked."""
    get_block = tuple(gets) if esv == ESV.SETGET else ()
    for out in node.receive(encode(Frame(1, CONTROLLER, deoj, esv, tuple(sets), get_block)),
                            "h"):
        _well_formed(out.data, None)
    for out in node.receive(encode(Frame(2, CONTROLLER, deoj, ESV.GET, tuple(gets))), "h"):
        _well_formed(out.data, [p.epc for p in gets])


def _well_formed(data: bytes, asked: list[int] | None) -> None:
    assert len(data) <= 1232
    try:
        reply = decode(data)
    except FrameError as exc:
        raise AssertionError(f"reply does not decode: {exc}") from None
    assert isinstance(reply, Frame)
    assert reply.esv in RESPONSES
    if asked is not None and reply.esv in (ESV.GET_RES, ESV.GET_SNA):
        assert [p.epc for p in reply.properties] == asked


def test_year_1_over_the_module_is_refused_and_the_next_command_answered(node) -> None:
    module = _joined(NodeLink(node))
    for esv, props in ((ESV.SETC, (Property(0xED, YEAR_1 + b"\x0c"),)),
                       (ESV.GET, (Property(0xEC),))):
        frame = encode(Frame(1, CONTROLLER, METER, esv, props))
        module.receive_data(f"SKSENDTO 1 {METER_IP} 0E1A 1 {len(frame):04X} ".encode() + frame)
        erxudp = module.data_to_send().split(b"\r\n")[2]
        reply = decode(bytes.fromhex(erxudp.split(b" ")[-1].decode()))
        assert reply.esv == (ESV.SETC_SNA if esv == ESV.SETC else ESV.GET_RES)
    module.receive_data(b"SKVER\r\n")
    assert module.data_to_send() == b"EVER 1.2.10\r\nOK\r\n"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(props, min_size=1, max_size=6),
       st.lists(st.builds(Property, epcs), min_size=1, max_size=30))
def test_any_set_then_any_get_over_the_module(node, sets, gets) -> None:
    """Through SKSENDTO/ERXUDP: every answer decodes and the module keeps answering."""
    module = _joined(NodeLink(node))
    for esv, block in ((ESV.SETC, sets), (ESV.GET, gets)):
        frame = encode(Frame(3, CONTROLLER, METER, esv, tuple(block)))
        module.receive_data(f"SKSENDTO 1 {METER_IP} 0E1A 1 {len(frame):04X} ".encode() + frame)
        lines = module.data_to_send().split(b"\r\n")
        assert lines[1] == b"OK"
        for line in lines[2:]:
            if line.startswith(b"ERXUDP "):
                _well_formed(bytes.fromhex(line.split(b" ")[-1].decode()),
                             [p.epc for p in gets] if esv == ESV.GET else None)
    module.receive_data(b"SKVER\r\n")
    assert module.data_to_send() == b"EVER 1.2.10\r\nOK\r\n"
