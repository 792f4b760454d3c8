"""Thin asyncio adapters around the sans-I/O server: a TCP listener speaking the wrapper
(IEC 62056-47, port 4059 by default) and a UDP sender for pushes (SPEC S1, M6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from smame.dlms.cosem.control import PushRequested, parse_destination
from smame.dlms.push import push_frame
from smame.dlms.server import MeterEndpoint, ServerConnection, ServerEvent

__all__ = ["DEFAULT_PORT", "PushSender", "serve_meter"]

DEFAULT_PORT = 4059
log = logging.getLogger(__name__)


class PushSender:
    """Sends push APDUs, wrapped, as UDP datagrams."""

    def __init__(self, transport: asyncio.DatagramTransport, source_wport: int = 1,
                 destination_wport: int = 1) -> None:
        self._transport = transport
        self.source_wport = source_wport
        self.destination_wport = destination_wport
        self.sent = 0

    @classmethod
    async def open(cls, local_host: str = "0.0.0.0", **kwargs) -> PushSender:
        loop = asyncio.get_running_loop()
        transport, _protocol = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(local_host, 0))
        return cls(transport, **kwargs)

    def send(self, destination: str, apdu: bytes) -> None:
        """Send to ``host:port``; a bad destination is logged and dropped."""
        try:
            address = parse_destination(destination)
        except ValueError as exc:
            log.warning("push not sent: %s", exc)
            return
        self._transport.sendto(push_frame(apdu, self.source_wport, self.destination_wport),
                               address)
        self.sent += 1

    def close(self) -> None:
        self._transport.close()


class _DlmsProtocol(asyncio.Protocol):
    def __init__(self, endpoint: MeterEndpoint, on_event: Callable[[ServerEvent], None],
                 idle_timeout: float | None) -> None:
        self._endpoint = endpoint
        self._on_event = on_event
        self._idle_timeout = idle_timeout
        self._conn: ServerConnection | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self._transport = transport
        self._conn = self._endpoint.connection()
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._idle_timeout and self._transport is not None:
            self._timer = asyncio.get_running_loop().call_later(self._idle_timeout,
                                                                self._transport.close)

    def data_received(self, data: bytes) -> None:
        assert self._conn is not None
        assert self._transport is not None
        self._arm()
        events = self._conn.receive_data(data)
        out = self._conn.data_to_send()
        if out:
            self._transport.write(out)
        for event in events:
            self._on_event(event)
        if self._conn.should_close:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._conn is not None:
            self._conn.close()


async def serve_meter(
    endpoint: MeterEndpoint,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    push_sender: PushSender | None = None,
    on_event: Callable[[ServerEvent], None] | None = None,
    idle_timeout: float | None = None,
) -> asyncio.Server:
    """Listen for DLMS clients of one meter. Port 0 picks a free port (see
    ``server.sockets[0].getsockname()``). ``push`` methods invoked over the connection
    are sent by ``push_sender``; every server event also goes to ``on_event``."""

    def handle(event: ServerEvent) -> None:
        if isinstance(event, PushRequested) and push_sender is not None:
            push_sender.send(event.destination, event.apdu)
        if on_event is not None:
            on_event(event)

    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _DlmsProtocol(endpoint, handle, idle_timeout),
                                    host, port)
