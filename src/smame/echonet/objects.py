"""ECHONET objects as property tables, and the node profile object 0x0EF001.

An object answers Get with the EDT of a property or ``None`` (not possible), and Set with
accept/refuse. Its property maps (0x9D status-change announcements, 0x9E Set, 0x9F Get)
follow from the table, so they cannot drift from what the object really does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from smame.echonet.frame import EOJ
from smame.echonet.propmap import encode_property_map

__all__ = [
    "MAKER_CODE",
    "NODE_PROFILE",
    "DeviceObject",
    "NodeProfile",
    "PropertyDef",
    "identification_number",
]

NODE_PROFILE = EOJ(0x0E, 0xF0, 0x01)
MAKER_CODE = b"\xff\xff\xff"
"""Manufacturer code 0x8A: 0xFFFFFF, the code for makers not registered with ECHONET."""
VERSION_NODE = bytes((0x01, 0x0E, 0x01, 0x00))  # ECHONET Lite 1.14, specified format only

Getter = Callable[[], bytes]
Setter = Callable[[bytes], bool]


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """How an object serves one EPC: a getter, a setter (False = refused), announcements."""

    get: Getter | None = None
    set: Setter | None = None
    anno: bool = False


def identification_number(serial: int, tag: int) -> bytes:
    """EPC 0x83: 0xFE, the maker code, then 13 bytes unique to this object."""
    return b"\xfe" + MAKER_CODE + serial.to_bytes(12, "big") + bytes((tag,))


class DeviceObject:
    """An object at ``eoj`` serving the properties in ``table`` plus its three maps."""

    def __init__(self, eoj: EOJ, table: dict[int, PropertyDef]) -> None:
        self.eoj = eoj
        self._table = dict(table)
        anno = {epc for epc, d in self._table.items() if d.anno}
        settable = {epc for epc, d in self._table.items() if d.set is not None}
        gettable = {epc for epc, d in self._table.items() if d.get is not None}
        gettable |= {0x9D, 0x9E, 0x9F}
        self.anno_map = frozenset(anno)
        self.set_map = frozenset(settable)
        self.get_map = frozenset(gettable)
        maps = {0x9D: encode_property_map(anno), 0x9E: encode_property_map(settable),
                0x9F: encode_property_map(gettable)}
        for epc, edt in maps.items():
            self._table[epc] = PropertyDef(get=lambda edt=edt: edt)

    def get(self, epc: int) -> bytes | None:
        """EDT of ``epc``, or None when this object cannot answer it."""
        definition = self._table.get(epc)
        if definition is None or definition.get is None:
            return None
        return definition.get()

    def set(self, epc: int, edt: bytes) -> bool:
        """Write ``epc``; False when the property is not settable or the value is refused."""
        definition = self._table.get(epc)
        if definition is None or definition.set is None:
            return False
        return definition.set(edt)

    def due_announcements(self) -> tuple[int, ...]:
        """EPCs this object should announce by INF now (none by default)."""
        return ()


class NodeProfile(DeviceObject):
    """Node profile 0x0EF001 of a node holding ``instances`` (ECHONET Lite part II, 6.11)."""

    def __init__(self, instances: Iterable[EOJ], serial: int,
                 product_code: bytes = b"smame-broute") -> None:
        self.instances = tuple(instances)
        classes = sorted({(e.group, e.cls) for e in self.instances})
        listing = bytes([len(self.instances)]) + b"".join(e.to_bytes() for e in self.instances)

        def const(value: bytes) -> PropertyDef:
            return PropertyDef(get=lambda: value)

        table = {
            0x80: PropertyDef(get=lambda: b"\x30", anno=True),
            0x82: const(VERSION_NODE),
            0x83: const(identification_number(serial, 0)),
            0x8A: const(MAKER_CODE),
            0x8C: const(product_code[:12].ljust(12, b"\x00")),
            0x8D: const(f"{serial:012d}"[-12:].encode()),
            0xD3: const(len(self.instances).to_bytes(3, "big")),
            0xD4: const((len(classes) + 1).to_bytes(2, "big")),  # + the node profile class
            0xD5: PropertyDef(anno=True),  # instance list notification: announced only
            0xD6: const(listing),
            0xD7: const(bytes([len(classes)]) + b"".join(bytes(c) for c in classes)),
        }
        super().__init__(NODE_PROFILE, table)
        self.instance_list = listing

    def instance_list_notification(self) -> bytes:
        """EDT of 0xD5, sent by INF at start-up and after joining a PAN."""
        return self.instance_list
