"""The API's own state: clients, consents, commands, rate-limit buckets (SPEC S6, S9, S14).

Embedded by default in one SQLite file, because the ``smame clients`` and ``smame
consents`` commands change it while a server runs: each connection sees the others'
commits. With a PostgreSQL URL (``--state postgresql://...``) several API processes, on
one machine or many, share it: the same clients, consents, command book and rate-limit
buckets. :meth:`AccessDb.generation` tells the caches of a server when anything changed,
in this process or another. One schema, in SQL both engines take.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from smame.store.private import private_dir, tighten, touch_private

__all__ = ["AccessDb", "PostgresAccessDb", "SqliteAccessDb", "is_state_url", "open_access_db"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    party TEXT,
    secret_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
)""",
    """CREATE TABLE IF NOT EXISTS consents (
    consent_id TEXT PRIMARY KEY,
    sp_id TEXT NOT NULL,
    grantee TEXT NOT NULL,
    categories TEXT NOT NULL,
    purpose TEXT NOT NULL,
    data_from TEXT NOT NULL,
    data_to TEXT,
    expires_at DOUBLE PRECISION,
    customer_ref TEXT,
    granted_at DOUBLE PRECISION NOT NULL,
    granted_by TEXT NOT NULL,
    revoked_at DOUBLE PRECISION,
    revoked_by TEXT
)""",
    "CREATE INDEX IF NOT EXISTS consents_by_grantee ON consents (grantee, sp_id)",
    """CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    meter_ids TEXT NOT NULL,
    params TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    needs_approval INTEGER NOT NULL,
    approval_reason TEXT,
    decided_by TEXT,
    decided_at DOUBLE PRECISION,
    hes_correlation_id TEXT,
    finished_at DOUBLE PRECISION,
    results TEXT
)""",
    """CREATE TABLE IF NOT EXISTS rate_buckets (
    bucket TEXT NOT NULL,
    kind TEXT NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    granted INTEGER NOT NULL,
    PRIMARY KEY (bucket, kind)
)""",
    """CREATE TABLE IF NOT EXISTS shared_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS access_changes (
    id INTEGER PRIMARY KEY,
    n BIGINT NOT NULL
)""",
    "INSERT INTO access_changes (id, n) VALUES (1, 0) ON CONFLICT DO NOTHING",
)
"""The tables (portable SQL: SQLite and PostgreSQL). ``rate_buckets`` and ``shared_keys``
are used on PostgreSQL only (the embedded API keeps buckets in memory and keys in files);
``access_changes`` counts commits there, for :meth:`AccessDb.generation`."""

_ADDED_COLUMNS = {
    "commands": {"approval_reason": "TEXT"},
    "consents": {"customer_id": "TEXT", "confirmed_by": "TEXT"},
}
"""Columns added after the first release: added to an older database when it is opened."""

_STATE_SCHEMES = ("postgresql://", "postgres://")


def is_state_url(where: str | None) -> bool:
    """Whether ``where`` names a PostgreSQL database (``postgresql://...``)."""
    return where is not None and where.startswith(_STATE_SCHEMES)


class AccessDb:
    """The access database, shared by the threads of a process (a lock serialises them).

    ``query`` and ``execute`` take ``?`` placeholders on either engine. Inside
    :meth:`transaction` they join that transaction.
    """

    dialect = ""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one statement, each indexable by column name."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (in its own transaction unless inside one); returns the rows
        it changed."""
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One transaction for the statements run inside it, in this thread."""
        raise NotImplementedError

    def lock(self, key: str) -> None:
        """Inside :meth:`transaction`: hold ``key`` until it ends, against every process
        (a check followed by a write then sees no other process's write between)."""

    def generation(self) -> tuple[int, int]:
        """Changes when this process or any other commits a change."""
        raise NotImplementedError

    def json_length(self, column: str) -> str:
        """SQL for the length of the JSON array in text ``column``."""
        return f"json_array_length({column})"

    def close(self) -> None:
        raise NotImplementedError


class SqliteAccessDb(AccessDb):
    """The embedded access database: one SQLite file (owner-only, S14)."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        private_dir(path.parent)
        touch_private(path)  # client secrets and consents: owner-only (S14)
        for side in ("-wal", "-shm"):
            tighten(path.with_name(path.name + side))
        self.path = path
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                    timeout=10.0)
        self._con.row_factory = sqlite3.Row
        self._local_writes = 0
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._con.execute(statement)
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
        with self._lock:
            cursor = self._con.execute(sql, tuple(params))
            self._local_writes += 1
            return cursor.rowcount

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
            try:
                yield
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
            self._local_writes += 1

    def generation(self) -> tuple[int, int]:
        with self._lock:
            other = self._con.execute("PRAGMA data_version").fetchone()[0]
            return int(other), self._local_writes


class PostgresAccessDb(AccessDb):
    """The access database in PostgreSQL, shared by every API process that names it.

    Every committed write also counts up ``access_changes``, in the same transaction:
    that counter is the generation all processes see.
    """

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        super().__init__()
        self.url = url
        self._connect = lambda: psycopg.connect(url, autocommit=True, row_factory=dict_row)
        try:
            self._live = self._connect()
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()
            raise ConnectionError("cannot reach the PostgreSQL state database: "
                                  f"{reason[-1] if reason else exc}") from None
        self._depth = 0
        with self._lock, self._conn.transaction():
            # two processes starting at once would race on CREATE TABLE IF NOT EXISTS
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('smame-access-schema'))")
            for statement in _SCHEMA:
                self._conn.execute(statement)
            for table, columns in _ADDED_COLUMNS.items():
                for name, kind in columns.items():
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "
                                       f"{name} {kind}")

    @property
    def _conn(self) -> Any:
        """The connection; a new one once the old one broke (the server restarted, say):
        the statement that met the break failed, the next ones run."""
        if self._live.broken and not self._depth:
            self._live.close()
            self._live = self._connect()
        return self._live

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def close(self) -> None:
        with self._lock:
            self._live.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return self._conn.execute(self._sql(sql), tuple(params)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock, self.transaction():
            return self._conn.execute(self._sql(sql), tuple(params)).rowcount

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                yield
                return
            conn = self._conn
            self._depth += 1
            try:
                with conn.transaction():
                    yield
                    conn.execute("UPDATE access_changes SET n = n + 1 WHERE id = 1")
            finally:
                self._depth -= 1

    def lock(self, key: str) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))

    def generation(self) -> tuple[int, int]:
        rows = self.query("SELECT n FROM access_changes WHERE id = 1")
        return int(rows[0]["n"]), 0

    def json_length(self, column: str) -> str:
        return f"json_array_length({column}::json)"

    def take_bucket(self, sql: str, params: dict[str, Any]) -> dict[str, Any]:
        """The row of one rate-limit statement (psycopg ``%(name)s`` placeholders): in
        its own transaction, not counted as a change (no cache cares)."""
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        if row is None:
            raise RuntimeError("a rate-limit statement returned no row")
        return row

    def shared_key(self, name: str, size: int = 32) -> bytes:
        """The key ``name`` every process of this state uses (made once, by the first)."""
        self.execute("INSERT INTO shared_keys (name, value) VALUES (?, ?) "
                     "ON CONFLICT DO NOTHING", [name, secrets.token_hex(size)])
        rows = self.query("SELECT value FROM shared_keys WHERE name = ?", [name])
        return bytes.fromhex(rows[0]["value"])


def open_access_db(state_dir: Path, url: str | None = None, name: str = "access.db"
                   ) -> AccessDb:
    """The access database: PostgreSQL at ``url`` if given, else SQLite file ``name`` in
    ``state_dir``."""
    if url is None:
        return SqliteAccessDb(state_dir / name)
    if not is_state_url(url):
        raise ValueError(f"state {url!r} is not a PostgreSQL URL (postgresql://...)")
    return PostgresAccessDb(url)
