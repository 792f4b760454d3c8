"""Fixtures of the API tests: one simulated data directory per session, an app per test,
on the embedded state (SQLite) and on the shared state (PostgreSQL, started here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import Api, Dataset, build_dataset
from tests.mdms.conftest import postgres_db, postgres_dsn, postgres_server

__all__ = ["postgres_db", "postgres_dsn", "postgres_server"]  # the MDMS tests' fixtures


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    data = build_dataset(tmp_path_factory.mktemp("api-data"))
    yield data
    data.mdms.close()


@pytest.fixture
def state_url(request: pytest.FixtureRequest) -> str | None:
    """Where the API keeps its access state: None (embedded SQLite, unless a test is
    parametrised with :data:`tests.api.support.BOTH_STATES`) or a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def api(dataset: Dataset, tmp_path: Path, state_url: str | None) -> Iterator[Api]:
    instance = Api(dataset, tmp_path, state_url=state_url)
    yield instance
    instance.close()
