"""The node's services: every request ESV, the _SNA replies, maps, announcements."""

from __future__ import annotations

from smame.echonet import (
    EOJ,
    ESV,
    MULTICAST,
    NODE_PROFILE,
    Frame,
    Property,
    decode,
    decode_property_map,
    encode,
)
from smame.echonet import edt as enc

from .conftest import CONTROLLER, METER, get, meter_object, request


def test_get_answers_in_requested_order(node) -> None:
    reply = get(node, 0xE7, 0xE0, 0x80, 0xD7, 0xE1, 0xD3)
    assert reply.esv == ESV.GET_RES
    assert reply.tid == 7
    assert reply.seoj == METER
    assert reply.deoj == CONTROLLER
    assert reply.epcs == (0xE7, 0xE0, 0x80, 0xD7, 0xE1, 0xD3)
    assert reply.edt(0x80) == b"\x30"
    assert reply.edt(0xD7) == b"\x08"
    assert reply.edt(0xE1) == b"\x02"
    assert reply.edt(0xD3) == b"\x00\x00\x00\x01"


def test_get_of_unsupported_property_is_get_sna(node) -> None:
    reply = get(node, 0xE0, 0x55, 0xE7)
    assert reply.esv == ESV.GET_SNA
    assert reply.epcs == (0xE0, 0x55, 0xE7)
    assert reply.properties[1].edt == b""
    assert len(reply.properties[0].edt) == 4
    assert len(reply.properties[2].edt) == 4


def test_property_maps_match_what_the_object_serves(node) -> None:
    reply = get(node, 0x9F, 0x9E, 0x9D)
    get_map = decode_property_map(reply.edt(0x9F))
    assert reply.edt(0x9F)[0] >= 16
    assert len(reply.edt(0x9F)) == 17
    assert {0x80, 0x81, 0x82, 0x83, 0x88, 0x8A, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xC0, 0xD0, 0xD3,
            0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED,
            0xEE, 0xEF} <= get_map
    assert decode_property_map(reply.edt(0x9E)) == {0x81, 0xE5, 0xED, 0xEF}
    assert {0x80, 0xEA, 0xEB} <= decode_property_map(reply.edt(0x9D))
    every = get(node, *sorted(get_map))
    assert every.esv == ESV.GET_RES
    assert all(p.edt for p in every.properties)


def test_node_profile(node) -> None:
    reply = get(node, 0x80, 0x82, 0x83, 0x8A, 0xD3, 0xD4, 0xD6, 0xD7, 0x8C, deoj=NODE_PROFILE)
    assert reply.esv == ESV.GET_RES
    assert reply.seoj == NODE_PROFILE
    assert reply.edt(0xD3) == b"\x00\x00\x01"
    assert reply.edt(0xD4) == b"\x00\x02"
    assert reply.edt(0xD6) == b"\x01\x02\x88\x01"
    assert reply.edt(0xD7) == b"\x01\x02\x88"
    assert reply.edt(0x83)[0] == 0xFE
    assert len(reply.edt(0x83)) == 17
    assert len(reply.edt(0x8C)) == 12
    assert get(node, 0xD5, deoj=NODE_PROFILE).esv == ESV.GET_SNA  # announced, not read


def test_instance_list_announced(node) -> None:
    out = node.announce_instances()
    assert out.to is MULTICAST
    frame = decode(out.data)
    assert frame.esv == ESV.INF
    assert frame.seoj == frame.deoj == NODE_PROFILE
    assert frame.properties == (Property(0xD5, b"\x01\x02\x88\x01"),)


def test_wildcard_instance_and_unknown_objects(node) -> None:
    reply = get(node, 0xE0, deoj=EOJ(0x02, 0x88, 0x00))
    assert reply.seoj == METER
    assert request(node, ESV.GET, [Property(0xE0)], EOJ(0x02, 0x88, 0x02)) is None
    assert request(node, ESV.GET, [Property(0x80)], EOJ(0x01, 0x30, 0x01)) is None
    assert node.dropped == 2


def test_setc_set_res_and_setc_sna(node) -> None:
    reply = request(node, ESV.SETC, [Property(0xE5, b"\x01")])
    assert reply.esv == ESV.SET_RES
    assert reply.properties == (Property(0xE5),)
    assert get(node, 0xE5).edt(0xE5) == b"\x01"
    reply = request(node, ESV.SETC, [Property(0xE5, b"\x02"), Property(0xE0, b"\x00" * 4),
                                     Property(0xE5, b"\x64")])
    assert reply.esv == ESV.SETC_SNA
    assert reply.properties == (Property(0xE5), Property(0xE0, b"\x00" * 4),
                                Property(0xE5, b"\x64"))  # refused ones keep their data
    assert get(node, 0xE5).edt(0xE5) == b"\x02"


def test_seti_is_silent_unless_refused(node) -> None:
    assert request(node, ESV.SETI, [Property(0xE5, b"\x03")]) is None
    reply = request(node, ESV.SETI, [Property(0xE7, b"\x00\x00\x00\x01")])
    assert reply.esv == ESV.SETI_SNA
    assert reply.properties[0].edt


def test_history_settings_are_validated(node) -> None:
    good2 = enc.encode_history_time(enc.decode_datetime6(b"\x07\xea\x07\x02\x09\x1e"), 12)
    bad_minute = good2[:5] + b"\x0f" + good2[6:]
    too_many = good2[:6] + b"\x0d"
    assert request(node, ESV.SETC, [Property(0xED, good2)]).esv == ESV.SET_RES
    for bad in (bad_minute, too_many, b"\x01", b"\xff" * 7):
        assert request(node, ESV.SETC, [Property(0xED, bad)]).esv == ESV.SETC_SNA
    assert request(node, ESV.SETC, [Property(0xEF, good2[:6] + b"\x0a")]).esv == ESV.SET_RES
    assert request(node, ESV.SETC, [Property(0xEF, good2[:6] + b"\x0b")]).esv == ESV.SETC_SNA


def test_setget(node) -> None:
    reply = request(node, ESV.SETGET, [Property(0xE5, b"\x01")], get_props=[Property(0xE2)])
    assert reply.esv == ESV.SETGET_RES
    assert reply.properties == (Property(0xE5),)
    assert enc.decode_history1(reply.get_properties[0].edt)[0] == 1
    reply = request(node, ESV.SETGET, [Property(0xE0, b"\x00" * 4)],
                    get_props=[Property(0xE7), Property(0x44)])
    assert reply.esv == ESV.SETGET_SNA
    assert reply.properties[0].edt
    assert reply.get_properties[0].edt
    assert reply.get_properties[1] == Property(0x44)


def test_inf_req_answers_by_multicast_inf(node) -> None:
    out = node.receive(encode(Frame(3, CONTROLLER, METER, ESV.INF_REQ, (Property(0xE7),))), "h")
    assert len(out) == 1
    assert out[0].to is MULTICAST
    assert decode(out[0].data).esv == ESV.INF
    out = node.receive(encode(Frame(4, CONTROLLER, METER, ESV.INF_REQ, (Property(0x44),))), "h")
    assert out[0].to == "h"
    assert decode(out[0].data).esv == ESV.INF_SNA


def test_infc_and_infc_res(node) -> None:
    reply = request(node, ESV.INFC, [Property(0xE0, b"\x00\x00\x00\x05")])
    assert reply.esv == ESV.INFC_RES
    assert reply.properties == (Property(0xE0),)
    out = node.notify(METER, [0xEA], to="hems", confirm=True)
    sent = decode(out.data)
    assert sent.esv == ESV.INFC
    assert out.to == "hems"
    assert sent.tid in node.awaiting_confirmation
    ack = Frame(sent.tid, CONTROLLER, METER, ESV.INFC_RES, (Property(0xEA),))
    assert node.receive(encode(ack), "someone else") == []
    assert sent.tid in node.awaiting_confirmation
    assert node.receive(encode(ack), "hems") == []
    assert sent.tid not in node.awaiting_confirmation


def test_responses_and_unknown_services_are_dropped(node) -> None:
    for esv in (ESV.GET_RES, ESV.INF, ESV.SET_RES, 0x00, 0x99):
        assert node.receive(encode(Frame(1, CONTROLLER, METER, esv, (Property(0xE0),))), "h") == []
    assert node.receive(encode(Frame(1, CONTROLLER, METER, ESV.GET)), "h") == []  # OPC 0


def test_oversize_response_becomes_get_sna(node) -> None:
    reply = get(node, *([0xE2] * 10))  # 10 × 196 bytes > 1232
    assert reply.esv == ESV.GET_SNA
    assert len(encode(reply)) <= node.max_frame
    assert reply.properties[0].edt
    assert not reply.properties[-1].edt


def test_fixed_time_announced_after_each_half_hour(live) -> None:
    node = live.node
    assert node.poll() == []
    live.clock.advance(22 * 60 + 40)  # 10:07:30 → 10:30:10
    out = live.tick()
    assert len(out) == 1
    assert out[0].to is MULTICAST
    frame = decode(out[0].data)
    assert frame.esv == ESV.INF
    assert frame.seoj == METER
    assert frame.epcs == (0xEA, 0xEB)
    moment, value = enc.decode_fixed_time(frame.edt(0xEA))
    assert (moment.hour, moment.minute) == (10, 30)
    assert value == meter_object(node).meter.import_register
    assert live.tick() == []
