"""The store owner's job socket: real sockets, a real store, one process."""

from __future__ import annotations

import io
import json
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from smame.mdms import Mdms
from smame.mdms.jobwire import JobServer, submit
from smame.mdms.owner import StoreLock, find_owner, read_owner
from tests.mdms.helpers import day_batch, flat_day


@pytest.fixture
def owner(mdms: Mdms) -> Iterator[JobServer]:
    lock = StoreLock(mdms.data_dir)
    assert lock.try_acquire()
    server = JobServer(mdms, lock).start()
    yield server
    server.stop()
    lock.release()


def _ask(root: Path, line: bytes) -> list[dict]:
    found = find_owner(root)
    assert found is not None
    _, sock = found
    with sock:
        sock.sendall(line)
        sock.shutdown(socket.SHUT_WR)
        return [json.loads(x) for x in sock.makefile("rb")]


def _ingest_params(path: Path) -> dict:
    return {"files": [[path.name, str(path)]], "simulations": [], "validate": True,
            "data": "store"}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200).filter(lambda b: b"\n" not in b))
def test_a_malformed_request_gets_one_error_and_the_owner_keeps_working(owner, line):
    answer = _ask(owner.root, line + b"\n")
    assert len(answer) == 1
    assert "error" in answer[0]


def test_unknown_jobs_and_non_objects_are_refused(owner):
    good_console = '"console": {"width": 80, "color_system": null, "terminal": false}'
    for line in (b'{"job": "rm -rf", "params": {}}\n', b'[1, 2]\n', b'"ingest"\n',
                 b'{"job": ["vee"], "params": {}}\n', b'{"job": "vee"}\n',
                 b'{"job": "vee", "params": [], %s}\n' % good_console.encode(),
                 b'{"job": "vee", "params": {}, "console": {"width": "wide"}}\n',
                 b'{"job": "vee", "params": {}, "console": {"color_system": "ansi"}}\n'):
        assert _ask(owner.root, line) == [
            {"error": "the store owner got a malformed job request"}]


def test_a_submitted_ingest_lands_and_prints_what_it_would_alone(owner, mdms, tmp_path):
    path = tmp_path / "day.parquet"
    pq.write_table(day_batch(flat_day(meters=3)), path)
    found = find_owner(owner.root)
    assert found is not None
    out = Console(file=(text := io.StringIO()), width=80, soft_wrap=True, highlight=False)
    assert submit(*found, "ingest", _ingest_params(path), out) == 0
    assert text.getvalue() == ("day.parquet: 291 rows, 291 new\n"
                          "ingested 291 rows, 291 stored in store\n")
    assert mdms.last_version() == 1
    again = find_owner(owner.root)
    assert again is not None
    assert submit(*again, "ingest", _ingest_params(path), out) == 0
    assert "(already ingested)" in text.getvalue()
    assert mdms.last_version() == 1


def test_a_stopped_owner_is_withdrawn(mdms):
    lock = StoreLock(mdms.data_dir)
    assert lock.try_acquire()
    server = JobServer(mdms, lock).start()
    socket_file = read_owner(mdms.data_dir).socket
    server.stop()
    lock.release()
    assert read_owner(mdms.data_dir) is None
    assert not socket_file.exists()
    assert find_owner(mdms.data_dir) is None



def test_an_owner_too_deep_for_a_socket_path_listens_in_a_private_temporary_directory(
        tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "data"
    with Mdms(deep) as mdms:
        lock = StoreLock(deep)
        assert lock.try_acquire()
        server = JobServer(mdms, lock).start()
        try:
            owner = read_owner(deep)
            assert owner is not None
            assert owner.socket.parent.parent == Path(tempfile.gettempdir())
            assert stat.S_IMODE(owner.socket.parent.stat().st_mode) == 0o700
            found = find_owner(deep)
            assert found is not None
            found[1].close()
        finally:
            server.stop()
            lock.release()
        assert not owner.socket.parent.exists()
