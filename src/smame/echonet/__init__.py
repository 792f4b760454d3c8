"""ECHONET Lite for the B-route (SPEC M5, M8): codec, node, smart meter object, client.

The codec (:mod:`~smame.echonet.frame`, :mod:`~smame.echonet.propmap`,
:mod:`~smame.echonet.edt`) and the node (:mod:`~smame.echonet.node`) are sans-I/O;
:mod:`~smame.echonet.udp` and :mod:`smame.skstack` carry their bytes.
"""

from smame.echonet.frame import (
    EHD_ARBITRARY,
    EHD_SPECIFIED,
    EOJ,
    ESV,
    ArbitraryFrame,
    Frame,
    FrameError,
    Property,
    decode,
    decode_frame,
    encode,
)
from smame.echonet.node import MULTICAST, Node, Outgoing
from smame.echonet.objects import NODE_PROFILE, DeviceObject, NodeProfile, PropertyDef
from smame.echonet.propmap import decode_property_map, encode_property_map
from smame.echonet.smartmeter import SMART_METER, SmartMeterObject

__all__ = [
    "EHD_ARBITRARY",
    "EHD_SPECIFIED",
    "EOJ",
    "ESV",
    "MULTICAST",
    "NODE_PROFILE",
    "SMART_METER",
    "ArbitraryFrame",
    "DeviceObject",
    "Frame",
    "FrameError",
    "Node",
    "NodeProfile",
    "Outgoing",
    "Property",
    "PropertyDef",
    "SmartMeterObject",
    "decode",
    "decode_frame",
    "decode_property_map",
    "encode",
    "encode_property_map",
]
