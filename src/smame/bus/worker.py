"""An MDMS ingest worker: takes one shard's reading batches from the bus (issue 13 item 2).

The worker pulls from the shard's durable consumer at most ``fetch`` messages at a time,
ingests them into its MDMS in one commit (``Mdms.ingest``: idempotent, so a batch delivered
twice is stored once) and acknowledges them only after that commit. A worker killed before
its acks leaves the messages to be delivered again; the consumer lets at most
``max_ack_pending`` messages be out unacknowledged, so a slow worker slows delivery instead
of piling up memory. A message that is not a reading batch (or holds meters of another
shard) is terminated with its reason logged and counted, and never blocks the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import FetchTimeoutError

from smame import metrics
from smame.bus.connect import connect
from smame.bus.stream import STREAM, consumer_config, durable_name, ensure_stream, shard_subject
from smame.bus.wire import PoisonMessageError, decode
from smame.mdms.service import IngestResult, Mdms
from smame.mdms.shards import ShardMap

__all__ = ["IngestWorker", "WorkerTotals"]

log = logging.getLogger("smame.bus.worker")
FETCH_WAIT_S = 1.0  # longest wait for messages; also how soon a stop is noticed
LAG_EVERY_S = 1.0
RETRY_PAUSE_S = 0.5
NAK_DELAY_S = 5.0


@dataclass
class WorkerTotals:
    """What a worker has done since it started."""

    messages: int = 0  # acknowledged after commit
    readings: int = 0
    stored: int = 0
    redelivered: int = 0
    poison: int = 0
    failures: int = 0


class IngestWorker:
    """Ingests MDMS shard ``shard``'s messages from the bus at ``url`` into ``mdms``."""

    def __init__(self, url: str, mdms: Mdms, shard: int, shard_map: ShardMap | None = None,
                 fetch: int = 8, max_ack_pending: int = 64, ack_wait_s: float = 60.0,
                 validate: bool = True) -> None:
        if fetch < 1 or max_ack_pending < fetch:
            raise ValueError("fetch must be >= 1 and max_ack_pending >= fetch")
        self.url = url
        self.mdms = mdms
        self.shard = shard
        self.meter_range = shard_map.range_of(shard) if shard_map else None
        self.fetch = fetch
        self.max_ack_pending = max_ack_pending
        self.ack_wait_s = ack_wait_s
        self.validate = validate
        self.totals = WorkerTotals()
        self.ready = asyncio.Event()  # set once subscribed
        self._label = str(shard)
        self._lag_at = 0.0

    async def run(self, stop: asyncio.Event) -> WorkerTotals:
        """Work until ``stop`` is set, finishing the messages in hand (committed and
        acknowledged) before it closes the connection."""
        nc = await connect(self.url)
        try:
            js = nc.jetstream()
            subscription = await self._subscribe(js)
            self.ready.set()
            while not stop.is_set():
                try:
                    messages = await subscription.fetch(self.fetch, timeout=FETCH_WAIT_S)
                except (FetchTimeoutError, TimeoutError):
                    messages = []
                except NatsError as exc:  # the server is away: the client reconnects
                    log.warning("shard %d: fetch failed (%s); retrying", self.shard, exc)
                    await _pause(stop, RETRY_PAUSE_S)
                    continue
                if messages:
                    await self._handle(messages)
                await self._report_lag(subscription)
            await self._report_lag(subscription, force=True)
        finally:
            await _close(nc)
        return self.totals

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        while True:
            try:
                await ensure_stream(js)
                return await js.pull_subscribe(
                    shard_subject(self.shard), durable=durable_name(self.shard), stream=STREAM,
                    config=consumer_config(self.shard, self.max_ack_pending, self.ack_wait_s))
            except (NatsError, TimeoutError) as exc:
                log.warning("shard %d: cannot subscribe yet (%s); retrying", self.shard, exc)
                await asyncio.sleep(RETRY_PAUSE_S)  # back off while the server starts

    async def _handle(self, messages: list[Msg]) -> None:
        good: list[tuple[Msg, pa.Table]] = []
        for message in messages:
            if message.metadata.num_delivered > 1:
                self.totals.redelivered += 1
                metrics.BUS_REDELIVERIES.labels(self._label).inc()
            try:
                good.append((message, self._decode(message.data)))
            except PoisonMessageError as exc:
                await self._terminate(message, exc)
        if not good:
            return
        started = time.perf_counter()
        batch = pa.concat_tables([table for _, table in good])
        try:
            result = await asyncio.to_thread(self.mdms.ingest, batch, f"bus:{self.shard}",
                                             self.validate)
        except Exception as exc:  # the commit did not happen: let the bus deliver again
            self.totals.failures += 1
            metrics.INGEST_FAILURES.labels(self._label).inc()
            log.error("shard %d: ingest failed, %d message(s) left to the bus: %s",
                      self.shard, len(good), exc)
            for message, _ in good:
                with contextlib.suppress(NatsError):
                    await message.nak(delay=NAK_DELAY_S)
            return
        metrics.INGEST_SECONDS.labels(self._label).observe(time.perf_counter() - started)
        for message, _ in good:
            with contextlib.suppress(NatsError, TimeoutError):
                await message.ack_sync()  # an ack lost here means a redelivery, stored once
        self._count(len(good), result)

    def _decode(self, data: bytes) -> pa.Table:
        table = decode(data)
        if self.meter_range is not None and table.num_rows:
            lo, hi = self.meter_range
            meters = table.column("meter_id")
            first, last = pc.min_max(meters).values()
            if first.as_py() < lo or last.as_py() >= hi:
                raise PoisonMessageError("wrong_shard", f"meters {first}..{last} are not all in "
                                    f"shard {self.shard} ({lo}..{hi - 1})")
        return table

    async def _terminate(self, message: Msg, exc: PoisonMessageError) -> None:
        self.totals.poison += 1
        metrics.BUS_POISON_MESSAGES.labels(self._label, exc.reason).inc()
        log.error("shard %d: poison message %s (stream sequence %d) terminated: %s",
                  self.shard, message.header and message.header.get("Nats-Msg-Id"),
                  message.metadata.sequence.stream, exc)
        with contextlib.suppress(NatsError):
            await message.term()

    def _count(self, messages: int, result: IngestResult) -> None:
        totals = self.totals
        totals.messages += messages
        totals.readings += result.received
        totals.stored += result.stored
        metrics.INGEST_BATCHES.labels(self._label).inc(messages)
        metrics.INGEST_READINGS.labels(self._label, "stored").inc(result.stored)
        metrics.INGEST_READINGS.labels(self._label, "unchanged").inc(result.unchanged)
        if result.validated:
            metrics.VEE_OUTCOMES.labels("suspect").inc(result.suspect)
            metrics.VEE_OUTCOMES.labels("passed").inc(result.stored - result.suspect)

    async def _report_lag(self, subscription: JetStreamContext.PullSubscription,
                          force: bool = False) -> None:
        now = time.monotonic()
        if now - self._lag_at < LAG_EVERY_S and not force:
            return
        self._lag_at = now
        try:
            info = await subscription.consumer_info()
        except (NatsError, TimeoutError):
            return
        metrics.BUS_CONSUMER_PENDING.labels(self._label).set(info.num_pending or 0)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds`` or until ``stop`` is set, whichever is first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _close(nc: Client) -> None:
    with contextlib.suppress(NatsError, TimeoutError, OSError):
        await nc.close()  # every ack was confirmed: nothing is left to flush
