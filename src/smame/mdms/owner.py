"""Who owns a data directory's catalog: the store lock and the owner file.

DuckDB lets one process write a database file, and no other process read it meanwhile. So
one process at a time opens a data directory's store: the one holding the *store lock*, an
``fcntl`` lock on ``DIR/mdms.lock``. A process that runs for long (``smame api serve``)
holds it for its lifetime and becomes the *store owner*: it publishes ``DIR/mdms-owner.json``
(mode 0600), naming its pid and the Unix socket (mode 0600) on which it runs MDMS jobs for
others (:mod:`smame.mdms.jobs`). A short-lived command (``smame mdms ingest``) either hands
its job to the owner or takes the store lock for the job's duration.

The kernel releases the lock when its holder dies, even by ``kill -9``, so an owner file
whose lock can be taken is stale: the process that wrote it is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from smame.store.private import OWNER_FILE as PRIVATE_MODE

__all__ = ["LOCK_FILE", "OWNER_FILE", "Owner", "StoreLock", "find_owner", "socket_path"]

LOCK_FILE = "mdms.lock"
OWNER_FILE = "mdms-owner.json"
SOCKET_FILE = "mdms.sock"
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on the BSDs


@dataclass(frozen=True)
class Owner:
    """A live store owner: its pid and the socket it takes jobs on."""

    pid: int
    socket: Path


class StoreLock:
    """The store lock of the data directory ``root``: at most one holder at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process now holds it."""
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def socket_path(root: Path) -> Path:
    """Where an owner of ``root`` listens: in the data directory, or, when that path is
    too long for a Unix socket, in a new owner-only temporary directory."""
    path = root.resolve() / SOCKET_FILE
    if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
        return path
    return Path(tempfile.mkdtemp(prefix="smame-mdms-")) / SOCKET_FILE  # mkdtemp: mode 0700


def publish(root: Path, owner: Owner) -> None:
    """Write the owner file (call with the store lock held); replaced atomically."""
    text = json.dumps({"pid": owner.pid, "socket": str(owner.socket)})
    staging = root / f".{OWNER_FILE}.{os.getpid()}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(staging, root / OWNER_FILE)


def withdraw(root: Path, owner: Owner) -> None:
    """Remove the owner file and socket of ``owner`` (its own, or a stale one)."""
    with contextlib.suppress(FileNotFoundError):
        (root / OWNER_FILE).unlink()
    with contextlib.suppress(FileNotFoundError):
        owner.socket.unlink()
    if owner.socket.parent.name.startswith("smame-mdms-"):  # a temporary directory of ours
        with contextlib.suppress(OSError):
            owner.socket.parent.rmdir()


def read_owner(root: Path) -> Owner | None:
    """The owner the owner file names, alive or not; None without a readable one."""
    try:
        fields = json.loads((root / OWNER_FILE).read_text())
        return Owner(int(fields["pid"]), Path(fields["socket"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def connect(owner: Owner, timeout: float = 5.0) -> socket.socket | None:
    """A connection to ``owner``'s job socket, or None if nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(owner.socket))
    except OSError:  # refused, absent or not a socket: no owner behind it
        sock.close()
        return None
    return sock


def find_owner(root: Path) -> tuple[Owner, socket.socket] | None:
    """The live owner of ``root`` and a connection to it; None when there is none."""
    owner = read_owner(root)
    if owner is None or not _alive(owner.pid):
        return None
    sock = connect(owner)
    return None if sock is None else (owner, sock)


def clear_stale(root: Path) -> None:
    """Remove an owner file left by an owner that died (call with the store lock held)."""
    owner = read_owner(root)
    if owner is not None:
        withdraw(root, owner)


@contextlib.contextmanager
def owned(root: Path, lock: StoreLock) -> Iterator[Owner]:
    """Publish this process as the owner of ``root`` (``lock`` held) while the block runs."""
    if not lock.held:
        raise RuntimeError("publishing an owner without holding the store lock")
    clear_stale(root)
    owner = Owner(os.getpid(), socket_path(root))
    try:
        yield owner
    finally:
        withdraw(root, owner)
