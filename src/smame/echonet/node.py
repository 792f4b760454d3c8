"""A sans-I/O ECHONET Lite node: request bytes in, response bytes out (SPEC M8 B-route).

:meth:`Node.receive` takes one datagram (or one ERXUDP payload) and its source address,
and returns what to send and where. Requests are answered in the requested property
order, in frames of at most :data:`MAX_FRAME` bytes (what does not fit gets PDC 0 and the
SNA service); a Set that changes an announced property (map 0x9D) is followed by its INF
to the multicast group. A property that fails is answered as "not possible" and the rest
of the frame is served. Anything malformed, addressed to an object the node does not hold, or of a
service the node does not serve is dropped, as ECHONET Lite nodes do. The node opens no
socket, reads no clock and never sleeps: the adapters in :mod:`smame.echonet.udp` and
:mod:`smame.skstack` carry its bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from smame.echonet.frame import (
    EOJ,
    ESV,
    Frame,
    FrameError,
    Property,
    decode,
    encode,
)
from smame.echonet.objects import NODE_PROFILE, DeviceObject, NodeProfile

__all__ = ["MAX_FRAME", "MULTICAST", "Node", "Outgoing"]

MAX_FRAME = 1232
"""Largest frame the node sends: the payload limit of SKSENDTO/ERXUDP on Wi-SUN modules."""
HEADER = 12  # EHD TID SEOJ DEOJ ESV OPC
log = logging.getLogger(__name__)


def _read(obj: DeviceObject, epc: int) -> bytes | None:
    """EDT of ``epc``, or None when the object cannot give one that fits a property."""
    try:
        edt = obj.get(epc)
    except Exception:  # one faulty property must not take the frame down with it
        log.exception("Get of EPC %#04x of %s failed", epc, obj.eoj)
        return None
    if edt is not None and len(edt) > 0xFF:
        log.error("EPC %#04x of %s is %d bytes, more than a PDC holds", epc, obj.eoj, len(edt))
        return None
    return edt


def _write(obj: DeviceObject, epc: int, edt: bytes) -> bool:
    try:
        return obj.set(epc, edt)
    except Exception:
        log.exception("Set of EPC %#04x of %s failed", epc, obj.eoj)
        return False


class _Multicast:
    """Destination of announcements: 224.0.23.0 on IP, FF02::1 on a Wi-SUN PAN."""

    def __repr__(self) -> str:
        return "MULTICAST"


MULTICAST = _Multicast()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame to send to ``to``: the source address of a request, or MULTICAST."""

    data: bytes
    to: Hashable


class Node:
    """A node profile plus ``objects``; ``serial`` makes its identification numbers unique."""

    def __init__(self, objects: Sequence[DeviceObject], serial: int,
                 max_frame: int = MAX_FRAME) -> None:
        self.profile = NodeProfile([o.eoj for o in objects], serial)
        self.objects: dict[EOJ, DeviceObject] = {o.eoj: o for o in (self.profile, *objects)}
        self.max_frame = max_frame
        self.dropped = 0
        self.answered = 0
        self.awaiting_confirmation: dict[int, tuple[Hashable, tuple[int, ...]]] = {}
        self._tid = 0
        self._last_announced = {eoj: self._announced_values(obj)
                                for eoj, obj in self.objects.items()}

    # ---------------------------------------------------------------- requests

    def receive(self, data: bytes, source: Hashable) -> list[Outgoing]:
        """Handle one frame from ``source``: the reply, then any INF of announced properties
        the request changed. Never raises on bad input."""
        try:
            frame = decode(data)
        except FrameError:
            self.dropped += 1
            return []
        if not isinstance(frame, Frame) or not self._wanted(frame):
            self.dropped += 1
            return []
        if frame.esv == ESV.INFC_RES:
            self._confirmed(frame, source)
            return []
        targets = self._targets(frame.deoj)
        if not targets:
            self.dropped += 1
            return []
        self.answered += 1
        replies = [reply for reply in (self._serve(obj, frame, source) for obj in targets)
                   if reply is not None]
        if frame.esv in (ESV.SETC, ESV.SETI, ESV.SETGET):
            replies += self._changes(targets)
        return replies

    def _wanted(self, frame: Frame) -> bool:
        if frame.esv == ESV.INFC_RES:
            return True
        if frame.esv not in (ESV.GET, ESV.SETC, ESV.SETI, ESV.INF_REQ, ESV.SETGET, ESV.INFC):
            return False
        return bool(frame.properties) or bool(frame.get_properties)

    def _targets(self, deoj: EOJ) -> list[DeviceObject]:
        if deoj.instance:
            obj = self.objects.get(deoj)
            return [obj] if obj is not None else []
        return [o for e, o in self.objects.items() if (e.group, e.cls) == (deoj.group, deoj.cls)]

    def _reply(self, frame: Frame, obj: DeviceObject, esv: int, props: Sequence[Property],
               get_props: Sequence[Property] = ()) -> bytes:
        return encode(Frame(frame.tid, obj.eoj, frame.seoj, esv, tuple(props), tuple(get_props)))

    def _serve(self, obj: DeviceObject, frame: Frame, source: Hashable) -> Outgoing | None:
        esv = frame.esv
        if esv == ESV.GET:
            props, ok = self._gets(obj, frame.properties, 0)
            return Outgoing(self._reply(frame, obj, ESV.GET_RES if ok else ESV.GET_SNA, props),
                            source)
        if esv in (ESV.SETC, ESV.SETI):
            props, ok = self._sets(obj, frame.properties)
            if esv == ESV.SETI:
                return None if ok else Outgoing(self._reply(frame, obj, ESV.SETI_SNA, props),
                                                source)
            return Outgoing(self._reply(frame, obj, ESV.SET_RES if ok else ESV.SETC_SNA, props),
                            source)
        if esv == ESV.INF_REQ:
            props, ok = self._gets(obj, frame.properties, 0)
            if not ok:
                return Outgoing(self._reply(frame, obj, ESV.INF_SNA, props), source)
            return Outgoing(self._reply(frame, obj, ESV.INF, props), MULTICAST)
        if esv == ESV.SETGET:
            set_props, set_ok = self._sets(obj, frame.properties,
                                           1 + 2 * len(frame.get_properties))
            used = sum(2 + len(p.edt) for p in set_props) + 1
            get_props, get_ok = self._gets(obj, frame.get_properties, used)
            ok = set_ok and get_ok
            return Outgoing(self._reply(frame, obj, ESV.SETGET_RES if ok else ESV.SETGET_SNA,
                                        set_props, get_props), source)
        # INFC: acknowledge every property, data-less
        acks = [Property(p.epc) for p in frame.properties]
        return Outgoing(self._reply(frame, obj, ESV.INFC_RES, acks), source)

    def _gets(self, obj: DeviceObject, wanted: Sequence[Property], used: int
              ) -> tuple[list[Property], bool]:
        """Read ``wanted`` in order: as many EDTs as fit beside ``used`` bytes, PDC 0 for
        the rest and for what the object cannot give (Get_SNA)."""
        budget = self.max_frame - HEADER - used - 2 * len(wanted)
        props, ok = [], True
        for prop in wanted:
            edt = _read(obj, prop.epc)
            if edt is None or len(edt) > budget:
                ok = False
                edt = b""
            budget -= len(edt)
            props.append(Property(prop.epc, edt))
        return props, ok

    def _sets(self, obj: DeviceObject, wanted: Sequence[Property], used: int = 0
              ) -> tuple[list[Property], bool]:
        """Write ``wanted``; refused properties echo their data while it fits the frame."""
        budget = self.max_frame - HEADER - used - 2 * len(wanted)
        props, ok = [], True
        for prop in wanted:
            if prop.edt and _write(obj, prop.epc, prop.edt):
                props.append(Property(prop.epc))
                continue
            ok = False
            echoed = prop.edt if len(prop.edt) <= budget else b""
            budget -= len(echoed)
            props.append(Property(prop.epc, echoed))
        return props, ok

    # ---------------------------------------------------------------- announcements

    def _next_tid(self) -> int:
        self._tid = (self._tid + 1) & 0xFFFF
        return self._tid

    def notify(self, eoj: EOJ, epcs: Sequence[int], to: Hashable = MULTICAST,
               confirm: bool = False) -> Outgoing:
        """INF (or INFC, which needs a unicast ``to``) of ``epcs`` of object ``eoj``."""
        obj = self.objects[eoj]
        if confirm and to is MULTICAST:
            raise ValueError("INFC is sent to one node, not to the multicast group")
        props = [Property(epc, _read(obj, epc) or b"") for epc in epcs]
        tid = self._next_tid()
        esv = ESV.INFC if confirm else ESV.INF
        if confirm:
            self.awaiting_confirmation[tid] = (to, tuple(epcs))
        return Outgoing(encode(Frame(tid, eoj, NODE_PROFILE if eoj == NODE_PROFILE else
                                     EOJ(0x05, 0xFF, 0x01), esv, tuple(props))), to)

    def announce_instances(self, to: Hashable = MULTICAST) -> Outgoing:
        """INF of the instance list (0xD5) from the node profile to node profiles: start-up."""
        props = (Property(0xD5, self.profile.instance_list_notification()),)
        frame = Frame(self._next_tid(), NODE_PROFILE, NODE_PROFILE, ESV.INF, props)
        return Outgoing(encode(frame), to)

    def poll(self) -> list[Outgoing]:
        """Announcements now due: what each object schedules (fixed-time cumulative energy
        after each :00 and :30) and every announced property whose value changed."""
        due = {eoj: obj.due_announcements() for eoj, obj in self.objects.items()}
        return self._changes(list(self.objects.values()), due)

    @staticmethod
    def _announced_values(obj: DeviceObject) -> dict[int, bytes | None]:
        return {epc: _read(obj, epc) for epc in sorted(obj.anno_map)}

    def _changes(self, objects: Sequence[DeviceObject],
                 due: dict[EOJ, tuple[int, ...]] | None = None) -> list[Outgoing]:
        """INF to the multicast group of each object's announced properties (EPC 0x9D)
        that changed since last announced, after those ``due`` on schedule."""
        out = []
        for obj in objects:
            values = self._announced_values(obj)
            before = self._last_announced[obj.eoj]
            self._last_announced[obj.eoj] = values
            scheduled = (due or {}).get(obj.eoj, ())
            changed = [epc for epc, edt in values.items()
                       if edt is not None and edt != before.get(epc) and epc not in scheduled]
            epcs = [*scheduled, *changed]
            if epcs:
                out.append(self.notify(obj.eoj, epcs))
        return out

    def _confirmed(self, frame: Frame, source: Hashable) -> None:
        pending = self.awaiting_confirmation.get(frame.tid)
        if pending is not None and pending[0] == source:
            del self.awaiting_confirmation[frame.tid]
