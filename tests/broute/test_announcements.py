"""Announced properties (map 0x9D) are announced by INF when they change (SPEC M8)."""

from __future__ import annotations

from smame.echonet import (
    EOJ,
    ESV,
    MULTICAST,
    DeviceObject,
    Frame,
    Node,
    Property,
    PropertyDef,
    decode,
    encode,
)

from .conftest import CONTROLLER, METER


def _setc(node: Node, *props: Property) -> list:
    return node.receive(encode(Frame(9, CONTROLLER, METER, ESV.SETC, props)), "hems")


def test_setting_the_installation_location_announces_it(node) -> None:
    reply, inf = _setc(node, Property(0x81, b"\x08"))
    assert decode(reply.data).esv == ESV.SET_RES
    assert reply.to == "hems"
    assert inf.to is MULTICAST
    frame = decode(inf.data)
    assert (frame.esv, frame.seoj, frame.properties) == (ESV.INF, METER,
                                                         (Property(0x81, b"\x08"),))
    assert len(_setc(node, Property(0x81, b"\x08"))) == 1  # unchanged: nothing to announce
    assert len(_setc(node, Property(0xE5, b"\x02"))) == 1  # E5 is not in 0x9D
    assert node.poll() == []  # already announced


def test_refused_set_announces_nothing(node) -> None:
    out = _setc(node, Property(0x81, b"\x08\x09"))
    assert [decode(o.data).esv for o in out] == [ESV.SETC_SNA]


def test_any_announced_property_that_changes_is_announced_by_poll() -> None:
    state = {"operation": b"\x30", "fault": b"\x42"}
    table = {0x80: PropertyDef(get=lambda: state["operation"], anno=True),
             0x88: PropertyDef(get=lambda: state["fault"], anno=True),
             0xE0: PropertyDef(get=lambda: b"\x00\x00\x00\x01")}
    device = EOJ(0x02, 0x88, 0x02)
    node = Node([DeviceObject(device, table)], serial=2)
    assert node.poll() == []
    state["fault"] = b"\x41"
    state["operation"] = b"\x31"
    (inf,) = node.poll()
    frame = decode(inf.data)
    assert frame.esv == ESV.INF
    assert frame.seoj == device
    assert frame.properties == (Property(0x80, b"\x31"), Property(0x88, b"\x41"))
    assert node.poll() == []
