"""One job over every shard of a deployment root: a task per shard on the Dask cluster.

A task takes a cluster-wide lock named after its shard's directory before it opens the
store, so two jobs sent at once (two operators, a timer and a person) take turns on a shard
instead of one failing on the store's catalog lock. A shard whose task failed is reported
with its error; the other shards' results stand.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from distributed import Client, Lock, as_completed

from smame.mdms.shards import ShardMap

__all__ = ["ShardFailure", "ShardResults", "run_per_shard", "shard_lock_name",
           "shard_resource"]

T = TypeVar("T")


@dataclass(frozen=True)
class ShardFailure:
    shard: int
    error: str


@dataclass
class ShardResults(Generic[T]):
    """Each shard's result, by shard, and the shards that failed."""

    results: dict[int, T] = field(default_factory=dict)
    failures: list[ShardFailure] = field(default_factory=list)

    def in_order(self) -> list[T]:
        return [self.results[k] for k in sorted(self.results)]


def shard_lock_name(directory: Path) -> str:
    """The cluster-wide lock of one shard's store (its absolute directory)."""
    return f"smame-shard:{directory.resolve()}"


def shard_resource(shard: int) -> str:
    """The Dask worker resource that pins a shard's tasks to the worker owning it
    (``dask worker ... --resources shard-000=1``)."""
    return f"shard-{shard:03d}"


def _locked(lock_name: str, task: Callable[..., T], *args: Any) -> T:
    with Lock(lock_name):
        return task(*args)


def run_per_shard(client: Client, root: Path, task: Callable[..., T], *args: Any,
                  pinned: bool = False) -> ShardResults[T]:
    """``task(shard_directory, *args)`` for every shard of ``root``, one Dask task each;
    with ``pinned``, each only on the worker that has the shard's resource."""
    shard_map = ShardMap.load(root)
    run = uuid.uuid4().hex[:8]
    futures = {}
    for shard in range(shard_map.shards):
        directory = ShardMap.directory(root, shard).resolve()
        future = client.submit(
            _locked, shard_lock_name(directory), task, str(directory), *args, pure=False,
            key=f"{getattr(task, '__name__', 'task')}-{shard_resource(shard)}-{run}",
            resources={shard_resource(shard): 1} if pinned else None)
        futures[future] = shard
    outcome: ShardResults[T] = ShardResults()
    for future in as_completed(list(futures)):
        shard = futures[future]
        if future.status == "finished":
            outcome.results[shard] = future.result()
        else:
            error = future.exception()
            outcome.failures.append(ShardFailure(shard, f"{type(error).__name__}: {error}"))
    outcome.failures.sort(key=lambda f: f.shard)
    return outcome
