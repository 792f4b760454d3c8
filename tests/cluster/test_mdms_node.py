"""An MDMS shard process (`smame api serve --consume`) whose bus goes missing stops, saying
why, instead of serving a shard nobody feeds."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from smame.mdms.sharded import ShardedMdms
from smame.mdms.shards import ShardMap


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_shard_whose_bus_is_unreachable_stops_with_one_line(tmp_path: Path) -> None:
    root = tmp_path / "mdms"
    ShardedMdms.create(root, ShardMap.even(1, 100_000_001, 10)).close()
    served = subprocess.run(
        [sys.executable, "-m", "smame", "api", "serve", "--data", str(root / "shard-000"),
         "--port", "0", "--consume", f"nats://127.0.0.1:{_closed_port()}", "--shard", "0"],
        capture_output=True, text=True, timeout=120)
    stopped = [line for line in served.stderr.splitlines() if "bus consumer stopped" in line]
    assert len(stopped) == 1, served.stderr
    assert stopped[0].startswith("error: the bus consumer stopped (")
    assert not (root / "shard-000" / "mdms-owner.json").exists()  # the owner withdrew


def test_consume_needs_its_shard_and_the_shard_directory(tmp_path: Path) -> None:
    root = tmp_path / "mdms"
    ShardedMdms.create(root, ShardMap.even(2, 100_000_001, 10)).close()
    for args, message in (
            (["--data", str(root / "shard-000"), "--consume", "nats://127.0.0.1:4222"],
             "--consume and --shard go together"),
            (["--data", str(root / "shard-000"), "--consume", "nats://127.0.0.1:4222",
              "--shard", "1"], "is not shard 1's directory"),
            (["--data", str(root / "shard-000"), "--shard", "0", "--dask", "tcp://h:8786"],
             "--dask needs --consume and --shard")):
        result = subprocess.run([sys.executable, "-m", "smame", "api", "serve", "--port", "0",
                                 *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
