"""The emulated module's peer: the meter's ECHONET Lite node (SPEC M8)."""

from __future__ import annotations

from smame.echonet.node import MULTICAST, Node, Outgoing

__all__ = ["NodeLink"]


def _frames(outgoing: list[Outgoing]) -> list[tuple[bytes, bool]]:
    return [(out.data, out.to is MULTICAST) for out in outgoing]


class NodeLink:
    """Carries SKSENDTO payloads to ``node`` and its answers back as ERXUDP."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def request(self, payload: bytes, source: str) -> list[tuple[bytes, bool]]:
        return _frames(self.node.receive(payload, source))

    def joined(self, hems: str) -> list[tuple[bytes, bool]]:
        """After PANA authentication the meter announces its instance list (0xD5)."""
        return _frames([self.node.announce_instances()])
