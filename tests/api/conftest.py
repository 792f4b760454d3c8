"""Fixtures of the API tests: one simulated data directory per session, an app per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import Api, Dataset, build_dataset


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    data = build_dataset(tmp_path_factory.mktemp("api-data"))
    yield data
    data.mdms.close()


@pytest.fixture
def api(dataset: Dataset, tmp_path: Path) -> Iterator[Api]:
    instance = Api(dataset, tmp_path)
    yield instance
    instance.close()
