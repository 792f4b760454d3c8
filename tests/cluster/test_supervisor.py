"""The deployment supervisor over real `smame api serve` processes."""

from __future__ import annotations

import socket
import stat
import sys
import urllib.request
from pathlib import Path

import pytest

from smame.cluster.supervisor import STATE_FILE, ClusterError, Part, Running, running, start, stop
from smame.mdms import Mdms

SMAME = (sys.executable, "-m", "smame")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(name: str, data: Path) -> Part:
    port = _free_port()
    return Part(name, (*SMAME, "api", "serve", "--data", str(data), "--port", str(port)),
                f"http://127.0.0.1:{port}", port)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    Mdms(tmp_path / "data").close()
    return tmp_path / "data"


@pytest.fixture
def other_store(tmp_path: Path) -> Path:
    Mdms(tmp_path / "other").close()
    return tmp_path / "other"


def test_parts_listen_after_start_and_are_gone_after_stop(tmp_path: Path, store: Path,
                                                          other_store: Path) -> None:
    root = tmp_path / "cluster"
    parts = [_api("api-0", store), _api("api-1", other_store)]
    started = start(parts, root)
    try:
        for part in parts:
            with urllib.request.urlopen(f"{part.url}/v1/openapi.json", timeout=10) as answer:
                assert answer.status == 200
        assert [p.name for p in running(root)] == ["api-0", "api-1"]
        assert stat.S_IMODE((root / STATE_FILE).stat().st_mode) == 0o600
    finally:
        assert stop(root) == ["api-1", "api-0"]
    assert not any(p.alive() for p in started)
    assert not (root / STATE_FILE).exists()


def test_a_part_that_fails_stops_the_ones_started_and_names_its_error(
        tmp_path: Path, store: Path) -> None:
    root = tmp_path / "cluster"
    with pytest.raises(ClusterError, match=r"api-1 exited with status 2 while starting: "
                                           r"error: --data .* does not exist"):
        start([_api("api-0", store), _api("api-1", tmp_path / "typo")], root)
    assert running(root) == []
    assert not (tmp_path / "typo").exists()


def test_a_second_start_in_the_same_root_is_refused(tmp_path: Path, store: Path) -> None:
    root = tmp_path / "cluster"
    start([_api("api-0", store)], root)
    try:
        with pytest.raises(ClusterError, match="already runs"):
            start([_api("api-1", store)], root)
    finally:
        stop(root)


def test_a_pid_reused_by_another_process_is_not_taken_for_the_part() -> None:
    import os

    me = Running("x", os.getpid(), 0, "", "")
    assert not me.alive()  # the same pid, another start time


def test_stop_without_a_deployment_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no deployment"):
        stop(tmp_path)
