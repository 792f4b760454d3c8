"""The API's own state in SQLite: clients, consents, commands (SPEC S6, S9, S14).

SQLite, because the ``smame clients`` and ``smame consents`` commands change it while a
server runs: each connection sees the others' commits, and :meth:`AccessDb.generation`
tells the caches of the server when anything changed, in this process or another.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from smame.store.private import private_dir, tighten, touch_private

__all__ = ["AccessDb"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    party TEXT,
    secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS consents (
    consent_id TEXT PRIMARY KEY,
    sp_id TEXT NOT NULL,
    grantee TEXT NOT NULL,
    categories TEXT NOT NULL,
    purpose TEXT NOT NULL,
    data_from TEXT NOT NULL,
    data_to TEXT,
    expires_at REAL,
    customer_ref TEXT,
    granted_at REAL NOT NULL,
    granted_by TEXT NOT NULL,
    revoked_at REAL,
    revoked_by TEXT
);
CREATE INDEX IF NOT EXISTS consents_by_grantee ON consents (grantee, sp_id);
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    meter_ids TEXT NOT NULL,
    params TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    status TEXT NOT NULL,
    needs_approval INTEGER NOT NULL,
    approval_reason TEXT,
    decided_by TEXT,
    decided_at REAL,
    hes_correlation_id TEXT,
    finished_at REAL,
    results TEXT
);
"""

_ADDED_COLUMNS = {
    "commands": {"approval_reason": "TEXT"},
    "consents": {"customer_id": "TEXT", "confirmed_by": "TEXT"},
}
"""Columns added after the first release: added to an older database when it is opened."""


class AccessDb:
    """One SQLite database, shared by the threads of a process (a lock serialises them)."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        touch_private(path)  # client secrets and consents: owner-only (S14)
        for side in ("-wal", "-shm"):
            tighten(path.with_name(path.name + side))
        self.path = path
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                    timeout=10.0)
        self._con.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._local_writes = 0
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.executescript(_SCHEMA)
            self._add_columns()

    def _add_columns(self) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in self._con.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name not in have:
                    self._con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, tuple(params)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns the rows it changed."""
        with self._lock:
            cursor = self._con.execute(sql, tuple(params))
            self._local_writes += 1
            return cursor.rowcount

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
            self._local_writes += 1

    def generation(self) -> tuple[int, int]:
        """Changes when this process or any other commits a change."""
        with self._lock:
            other = self._con.execute("PRAGMA data_version").fetchone()[0]
            return int(other), self._local_writes
