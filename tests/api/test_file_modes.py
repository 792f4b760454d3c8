"""Files with secrets or personal data are owner-only (SPEC S14)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from smame.api import ApiConfig, ApiState
from smame.api.tokens import load_or_create_key
from smame.clock import SimulatedClock
from smame.hes.keystore import KeyStore, KeyStoreError, MasterKey
from smame.mdms import Mdms
from smame.store.private import PrivateFileError
from tests.api.support import START


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_api_state_files_are_created_owner_only(dataset, tmp_path: Path) -> None:
    os.umask(0o022)  # the usual umask, which alone would give 0644
    state = ApiState.open(ApiConfig(tmp_path, secret_cost=2**4), dataset.mdms,
                          SimulatedClock(START))
    try:
        state.clients.add("operator", "distribution", None)
        state.audit.append("test")
    finally:
        state.close()
    folder = tmp_path / "api"
    assert _mode(folder) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    for name in ("access.db", "signing.key", "audit.key", "audit.log", "audit.log.head"):
        assert name in files
    for path in folder.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == expected, (path.name, oct(_mode(path)))


def test_looser_databases_are_tightened_and_looser_keys_refused(dataset,
                                                                tmp_path: Path) -> None:
    config = ApiConfig(tmp_path, secret_cost=2**4)
    ApiState.open(config, dataset.mdms, SimulatedClock(START)).close()
    folder = tmp_path / "api"
    os.chmod(folder, 0o755)
    os.chmod(folder / "access.db", 0o644)
    os.chmod(folder / "audit.log", 0o644)
    ApiState.open(config, dataset.mdms, SimulatedClock(START)).close()
    assert _mode(folder) == 0o700
    assert _mode(folder / "access.db") == 0o600
    assert _mode(folder / "audit.log") == 0o600

    os.chmod(folder / "signing.key", 0o644)
    with pytest.raises(PrivateFileError, match=r"signing\.key is accessible by others "
                                               r"\(mode 0644\).*chmod 600"):
        ApiState.open(config, dataset.mdms, SimulatedClock(START))
    os.chmod(folder / "signing.key", 0o600)
    os.chmod(folder / "audit.key", 0o640)
    with pytest.raises(PrivateFileError, match=r"audit\.key"):
        load_or_create_key(folder / "audit.key")


def test_registry_catalog_is_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)
    mdms = Mdms(tmp_path / "data", clock=SimulatedClock(START))
    mdms.close()
    assert _mode(tmp_path / "data") == 0o700
    catalog = next((tmp_path / "data").glob("*.duckdb"))
    assert _mode(catalog) == 0o600
    os.chmod(catalog, 0o644)
    Mdms(tmp_path / "data", clock=SimulatedClock(START)).close()
    assert _mode(catalog) == 0o600


def test_head_end_key_store_is_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)
    master = MasterKey.generate(tmp_path / "master.key")
    store = KeyStore(tmp_path / "keys.db", master)
    store.close()
    assert _mode(tmp_path / "master.key") == 0o600
    for path in tmp_path.glob("keys.db*"):
        assert _mode(path) == 0o600, path.name
    os.chmod(tmp_path / "keys.db", 0o664)
    KeyStore(tmp_path / "keys.db", master).close()
    assert _mode(tmp_path / "keys.db") == 0o600
    os.chmod(tmp_path / "master.key", 0o644)
    with pytest.raises(KeyStoreError, match=r"master\.key is accessible by others"):
        MasterKey.load(tmp_path / "master.key")
