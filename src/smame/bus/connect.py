"""One way to connect to the bus: reconnect for ever once connected, give up at first."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client

__all__ = ["FIRST_CONNECT_S", "BusUnreachableError", "connect"]

log = logging.getLogger("smame.bus")
FIRST_CONNECT_S = 10.0
"""How long a process waits for the bus at its start (a server starting beside it)."""


class BusUnreachableError(ConnectionError):
    """No NATS server answered at the URL when the process started."""


async def connect(url: str, first_connect_s: float = FIRST_CONNECT_S) -> Client:
    """A connection to ``url`` that rides out server restarts once made."""
    try:
        return await asyncio.wait_for(
            nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2,
                         allow_reconnect=True, error_cb=_log_connection_error),
            first_connect_s)
    except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
        raise BusUnreachableError(f"no NATS server answers at {url} within "
                                  f"{first_connect_s:g} s ({exc or type(exc).__name__})"
                                  ) from None


async def _log_connection_error(exc: Exception) -> None:
    log.warning("bus connection: %s", exc or type(exc).__name__)
