"""The audit log: append-only, hash-chained, keyed (SPEC S14).

Every data access, command, approval, consent change and token request is one JSON line.
Each entry carries the hash of the one before (``prev``), its own hash over its content
and ``prev`` (``hash``), and an HMAC of that hash under the audit key (``mac``). Editing,
inserting, deleting or reordering a line breaks the chain at that line; recomputing the
chain needs the key. A head file holds the newest sequence number and hash with its own
MAC, so cutting entries off the end and rewriting (or deleting) the head is detected too.
What the key cannot prevent — someone holding it rewriting everything, or putting back a
head file saved earlier — is caught by anchors outside the system: ``smame audit head``
prints the head for safekeeping, and signed checkpoints (``smame.api.checkpoint``, written
periodically and by ``smame audit checkpoint``) prove later that an entry is still there.

Processes share the log safely: appends hold an exclusive ``flock`` and pick up entries
another process appended since. A writer that died mid-line leaves an incomplete last line;
the next append moves it to a side file (``audit.log.torn-<offset>``), cuts it off and
records an ``audit_recovered`` entry with its length and SHA-256, so the chain stays whole
and nothing is thrown away.
"""

from __future__ import annotations

import contextlib
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

from smame.api.checkpoint import Checkpoint, CheckpointError, CheckpointSigner
from smame.api.tokens import load_or_create_key
from smame.clock import Clock
from smame.store.private import create_private_file, private_dir, tighten

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


def _head_mac(key: bytes, seq: int, digest: str) -> str:
    """The head file's MAC: binds the newest sequence number to its hash."""
    return _mac(key, f"head:{seq}:{digest}")


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

    def __init__(self, path: Path, key_path: Path, clock: Clock, sync: bool = False,
                 checkpoint_key: Path | None = None,
                 checkpoint_every_s: float | None = None) -> None:
        """``checkpoint_key``: the Ed25519 key signing checkpoints (created if missing);
        with ``checkpoint_every_s`` a checkpoint of the head is also written to
        ``checkpoints/`` beside the log by the first append after each such interval."""
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
        self._signer = CheckpointSigner(checkpoint_key) if checkpoint_key else None
        self._checkpoint_every = checkpoint_every_s
        self._last_checkpoint: float | None = None
        self.checkpoint_dir = path.with_name("checkpoints")

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
                entry, size = self._write(size, action, fields)
                if self._checkpoint_due():
                    self._checkpoint(size)
                return entry
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _checkpoint_due(self) -> bool:
        if self._signer is None or self._checkpoint_every is None:
            return False
        return (self._last_checkpoint is None
                or self.clock.time() - self._last_checkpoint >= self._checkpoint_every)

    def checkpoint(self) -> Checkpoint:
        """Sign the current head, keep it in ``checkpoints/`` and log that it was taken."""
        if self._signer is None:
            raise CheckpointError("this audit log has no checkpoint key")
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self._fd).st_size
                if size != self._end:
                    self._seq, self._prev = _tail(self._fd, size)
                return self._checkpoint(size)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _checkpoint(self, size: int) -> Checkpoint:
        """Sign the head of the log of ``size`` bytes (lock held), write the checkpoint
        file and an ``audit_checkpoint`` entry recording it."""
        assert self._signer is not None
        now = self.clock.time()
        checkpoint = self._signer.sign(self._seq, self._prev, now)
        private_dir(self.checkpoint_dir)
        target = self.checkpoint_dir / f"checkpoint-{checkpoint.seq:012d}.json"
        with contextlib.suppress(FileExistsError):  # the same head signed before
            create_private_file(target, checkpoint.document().encode())
        self._last_checkpoint = now
        self._write(size, "audit_checkpoint", {"checkpoint_seq": checkpoint.seq,
                                               "checkpoint_hash": checkpoint.hash,
                                               "file": target.name})
        return checkpoint

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
        head = json.dumps({"seq": self._seq, "hash": digest,
                           "mac": _head_mac(self._key, self._seq, digest)}).encode()
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

    def verify(self, expect_head: str | None = None,
               checkpoints: tuple[Checkpoint, ...] = ()) -> AuditReport:
        return verify_log(self.path, self._key, expect_head, checkpoints)


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


def verify_log(path: Path, key: bytes | None, expect_head: str | None = None,
               checkpoints: tuple[Checkpoint, ...] = ()) -> AuditReport:
    """Check every entry's chain link, hash and (with ``key``) MAC, the head file (and its
    MAC), and that every signed checkpoint's entry is still in the log unchanged.

    ``expect_head`` is a head hash recorded earlier elsewhere: it must be the hash of
    some entry of the log (the log only grows).
    """
    report = AuditReport()
    head = _read_head(path.with_name(path.name + ".head"), key, report)
    head_seq = int(head.get("seq", 0)) if head else 0
    anchored = {c.seq: c for c in checkpoints}
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
        anchor = anchored.pop(seq, None)
        if anchor is not None and anchor.hash != prev:
            report.problems.append(f"{where}: differs from the signed checkpoint of "
                                   f"{anchor.time} (the log was rewritten)")
        if expect_head is not None and prev == expect_head:
            seen_expected = True
    report.head_seq, report.head_hash = seq, prev
    if head is None and report.entries:
        report.problems.append("the head file is missing: entries may have been removed "
                               "from the end")
    if head_seq > seq:
        report.problems.append(f"log ends at seq {seq} but the head file records seq "
                               f"{head_seq}: entries were removed from the end")
    for anchor in sorted(anchored.values(), key=lambda c: c.seq):
        if anchor.seq > seq:
            report.problems.append(f"log ends at seq {seq} but the signed checkpoint of "
                                   f"{anchor.time} records seq {anchor.seq}: entries were "
                                   "removed from the end")
    if not seen_expected:
        report.problems.append(f"the expected head {expect_head} is not in the log")
    return report


def _read_head(path: Path, key: bytes | None, report: AuditReport) -> dict[str, Any] | None:
    raw = path.read_bytes().strip() if path.exists() else b""
    if not raw:  # created with the log, written with its first entry
        return None
    try:
        head = json.loads(raw)
    except ValueError:
        head = None
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int):
        report.problems.append("head file is not readable")
        return {} if head is not None else None
    if key is not None and not hmac.compare_digest(
            str(head.get("mac")), _head_mac(key, head["seq"], str(head.get("hash")))):
        report.problems.append("the head file's MAC does not match (rewritten without the "
                               "audit key)")
    return head
