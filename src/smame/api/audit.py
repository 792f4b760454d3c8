"""The audit log: append-only, hash-chained, keyed (SPEC S14).

Every data access, command, approval, consent change and token request is one JSON line.
Each entry carries the hash of the one before (``prev``), its own hash over its content
and ``prev`` (``hash``), and an HMAC of that hash under the audit key (``mac``). Editing,
inserting, deleting or reordering a line breaks the chain at that line; recomputing the
chain needs the key. A head file holds the newest sequence number and hash, so cutting
entries off the end is detected too; ``smame audit head`` prints it for safekeeping
elsewhere, and ``smame audit verify --expect-head`` checks against such a copy.

Processes share the log safely: appends hold an exclusive ``flock`` and pick up entries
another process appended since. A writer that died mid-line leaves an incomplete last line;
the next append moves it to a side file (``audit.log.torn-<offset>``), cuts it off and
records an ``audit_recovered`` entry with its length and SHA-256, so the chain stays whole
and nothing is thrown away.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smame.api.tokens import load_or_create_key
from smame.clock import Clock
from smame.store.private import private_dir, tighten

__all__ = ["GENESIS", "AuditLog", "AuditReport", "verify_log"]

GENESIS = "0" * 64
_HEAD_WIDTH = 256


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def _chain_hash(prev: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + _canonical(body)).hexdigest()


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


@dataclass
class AuditReport:
    """What :func:`verify_log` found."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """Appends entries to ``path`` (JSON lines) with the key at ``key_path``."""

    def __init__(self, path: Path, key_path: Path, clock: Clock, sync: bool = False) -> None:
        private_dir(path.parent)
        self.path = path
        self.head_path = path.with_name(path.name + ".head")
        self._key = load_or_create_key(key_path)
        tighten(path)
        tighten(self.head_path)
        self.clock = clock
        self.sync = sync
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self._end = -1  # file size after our last append: another writer changes it
        self._seq = 0
        self._prev = GENESIS

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)
            os.close(self._head_fd)

    def append(self, action: str, **fields: Any) -> dict[str, Any]:
        """Write one entry; returns it with its sequence number and hashes.

        Raises OSError if it cannot be written: callers refuse the request then (the log
        is written before any data leaves).
        """
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self._fd).st_size
                if size != self._end:
                    torn = _torn_tail(self._fd, size)
                    if torn:
                        size = self._set_torn_tail_aside(size, torn)
                    self._seq, self._prev = _tail(self._fd, size)
                    if torn:
                        size = self._write(size, "audit_recovered", {
                            "torn_bytes": len(torn),
                            "torn_sha256": hashlib.sha256(torn).hexdigest()})[1]
                return self._write(size, action, fields)[0]
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _write(self, size: int, action: str, fields: dict[str, Any]) -> tuple[dict, int]:
        """Append one entry to the log of ``size`` bytes (lock held); the entry, new size."""
        body = {"seq": self._seq + 1,
                "time": datetime.fromtimestamp(self.clock.time(), UTC).isoformat(
                    timespec="milliseconds"),
                "action": action, **fields, "prev": self._prev}
        raw = _canonical(body)  # what the hash covers; verify re-encodes the same
        digest = hashlib.sha256(self._prev.encode() + raw).hexdigest()
        mac = _mac(self._key, digest)
        line = raw[:-1] + f',"hash":"{digest}","mac":"{mac}"}}\n'.encode()
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError("short write to the audit log")
        if self.sync:
            os.fsync(self._fd)
        self._end = size + written
        self._seq, self._prev = body["seq"], digest
        head = json.dumps({"seq": self._seq, "hash": digest}).encode()
        os.pwrite(self._head_fd, head.ljust(_HEAD_WIDTH), 0)
        return {**body, "hash": digest, "mac": mac}, self._end

    def _set_torn_tail_aside(self, size: int, torn: bytes) -> int:
        """Keep the incomplete last line a crashed writer left in a side file, cut it off
        the log, and return the log's size. It was never acknowledged: the request that
        wrote it did not complete."""
        aside = self.path.with_name(f"{self.path.name}.torn-{size - len(torn)}")
        with aside.open("wb") as handle:
            handle.write(torn)
            handle.flush()
            os.fsync(handle.fileno())
        os.ftruncate(self._fd, size - len(torn))
        os.fsync(self._fd)
        return size - len(torn)

    def head(self) -> tuple[int, str]:
        """Sequence number and hash of the newest entry (0 and the genesis hash if none)."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                return _tail(self._fd, os.fstat(self._fd).st_size)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def entries(self, after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Entries with sequence number above ``after_seq``, oldest first."""
        out = []
        for entry in _read_entries(self.path):
            if isinstance(entry, dict) and int(entry.get("seq", 0)) > after_seq:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def verify(self, expect_head: str | None = None) -> AuditReport:
        return verify_log(self.path, self._key, expect_head)


def _torn_tail(fd: int, size: int) -> bytes:
    """The bytes after the log's last newline: an entry a crashed writer did not finish."""
    chunk = 4096
    while True:
        start = max(0, size - chunk)
        data = os.pread(fd, size - start, start)
        cut = data.rfind(b"\n")
        if cut >= 0 or start == 0:
            return data[cut + 1:]
        chunk *= 4


def _tail(fd: int, size: int) -> tuple[int, str]:
    """Sequence number and hash of the last complete entry of the log open at ``fd``."""
    if size == 0:
        return 0, GENESIS
    chunk = 4096
    while True:
        start = max(0, size - chunk)
        data = os.pread(fd, size - start, start)
        lines = data.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or start == 0:
            last = json.loads(lines[-1])
            return int(last["seq"]), str(last["hash"])
        chunk *= 4


def _read_entries(path: Path) -> Iterator[dict[str, Any] | str]:
    """Entries of the log; a line that is not a JSON object comes back as a message."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n"):
                yield (f"line {number}: incomplete last line (a writer stopped mid-entry; "
                       "the next append sets it aside)")
                return
            try:
                entry = json.loads(raw)
            except ValueError:
                yield f"line {number}: not JSON"
                continue
            yield entry if isinstance(entry, dict) else f"line {number}: not an entry"


def verify_log(path: Path, key: bytes | None, expect_head: str | None = None) -> AuditReport:
    """Check every entry's chain link, hash and (with ``key``) MAC, and the head file.

    ``expect_head`` is a head hash recorded earlier elsewhere: it must be the hash of
    some entry of the log (the log only grows).
    """
    report = AuditReport()
    head = _read_head(path.with_name(path.name + ".head"), report)
    head_seq = int(head.get("seq", 0)) if head else 0
    prev, seq = GENESIS, 0
    seen_expected = expect_head is None
    for number, entry in enumerate(_read_entries(path), 1):
        if isinstance(entry, str):
            report.problems.append(entry)
            continue
        report.entries += 1
        body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
        where = f"line {number} (seq {entry.get('seq')})"
        if entry.get("seq") != seq + 1:
            report.problems.append(f"{where}: sequence number out of order, expected {seq + 1}")
        if entry.get("prev") != prev:
            report.problems.append(f"{where}: does not link to the entry before it")
        digest = _chain_hash(str(entry.get("prev")), body)
        if entry.get("hash") != digest:
            report.problems.append(f"{where}: content does not match its hash (edited)")
        if key is not None and not hmac.compare_digest(str(entry.get("mac")),
                                                        _mac(key, str(entry.get("hash")))):
            report.problems.append(f"{where}: MAC does not match (hash recomputed without "
                                   "the audit key)")
        seq = entry["seq"] if isinstance(entry.get("seq"), int) else seq + 1
        prev = str(entry.get("hash"))
        if head and seq == head_seq and head.get("hash") != prev:
            report.problems.append(f"{where}: does not match the head file")
        if expect_head is not None and prev == expect_head:
            seen_expected = True
    report.head_seq, report.head_hash = seq, prev
    if head_seq > seq:
        report.problems.append(f"log ends at seq {seq} but the head file records seq "
                               f"{head_seq}: entries were removed from the end")
    if not seen_expected:
        report.problems.append(f"the expected head {expect_head} is not in the log")
    return report


def _read_head(path: Path, report: AuditReport) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        head = json.loads(path.read_bytes().strip() or b"{}")
    except ValueError:
        head = None
    if not isinstance(head, dict):
        report.problems.append("head file is not readable")
        return None
    return head
