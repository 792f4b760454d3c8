"""Fixtures of the MDMS tests: a data directory with a pinned clock, and PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.servers.postgres import LocalPostgres, PostgresMissingError
from tests.mdms.helpers import START


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START + 5 * 86400)


@pytest.fixture
def mdms(tmp_path: Path, clock: SimulatedClock) -> Iterator[Mdms]:
    service = Mdms(tmp_path / "data", clock=clock)
    yield service
    service.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port."""
    try:
        server = LocalPostgres(Path(tempfile.mkdtemp(prefix="smame-pg-")))
    except PostgresMissingError as exc:
        pytest.skip(f"PostgreSQL server missing: {exc}")
    try:
        with server:
            yield server
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: LocalPostgres) -> str:
    """The ``postgres`` database of the session's cluster."""
    return postgres_server.dsn


@pytest.fixture
def postgres_db(postgres_server: LocalPostgres) -> Iterator[str]:
    """A fresh database in the session's cluster (its URL); dropped after the test."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)
