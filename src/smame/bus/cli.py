"""``smame bus``: the NATS JetStream server and the MDMS ingest workers (issue 13).

``smame bus server --store DIR`` runs a NATS server with JetStream on DIR;
``smame bus ingest --nats URL --data ROOT --shard K`` runs one ingest worker of MDMS shard
K (its data in ``ROOT/shard-KKK``, the shard map in ``ROOT/shards.json``). Both run until
SIGTERM or Ctrl-C, finish what they hold, and exit 0.

Exit status: 0 stopped when asked; 1 it ran but failed (the server died, ingests failed);
2 nothing started (bad arguments, no shard map, no server at the URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from smame.clirun import EXIT_FAILED, CliError, console, new_app, print_error
from smame.mdms.shards import ShardMap

__all__ = ["app"]

EXIT_STATUS = ("Exit status: 0 stopped when asked; 1 ran but failed; 2 nothing started "
               "(bad arguments, no shard map, no server at the URL).")
app = new_app("The message bus between head-ends and MDMS ingest (NATS JetStream).",
              epilog=EXIT_STATUS)
MetricsPort = Annotated[int | None, typer.Option(
    help="Serve Prometheus /metrics on this port (0: any free port).")]
LIVENESS_CHECK_S = 1.0


@app.callback()
def _bus() -> None:
    """The message bus between head-ends and MDMS ingest (NATS JetStream)."""


def check_metrics_port(port: int | None) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise CliError("--metrics-port must be within 0–65535")


def start_metrics(port: int | None, host: str = "127.0.0.1") -> str | None:
    """Serve ``/metrics`` when a port is given; return its URL (or None)."""
    if port is None:
        return None
    from smame.metrics import serve_metrics

    try:
        bound = serve_metrics(port, host)
    except OSError as exc:
        raise CliError(f"--metrics-port {port}: {exc.strerror or exc}") from None
    return f"http://{host}:{bound}/metrics"


@app.command("server", epilog=EXIT_STATUS)
def server(
    store: Annotated[Path, typer.Option(help="Directory of the server's JetStream files.")],
    port: Annotated[int | None, typer.Option(help="Client port (default: any free one).")
                    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Run a NATS server with JetStream on STORE until SIGTERM or Ctrl-C."""
    from smame.servers.nats import LocalNats, NatsServerError

    if port is not None and not 1 <= port <= 65535:
        raise CliError("--port must be within 1–65535")
    if store.exists() and not store.is_dir():
        raise CliError(f"--store {store} is a file, not a directory")
    stop = _stop_on_signals()
    nats_server = LocalNats(store, port, host)
    try:
        url = nats_server.start()
    except (NatsServerError, OSError) as exc:
        raise CliError(str(exc)) from None
    console.print(f"NATS JetStream listening on {url} (store {store})")
    try:
        while not stop.wait(LIVENESS_CHECK_S):
            if not nats_server.running:
                print_error(f"nats-server stopped by itself; see {nats_server.log_path}")
                raise typer.Exit(EXIT_FAILED)
    finally:
        nats_server.stop()


@app.command("ingest", epilog=EXIT_STATUS)
def ingest(
    nats_url: Annotated[str, typer.Option("--nats", help="The bus, e.g. nats://host:4222.")],
    data: Annotated[Path, typer.Option(
        help="Deployment root: shards.json and the shards' data directories.")],
    shard: Annotated[list[int], typer.Option(
        help="The MDMS shard this worker ingests (repeat: one process for several).")],
    fetch: Annotated[int, typer.Option(help="Messages fetched (and committed) at once.")] = 8,
    max_ack_pending: Annotated[int, typer.Option(
        help="Messages out unacknowledged at most (backpressure).")] = 64,
    ack_wait: Annotated[float, typer.Option(
        help="Seconds before an unacknowledged message is delivered again.")] = 60.0,
    validate: Annotated[bool, typer.Option(help="Run VEE at ingest.")] = True,
    metrics_port: MetricsPort = None,
) -> None:
    """Ingest the reading batches of MDMS shard(s) SHARD from the bus until SIGTERM or Ctrl-C."""
    if not nats_url.startswith(("nats://", "tls://")):
        raise CliError(f"--nats {nats_url!r}: give a URL such as nats://127.0.0.1:4222")
    if fetch < 1 or max_ack_pending < fetch or ack_wait <= 0:
        raise CliError("--fetch must be >= 1, --max-ack-pending >= --fetch, --ack-wait > 0")
    check_metrics_port(metrics_port)
    if not data.is_dir():
        raise CliError(f"--data {data} is not a directory")
    try:
        shard_map = ShardMap.load(data)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for number in shard:
        if not 0 <= number < shard_map.shards:
            raise CliError(f"--shard {number}: {data} has shards 0..{shard_map.shards - 1}")
    if len(set(shard)) != len(shard):
        raise CliError("--shard: each shard once")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    totals = asyncio.run(_ingest(nats_url, data, shard, shard_map, fetch, max_ack_pending,
                                 ack_wait, validate, metrics_port))
    console.print(json.dumps(totals))
    if totals["failures"]:
        raise typer.Exit(EXIT_FAILED)


async def _ingest(url: str, data: Path, shards: list[int], shard_map: ShardMap, fetch: int,
                  max_ack_pending: int, ack_wait: float, validate: bool,
                  metrics_port: int | None) -> dict:
    from smame.bus.connect import BusUnreachableError
    from smame.bus.worker import IngestWorker
    from smame.mdms import Mdms

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.ExitStack() as stack:
        workers = []
        for shard in shards:
            directory = shard_map.directory(data, shard)
            try:
                mdms = stack.enter_context(Mdms(directory))
            except Exception as exc:  # a locked or damaged catalog: say which and why
                raise CliError(f"cannot open the MDMS of shard {shard} in {directory}: {exc}"
                               ) from None
            workers.append(IngestWorker(url, mdms, shard, shard_map, fetch, max_ack_pending,
                                        ack_wait, validate))
        tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
        ready = asyncio.gather(*(worker.ready.wait() for worker in workers))
        await asyncio.wait({*tasks, ready}, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and task.exception() is not None:
                ready.cancel()
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                exc = task.exception()
                if isinstance(exc, BusUnreachableError):
                    raise CliError(f"--nats: {exc}")
                raise exc
        metrics_url = start_metrics(metrics_port)
        for shard in shards:
            lo, hi = shard_map.range_of(shard)
            console.print(f"ingest worker of shard {shard} (meters {lo}..{hi - 1}) on {url}, "
                          f"MDMS in {shard_map.directory(data, shard)}")
        if metrics_url:
            console.print(f"metrics on {metrics_url}")
        totals = await asyncio.gather(*tasks)
    return {name: sum(getattr(t, name) for t in totals) for name in vars(totals[0])}


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
