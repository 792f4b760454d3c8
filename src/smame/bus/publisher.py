"""A head-end sink that publishes reading batches to the bus (issue 13 item 2, SPEC S1).

``BusPublisher(url, shard_map)`` is a ``smame.hes.sinks.ReadingSink``: each call splits the
batch by the MDMS shard owning each meter, publishes every part (in slices that fit the
server's message size) to ``readings.<shard>`` with its message id, and returns only when
JetStream has acknowledged storing all of them. So the head-end forgets only what the bus
holds on disk. A publish that is not acknowledged (the server restarting) is retried with
the same message id until ``timeout_s``; the bus stores it once.

The sink is called from synchronous code (``Fleet.advance``) and from the head-end's own
event loop alike, so the NATS connection lives on an event loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pyarrow as pa
from nats.aio.client import Client
from nats.errors import ConnectionClosedError, NoRespondersError, OutboundBufferLimitError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError, ServiceUnavailableError

from smame import metrics
from smame.bus.connect import connect
from smame.bus.stream import ensure_stream, shard_subject
from smame.bus.wire import encode, message_id, split_to_fit
from smame.mdms.shards import ShardMap
from smame.readings import validate_batch

__all__ = ["BusPublisher", "PublishError"]

T = TypeVar("T")
ACK_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.2
_UNACKNOWLEDGED = (NatsTimeout, NoRespondersError, OutboundBufferLimitError,
                   ServiceUnavailableError, ConnectionClosedError, TimeoutError)


class PublishError(ConnectionError):
    """The bus did not acknowledge a batch in time: the caller still holds it (an OSError,
    so `smame hes run` reports it as a failed run, exit 1)."""


class BusPublisher:
    """Publishes reading batches to the bus, split by MDMS shard; see the module doc."""

    def __init__(self, url: str, shard_map: ShardMap, timeout_s: float = 120.0) -> None:
        self.url = url
        self.shard_map = shard_map
        self.timeout_s = timeout_s
        self.batches = 0  # messages acknowledged
        self.rows = 0  # readings in them
        self.duplicates = 0  # messages the bus already held
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bus-publisher",
                                        daemon=True)
        self._thread.start()
        try:
            self._nc: Client = self._run(self._connect())
        except BaseException:
            self._stop_loop()
            raise

    def __call__(self, batch: pa.Table) -> None:
        batch = validate_batch(batch)
        if not batch.num_rows:
            return
        messages: list[tuple[int, pa.Table]] = []
        limit = self._nc.max_payload
        for shard, part in self.shard_map.split(batch).items():
            messages.extend((shard, piece) for piece in split_to_fit(part, limit))
        self._run(self._publish_all(messages))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._nc.drain())
        except (ConnectionClosedError, NatsTimeout, OSError):  # PublishError is an OSError
            pass
        finally:
            self._stop_loop()

    def __enter__(self) -> BusPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(self.timeout_s + ACK_TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            raise PublishError(f"the bus at {self.url} did not answer within "
                               f"{self.timeout_s:g} s") from None

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _connect(self) -> Client:
        nc = await connect(self.url)
        await ensure_stream(nc.jetstream())
        return nc

    async def _publish_all(self, messages: list[tuple[int, pa.Table]]) -> None:
        await asyncio.gather(*(self._publish(shard, piece) for shard, piece in messages))

    async def _publish(self, shard: int, piece: pa.Table) -> None:
        js = self._nc.jetstream()
        data = encode(piece)
        headers = {"Nats-Msg-Id": message_id(shard, piece)}
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                ack = await js.publish(shard_subject(shard), data, timeout=ACK_TIMEOUT_S,
                                       headers=headers)
                break
            except _UNACKNOWLEDGED as exc:
                if time.monotonic() >= deadline:
                    raise PublishError(f"the bus at {self.url} did not store a batch within "
                                       f"{self.timeout_s:g} s ({type(exc).__name__})") from None
                metrics.BUS_PUBLISH_RETRIES.inc()
                await asyncio.sleep(RETRY_PAUSE_S)  # back off before retrying
            except APIError as exc:
                raise PublishError(f"the bus refused a batch: {exc}") from None
        label = str(shard)
        if ack.duplicate:
            self.duplicates += 1
            metrics.BUS_PUBLISH_DUPLICATES.labels(label).inc()
            return
        self.batches += 1
        self.rows += piece.num_rows
        metrics.BUS_PUBLISHED_BATCHES.labels(label).inc()
        metrics.BUS_PUBLISHED_READINGS.labels(label).inc(piece.num_rows)
