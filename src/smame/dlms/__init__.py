"""The meter side of the A-route: a DLMS/COSEM (IEC 62056) server, sans-I/O (SPEC M1–M8, S14).

Public API for the head-end and the simulator:

* :class:`MeterEndpoint` — the server of one meter; ``endpoint.connection()`` gives a
  sans-I/O :class:`ServerConnection` (``receive_data`` / ``data_to_send``);
* :func:`serve_meter`, :class:`PushSender` — asyncio TCP listener and UDP push sender;
* :func:`build_interval_push`, :func:`build_last_gasp_push` — ciphered data-notifications;
  :func:`open_push`, :func:`parse_interval_push`, :func:`parse_last_gasp_push` read them;
* :class:`MeterKeys`, :data:`DEMO_KEYS`, :func:`load_keys`, :func:`system_title_of`.

``docs/obis.md`` lists the objects.
"""

import logging

import structlog

from smame.dlms.aio import DEFAULT_PORT, PushSender, serve_meter
from smame.dlms.keys import load_keys
from smame.dlms.push import (
    ClosedInterval,
    PushScheduler,
    build_interval_push,
    build_last_gasp_push,
    open_push,
    parse_interval_push,
    parse_last_gasp_push,
    push_frame,
)
from smame.dlms.security import DEMO_KEYS, MeterKeys, MeterSecurity, meter_id_of, system_title_of
from smame.dlms.server import MeterEndpoint, ServerConfig, ServerConnection

__all__ = [
    "DEFAULT_PORT",
    "DEMO_KEYS",
    "ClosedInterval",
    "MeterEndpoint",
    "MeterKeys",
    "MeterSecurity",
    "PushScheduler",
    "PushSender",
    "ServerConfig",
    "ServerConnection",
    "build_interval_push",
    "build_last_gasp_push",
    "load_keys",
    "meter_id_of",
    "open_push",
    "parse_interval_push",
    "parse_last_gasp_push",
    "push_frame",
    "serve_meter",
    "system_title_of",
]

# dlms-cosem logs every APDU through structlog at debug and info level, deciphered: the
# plaintext of ciphered traffic must not reach any log (SPEC S14). Only warnings pass.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
