"""Where batch jobs run: a Dask scheduler's address, or a local cluster of processes.

``scheduler_argv`` and ``worker_argv`` are the commands that start a scheduler and a worker
(what ``dask scheduler`` and ``dask worker`` run), for whoever starts a deployment's
processes (``smame cluster up``, systemd units, a person on each machine).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster

__all__ = ["connect", "scheduler_argv", "worker_argv"]


@contextmanager
def connect(scheduler: str | None = None, local_workers: int | None = None,
            timeout_s: float = 30) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler`` (``tcp://host:port``), or of a local
    cluster of ``local_workers`` worker processes (one thread each) started and stopped
    here."""
    if (scheduler is None) == (local_workers is None):
        raise ValueError("give a scheduler address or a number of local workers, not both")
    if scheduler is not None:
        with Client(scheduler, timeout=timeout_s) as client:
            yield client
        return
    if local_workers is None or local_workers < 1:
        raise ValueError(f"a local cluster needs at least one worker, not {local_workers}")
    with LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def scheduler_argv(host: str = "127.0.0.1", port: int = 8786) -> list[str]:
    """The command starting a Dask scheduler listening on ``host:port``."""
    return [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", host,
            "--port", str(port), "--no-dashboard"]


def worker_argv(scheduler: str, threads: int = 1, resources: dict[str, int] | None = None,
                name: str | None = None) -> list[str]:
    """The command starting a Dask worker process of ``threads`` threads for the scheduler
    at ``scheduler``; ``resources`` such as ``{"shard-000": 1}`` pin shards to it."""
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler,
            "--nthreads", str(threads), "--nworkers", "1", "--no-dashboard"]
    if resources:
        argv += ["--resources", " ".join(f"{k}={v}" for k, v in sorted(resources.items()))]
    if name:
        argv += ["--name", name]
    return argv
