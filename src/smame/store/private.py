"""Files that hold secrets or personal data: owner-only modes (SPEC S14).

Keys (the API's token and audit keys, the head-end's master key) are created 0600 and a
key file found readable by others is **refused**: it may have been copied, so it must be
checked and tightened (or replaced) by a person, as ssh does with private keys. Databases
(the access database with client secrets and consents, the registry with customers, the
head-end's key store) are created 0600 and an existing one with a looser mode is
**tightened**: its contents are protected by the key anyway, or are personal data whose
exposure stops now. Directories that hold only such files are 0700.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "PrivateFileError",
    "check_key_file",
    "create_private_file",
    "private_dir",
    "tighten",
    "touch_private",
]

OWNER_FILE = 0o600
OWNER_DIR = 0o700


class PrivateFileError(PermissionError):
    """A secret file is readable or writable by others than its owner."""


def _loose(path: Path) -> int:
    """The group and other permission bits of ``path`` (0 if it is owner-only)."""
    return stat.S_IMODE(os.stat(path).st_mode) & 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; tighten it if it exists looser."""
    path.mkdir(mode=OWNER_DIR, parents=True, exist_ok=True)
    if _loose(path):
        os.chmod(path, OWNER_DIR)
    return path


def tighten(path: Path) -> None:
    """Make an existing file owner-only (0600), if it is not already."""
    if path.exists() and _loose(path):
        os.chmod(path, OWNER_FILE)


def touch_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; tighten it if it does.

    SQLite accepts an empty file as a new database and gives its ``-wal`` and ``-shm``
    files the database file's mode, so a database created this way stays owner-only.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_FILE))
    except FileExistsError:
        tighten(path)


def create_private_file(path: Path, content: bytes) -> None:
    """Write a new file readable by its owner only; fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_FILE)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def check_key_file(path: Path) -> None:
    """Refuse a key file that others may read or write (mode looser than 0600)."""
    loose = _loose(path)
    if loose:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        raise PrivateFileError(
            f"{path} is accessible by others (mode {mode:04o}): the key may have been read; "
            f"if it was not, `chmod 600 {path}`, otherwise replace it")
