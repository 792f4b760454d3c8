"""The PostgreSQL server smame starts itself: created once, restarted on its data, killed
like a crash, and one clear error when it is not installed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg
import pytest

from smame.servers import postgres
from smame.servers.postgres import LocalPostgres, PostgresMissingError


@pytest.fixture
def server_dir() -> Path:
    # not under pytest's tmp_path: as root the server runs as `postgres`, which must reach it
    path = Path(tempfile.mkdtemp(prefix="smame-pg-test-"))
    path.chmod(0o755)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def test_a_cluster_keeps_its_data_across_a_restart_and_a_kill(server_dir: Path) -> None:
    try:
        server = LocalPostgres(server_dir / "pg")
    except PostgresMissingError as exc:
        pytest.skip(f"PostgreSQL server missing: {exc}")
    with server:
        url = server.create_database("state")
        assert server.create_database("state") == url  # there already: the same database
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n INTEGER)")
            conn.execute("INSERT INTO kept VALUES (7)")
    assert server.pid() is None
    server.start()
    pid = server.pid()
    assert pid is not None
    again = LocalPostgres(server_dir / "pg")  # e.g. `smame cluster down` in another process
    assert again.port == server.port
    assert again.start().pid() == pid  # found running, not started twice
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    server.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5).close()
    server.start()  # after a crash: recovers on the same data
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    finally:
        server.stop()
    with pytest.raises(postgres.PostgresError, match="must be ASCII letters"):
        server.create_database("no; drop")


def test_missing_binaries_are_one_clear_error(monkeypatch, server_dir: Path) -> None:
    monkeypatch.setattr(postgres, "BIN_DIRS", (server_dir / "nowhere",))
    monkeypatch.setenv("PATH", str(server_dir / "nowhere"))
    with pytest.raises(PostgresMissingError, match=r"initdb, pg_ctl.*install postgresql-15"):
        LocalPostgres(server_dir / "pg")
    assert not (server_dir / "pg").exists()  # nothing created
    assert os.listdir(server_dir) == []
