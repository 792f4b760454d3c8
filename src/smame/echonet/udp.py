"""ECHONET Lite over UDP/IPv4: a thin asyncio adapter around :class:`~smame.echonet.node.Node`.

The node listens on ``host:3610`` and, where the host allows, on the multicast group
224.0.23.0 on the interface of ``host``. Announcements go to the group from ``host``, so a
node on 127.0.0.2 keeps its multicast on the loopback interface. Responses go to the
source address and port of the request (port 3610 for conforming controllers).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Hashable

from smame.echonet.node import MULTICAST, Node, Outgoing

__all__ = ["ECHONET_PORT", "MULTICAST_GROUP", "UdpNode", "open_udp_node"]

ECHONET_PORT = 3610
MULTICAST_GROUP = "224.0.23.0"
_IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
log = logging.getLogger(__name__)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: UdpNode) -> None:
        self._endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._endpoint.handle(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class UdpNode:
    """A node bound to ``(host, port)``; ``joined`` tells whether multicast is received."""

    def __init__(self, node: Node, host: str, port: int) -> None:
        self.node = node
        self.address = (host, port)
        self.joined = False
        self.sent = 0
        self._unicast: asyncio.DatagramTransport | None = None
        self._group: asyncio.DatagramTransport | None = None

    def handle(self, data: bytes, addr: tuple) -> None:
        if (addr[0], addr[1]) == self.address:
            return  # our own announcement, looped back by the multicast group
        for out in self.node.receive(data, (addr[0], addr[1])):
            self.send(out)

    def send(self, out: Outgoing) -> None:
        """Send one frame of the node; MULTICAST goes to 224.0.23.0 on the node's port."""
        if self._unicast is None:
            return
        to: Hashable = out.to
        destination = (MULTICAST_GROUP, self.address[1]) if to is MULTICAST else to
        self._unicast.sendto(out.data, destination)
        self.sent += 1

    def close(self) -> None:
        for transport in (self._unicast, self._group):
            if transport is not None:
                transport.close()
        self._unicast = self._group = None


def _unicast_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if host not in ("", "0.0.0.0"):
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(host))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.setblocking(False)
    return sock


def _group_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
        sock.bind((MULTICAST_GROUP, port))
        interface = socket.inet_aton(host or "0.0.0.0")
        membership = struct.pack("=4s4s", socket.inet_aton(MULTICAST_GROUP), interface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def open_udp_node(node: Node, host: str, port: int = ECHONET_PORT,
                        multicast: bool = True) -> UdpNode:
    """Bind ``node`` to ``host:port`` (IPv4) and join 224.0.23.0 where the host allows.

    Raises OSError when the unicast address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    endpoint = UdpNode(node, host, port)
    sock = _unicast_socket(host, port)
    endpoint.address = sock.getsockname()[:2]
    endpoint._unicast, _ = await loop.create_datagram_endpoint(lambda: _Protocol(endpoint),
                                                               sock=sock)
    if multicast:
        try:
            group = _group_socket(host, endpoint.address[1])
        except OSError as exc:
            log.warning("multicast group %s not joined on %s: %s", MULTICAST_GROUP, host, exc)
        else:
            endpoint._group, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(endpoint), sock=group)
            endpoint.joined = True
    return endpoint
