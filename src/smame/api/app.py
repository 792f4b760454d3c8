"""The FastAPI application: the one data-provision API of SPEC S7, versioned under ``/v1``,
with the operator console (``smame.web``) beside it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from smame.api.auditmw import AuditMiddleware
from smame.api.config import ApiConfig
from smame.api.errors import install_error_handlers
from smame.api.fastlane import FastLane
from smame.api.routes import (
    admin,
    auth,
    commands,
    consents,
    events,
    grid,
    meters,
    metrics,
    readings,
    reports,
    statistics,
)
from smame.api.state import ApiState

if TYPE_CHECKING:
    from smame.mdms.jobwire import JobServer
    from smame.mdms.owner import StoreLock

__all__ = ["API_DESCRIPTION", "create_app"]

API_DESCRIPTION = """\
The data-provision API of smame, one specification for every operator (SPEC S7).

Authenticate with OAuth2 client credentials at `POST /v1/oauth/token`, then send
`Authorization: Bearer <token>`. What a token sees depends on its role: the distribution
operator all meters with 8-digit values; a retailer the service points it supplies, for
the supply period, with 6-digit values (S4); aggregators and energy-management operators a
customer's data under that customer's recorded consent (S6); gas and water companies
their own meters (S13). Commands are for the distribution operator; a command reaching
many meters needs a second operator's approval. Every request is written to a
hash-chained audit log (S14).
"""


def create_app(config: ApiConfig | None = None, *, state: ApiState | None = None,
               mdms=None, clock=None, data_clock=None, headend=None, console: bool = True,
               refresh: bool = True, fast_lane: bool = True,
               store_lock: StoreLock | None = None, consume=None, dask=None) -> FastAPI:
    """The API (and console) over ``config.data_dir``, or over a ready :class:`ApiState`.

    ``headend`` connects a live head-end (commands reach meters). With ``refresh`` a
    background task keeps the read model up to date with the MDMS. ``fast_lane`` answers
    the commonest request (a meter's readings of a day) without FastAPI's parameter
    machinery (:mod:`smame.api.fastlane`). With ``store_lock`` (the held
    :class:`~smame.mdms.owner.StoreLock` of the data directory) the server is the store's
    owner and runs ``smame mdms`` jobs for other processes (:mod:`smame.mdms.jobwire`).
    ``consume`` (a function of the MDMS returning a :class:`~smame.bus.worker.IngestWorker`)
    also ingests the store's MDMS shard from the bus, in this process (issue 13). ``dask``
    (scheduler address, shard) makes this process the Dask worker pinned to that shard:
    batch tasks for it run here, on this store (:mod:`smame.batch.hosted`).
    """
    if state is None:
        if config is None:
            raise ValueError("create_app needs a config or a state")
        state = ApiState.open(config, mdms, clock, data_clock, headend)
        owned = True
    else:
        owned = False

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_refresher(state)) if refresh else None
        jobs = _job_server(state, store_lock) if store_lock is not None else None
        stop_consuming = asyncio.Event()
        consumer = (asyncio.create_task(consume(state.mdms).run(stop_consuming))
                    if consume is not None else None)
        if consumer is not None:
            consumer.add_done_callback(lambda done: _consumer_ended(done, stop_consuming))
        worker = None
        try:
            if dask is not None:  # inside the try: a scheduler not there undoes the rest
                worker = await _dask_worker(state, *dask)
            yield
        finally:
            if worker is not None:
                await _stop_dask_worker(state, worker)
            if consumer is not None:  # the batches in hand are committed and acknowledged
                stop_consuming.set()
                with contextlib.suppress(Exception):
                    await consumer
            if jobs is not None:  # a running job finishes before the store closes
                await run_in_threadpool(jobs.stop)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if owned:
                state.close()

    app = FastAPI(title="smame data-provision API", version="1.0.0",
                  description=API_DESCRIPTION, openapi_url="/v1/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)
    app.state.api = state
    install_error_handlers(app)
    for module in (auth, meters, readings, events, grid, reports, statistics, commands,
                   consents, admin):
        app.include_router(module.router, prefix="/v1")
    if console:
        from smame.web import install_console

        install_console(app)
    if fast_lane:
        app.add_middleware(FastLane, get_state=lambda: state)
    metrics.install(app)  # /metrics, and the request timer around the fast lane
    app.add_middleware(AuditMiddleware, get_audit=lambda: state.audit)  # outermost
    return app


def _consumer_ended(task: asyncio.Task, stopping: asyncio.Event) -> None:
    """A bus consumer that ends while the server runs leaves its shard unfed: say why in
    one line and stop the server, so whoever supervises it sees the process gone."""
    if stopping.is_set():
        return
    from smame.clirun import print_error

    reason = "cancelled" if task.cancelled() else (task.exception() or "it ended")
    print_error(f"the bus consumer stopped ({reason}); stopping the server")
    os.kill(os.getpid(), signal.SIGTERM)


async def _dask_worker(state: ApiState, scheduler: str, shard: int):
    """A Dask worker in this process holding shard ``shard``'s resource."""
    from distributed import Worker

    from smame.batch.hosted import host
    from smame.batch.runner import shard_resource

    host(state.mdms)
    return await Worker(scheduler, nthreads=1, resources={shard_resource(shard): 1},
                        name=f"mdms-{shard_resource(shard)}", dashboard=False)


async def _stop_dask_worker(state: ApiState, worker) -> None:
    from smame.batch.hosted import unhost

    with contextlib.suppress(Exception):
        await worker.close()
    unhost(state.mdms)


def _job_server(state: ApiState, store_lock: StoreLock) -> JobServer:
    from smame.mdms.jobwire import JobServer

    return JobServer(state.mdms, store_lock, after_write=state.data.reload_registry).start()


async def _refresher(state: ApiState) -> None:
    """Keep the read model caught up with the MDMS."""
    while True:
        await asyncio.sleep(state.config.refresh_interval_s)
        with contextlib.suppress(Exception):
            await run_in_threadpool(state.data.refresh)
