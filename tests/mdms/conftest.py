"""Fixtures of the MDMS tests: a data directory with a pinned clock, and PostgreSQL."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smame.clock import SimulatedClock
from smame.mdms import Mdms
from tests.mdms.helpers import START


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START + 5 * 86400)


@pytest.fixture
def mdms(tmp_path: Path, clock: SimulatedClock) -> Iterator[Mdms]:
    service = Mdms(tmp_path / "data", clock=clock)
    yield service
    service.close()


_PG_BIN_DIRS = [Path("/usr/lib/postgresql/15/bin")]


def _pg_bin() -> Path | None:
    for directory in _PG_BIN_DIRS:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port.

    PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres``
    (or ``nobody``) account.
    """
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="smame-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"
        account = pwd.getpwnam(user)
        os.chown(base, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, port = base / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "smame",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], check=True,
                       capture_output=True, env=env)
        options = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                        "-l", str(base / "log"), "-w", "-t", "60", "start"], check=True,
                       capture_output=True, env=env)
        yield f"host=127.0.0.1 port={port} user=smame dbname=postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, env=env)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_dsn: str) -> Iterator[str]:
    """A fresh database in the session's cluster; dropped after the test."""
    import psycopg

    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
