"""The shard stores this process owns, for batch tasks that run in it.

An MDMS shard's store has one owning process (``smame api serve``: the store lock). When
that process is also the Dask worker pinned to the shard, a task for the shard uses the
owner's open :class:`~smame.mdms.Mdms` instead of opening the store a second time, which
the lock (and DuckDB) would refuse.
"""

from __future__ import annotations

import threading
from pathlib import Path

from smame.mdms.service import Mdms

__all__ = ["host", "hosted_store", "unhost"]

_hosted: dict[Path, Mdms] = {}
_lock = threading.Lock()


def host(mdms: Mdms) -> None:
    with _lock:
        _hosted[Path(mdms.data_dir).resolve()] = mdms


def unhost(mdms: Mdms) -> None:
    with _lock:
        _hosted.pop(Path(mdms.data_dir).resolve(), None)


def hosted_store(directory: str | Path) -> Mdms | None:
    """The open MDMS of ``directory`` if this process owns it, else None."""
    with _lock:
        return _hosted.get(Path(directory).resolve())
