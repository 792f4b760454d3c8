"""The head-end's key store: per-meter keys encrypted at rest, invocation counters (SPEC S14).

Keys live in SQLite, each meter's pair sealed with AES-256-GCM under a master key, the
meter id bound as additional data so a sealed pair cannot be moved to another meter. The
master key never touches the database. Keys are ``smame.dlms.MeterKeys``, whose ``repr``
never shows the bytes, so keys cannot reach a log by accident.

Invocation counters survive a restart of the head-end:

* the counter the head-end **sends** with is reserved ahead in blocks: the block's end is
  committed before any counter of the block is used, so a crash skips counters but never
  reuses one (a reused counter would reuse a GCM nonce);
* the highest counter **received** from each meter is committed with :meth:`flush`, which
  the collector calls when it hands readings to its sink.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smame.dlms.security import MeterKeys
from smame.store.private import PrivateFileError, check_key_file, tighten, touch_private

__all__ = ["KeyStore", "KeyStoreError", "MasterKey"]

COUNTER_BLOCK = 1024
SESSION_BUDGET = 512  # APDUs one session may send: association, reads with block transfer
MAX_COUNTER = 0xFFFFFFFF


class KeyStoreError(Exception):
    """The key store cannot do what was asked (wrong master key, unknown meter, ...)."""


class MasterKey:
    """The AES-256 key that seals the meters' keys. Read from a file or the environment."""

    ENV = "SMAME_MASTER_KEY"

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise KeyStoreError("the master key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MasterKey(…)"

    @classmethod
    def generate(cls, path: Path) -> MasterKey:
        """Create a new master key file readable by its owner only."""
        key = AESGCM.generate_key(bit_length=256)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.hex() + "\n")
        return cls(key)

    @classmethod
    def load(cls, path: Path | None = None) -> MasterKey:
        """From ``path`` (hex), else from $SMAME_MASTER_KEY (hex)."""
        if path is not None:
            try:
                check_key_file(path)
            except PrivateFileError as exc:
                raise KeyStoreError(str(exc)) from None
        text = path.read_text().strip() if path is not None else os.environ.get(cls.ENV)
        if not text:
            raise KeyStoreError(f"no master key: give a key file or set ${cls.ENV}")
        try:
            return cls(bytes.fromhex(text))
        except ValueError:
            raise KeyStoreError("the master key must be 64 hexadecimal digits") from None

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], context)
        except InvalidTag:
            raise KeyStoreError("the key store was sealed with another master key") from None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meter_keys (
    meter_id INTEGER PRIMARY KEY,
    sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    meter_id INTEGER PRIMARY KEY,
    send_reserved INTEGER NOT NULL DEFAULT 0,
    received INTEGER NOT NULL DEFAULT -1
);
"""


class KeyStore:
    """Sealed per-meter keys and invocation counters in one SQLite file."""

    def __init__(self, path: Path, master: MasterKey, counter_floor: int = 0) -> None:
        """``counter_floor``: where send counters of a meter new to this store begin. A
        time-based floor keeps counters rising even when a key store is lost and rebuilt."""
        self.path = path
        self._master = master
        self._counter_floor = counter_floor
        touch_private(path)  # sealed keys and counters: owner-only, -wal/-shm alike
        for side in ("-wal", "-shm"):
            tighten(path.with_name(path.name + side))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._cache: dict[int, MeterKeys] = {}
        self._next_send: dict[int, int] = {}
        self._send_limit: dict[int, int] = {}
        self._received: dict[int, int] = {}
        self._dirty: set[int] = set()
        self._check_master()

    def close(self) -> None:
        self.flush()
        self._db.close()

    def _check_master(self) -> None:
        row = self._db.execute("SELECT meter_id, sealed FROM meter_keys LIMIT 1").fetchone()
        if row is not None:
            self._master.open(row[1], _context(row[0]))

    # ------------------------------------------------------------------ keys

    def put(self, meter_id: int, keys: MeterKeys) -> None:
        """Store (or replace) a meter's keys, sealed under the master key."""
        plain = keys.encryption_key + keys.authentication_key
        sealed = self._master.seal(plain, _context(meter_id))
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meter_keys VALUES (?, ?)",
                             (int(meter_id), sealed))
            self._cache[int(meter_id)] = keys

    def put_many(self, items: dict[int, MeterKeys]) -> None:
        rows = []
        for meter_id, keys in items.items():
            plain = keys.encryption_key + keys.authentication_key
            rows.append((int(meter_id), self._master.seal(plain, _context(meter_id))))
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO meter_keys VALUES (?, ?)", rows)
            self._db.execute("COMMIT")
            self._cache.update({int(m): k for m, k in items.items()})

    def get(self, meter_id: int) -> MeterKeys:
        """A meter's keys; :class:`KeyStoreError` for a meter with none."""
        keys = self._cache.get(int(meter_id))
        if keys is not None:
            return keys
        row = self._db.execute("SELECT sealed FROM meter_keys WHERE meter_id = ?",
                               (int(meter_id),)).fetchone()
        if row is None:
            raise KeyStoreError(f"no keys for meter {meter_id}")
        plain = self._master.open(row[0], _context(meter_id))
        keys = MeterKeys(plain[:16], plain[16:])
        self._cache[int(meter_id)] = keys
        return keys

    def meters(self) -> list[int]:
        return [row[0] for row in self._db.execute("SELECT meter_id FROM meter_keys ORDER BY 1")]

    # ------------------------------------------------------------------ counters

    def next_send_counter(self, meter_id: int) -> int:
        """The invocation counter for the next APDU the head-end sends to a meter."""
        meter_id = int(meter_id)
        with self._lock:
            if meter_id not in self._next_send:
                row = self._db.execute("SELECT send_reserved FROM counters WHERE meter_id = ?",
                                       (meter_id,)).fetchone()
                start = row[0] if row else self._counter_floor
                self._next_send[meter_id] = start
                self._send_limit[meter_id] = start
            counter = self._next_send[meter_id]
            if counter > MAX_COUNTER:
                raise KeyStoreError(f"meter {meter_id}: invocation counter exhausted; re-key")
            if counter >= self._send_limit[meter_id]:
                limit = counter + COUNTER_BLOCK
                self._db.execute(
                    "INSERT INTO counters (meter_id, send_reserved) VALUES (?, ?) "
                    "ON CONFLICT(meter_id) DO UPDATE SET send_reserved = excluded.send_reserved",
                    (meter_id, limit))
                self._send_limit[meter_id] = limit
            self._next_send[meter_id] = counter + 1
            return counter

    def begin_session(self, meter_id: int) -> int:
        """First invocation counter of a session; at least :data:`SESSION_BUDGET` counters
        from it are reserved on disk before it is returned. Sessions with one meter must not
        overlap; :meth:`end_session` says where the session stopped."""
        first = self.next_send_counter(meter_id)
        with self._lock:
            if first + SESSION_BUDGET > self._send_limit[int(meter_id)]:
                limit = first + SESSION_BUDGET + COUNTER_BLOCK
                self._db.execute("UPDATE counters SET send_reserved = ? WHERE meter_id = ?",
                                 (limit, int(meter_id)))
                self._send_limit[int(meter_id)] = limit
        return first

    def end_session(self, meter_id: int, next_unused: int) -> None:
        """The session stopped before ``next_unused``; later sessions start there or later."""
        meter_id = int(meter_id)
        with self._lock:
            self._next_send[meter_id] = max(self._next_send.get(meter_id, 0), next_unused)
            if next_unused > self._send_limit.get(meter_id, 0):
                limit = next_unused + COUNTER_BLOCK
                self._db.execute("UPDATE counters SET send_reserved = ? WHERE meter_id = ?",
                                 (limit, meter_id))
                self._send_limit[meter_id] = limit

    def last_received(self, meter_id: int) -> int:
        """Highest invocation counter accepted from a meter, -1 if none."""
        meter_id = int(meter_id)
        if meter_id not in self._received:
            row = self._db.execute("SELECT received FROM counters WHERE meter_id = ?",
                                   (meter_id,)).fetchone()
            self._received[meter_id] = row[0] if row else -1
        return self._received[meter_id]

    def accept_received(self, meter_id: int, counter: int) -> bool:
        """Accept a counter from a meter if it is newer than any before; False for a replay."""
        if counter <= self.last_received(meter_id):
            return False
        self._received[int(meter_id)] = counter
        self._dirty.add(int(meter_id))
        return True

    def flush(self) -> None:
        """Commit the received counters accepted since the last flush."""
        with self._lock:
            if not self._dirty:
                return
            rows = [(m, self._received[m]) for m in self._dirty]
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO counters (meter_id, received) VALUES (?, ?) "
                "ON CONFLICT(meter_id) DO UPDATE SET received = max(received, excluded.received)",
                rows)
            self._db.execute("COMMIT")
            self._dirty.clear()


def _context(meter_id: int) -> bytes:
    return b"smame-meter-keys/1:" + str(int(meter_id)).encode()
