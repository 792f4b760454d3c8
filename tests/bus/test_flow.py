"""Head-end sink → bus → ingest worker in one process: split by shard, duplicates stored
once, poison messages terminated and counted, redelivery, metrics counting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import nats
import numpy as np
import pyarrow as pa

from smame.bus import BusPublisher, IngestWorker, WorkerTotals
from smame.bus.stream import STREAM, consumer_config, durable_name, ensure_stream, shard_subject
from smame.bus.wire import encode
from smame.mdms import Mdms
from smame.mdms.shards import ShardMap
from smame.store import IMD
from tests.bus.support import FIRST_METER, keys, sample, slot_batch, stream_messages

METERS = np.arange(FIRST_METER, FIRST_METER + 400)
SHARDS = ShardMap.even(2, FIRST_METER, len(METERS))


def work(url: str, mdms: Mdms, shard: int, until: Callable[[WorkerTotals], bool],
         timeout_s: float = 120.0, **options) -> WorkerTotals:
    """Run an ingest worker until ``until(totals)`` holds, then stop it."""

    async def run() -> WorkerTotals:
        worker = IngestWorker(url, mdms, shard, SHARDS, **options)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not until(worker.totals):
            if task.done() or asyncio.get_running_loop().time() > deadline:
                stop.set()
                await task
                raise AssertionError(f"worker stopped short: {worker.totals}")
            await asyncio.sleep(0.05)
        stop.set()
        return await task

    return asyncio.run(run())


def test_batches_reach_their_shards_once(nats_server, tmp_path):
    published = sample("smame_bus_published_readings_total", shard="0")
    vee = {o: sample("smame_vee_outcomes_total", outcome=o) for o in ("passed", "suspect")}
    stored = sum(sample("smame_ingest_readings_total", shard=str(k), outcome="stored")
                 for k in (0, 1))
    batches = [slot_batch(METERS, k, seed=k) for k in range(6)]
    with BusPublisher(nats_server.url, SHARDS) as publisher:
        for batch in batches:
            publisher(batch)
        publisher(batches[0])  # a head-end's retry after a lost ack
    assert publisher.batches == 12  # each batch in two shards' messages
    assert publisher.duplicates == 2
    assert sample("smame_bus_published_readings_total", shard="0") - published == (
        6 * 2 * len(METERS) // 2)
    source = pa.concat_tables(batches)
    for shard, expected in SHARDS.split(source).items():
        with Mdms(tmp_path / f"shard-{shard}") as mdms:
            totals = work(nats_server.url, mdms, shard, lambda t: t.messages >= 6)
            received = mdms.readings(kind=IMD, current=False)
        assert totals.messages == 6
        assert totals.stored == expected.num_rows
        assert received.num_rows == expected.num_rows
        assert keys(received) == keys(expected)
    assert stream_messages(nats_server.url) == 0
    assert sum(sample("smame_ingest_readings_total", shard=str(k), outcome="stored")
               for k in (0, 1)) - stored == source.num_rows
    assert sum(sample("smame_vee_outcomes_total", outcome=o) - vee[o] for o in vee) == (
        source.num_rows)


def test_consumer_lag_is_visible(nats_server, tmp_path):
    with BusPublisher(nats_server.url, SHARDS) as publisher:
        for k in range(8):
            publisher(slot_batch(METERS[:200], k, seed=k))
    with Mdms(tmp_path / "shard-0") as mdms:
        first = work(nats_server.url, mdms, 0, lambda t: t.messages >= 1, fetch=1)
        assert first.messages < 8
        assert sample("smame_bus_consumer_pending", shard="0") == 8 - first.messages
        work(nats_server.url, mdms, 0, lambda t: t.messages >= 8 - first.messages, fetch=4)
    assert sample("smame_bus_consumer_pending", shard="0") == 0


def test_poison_is_terminated_counted_and_does_not_block(nats_server, tmp_path, caplog):
    good = [slot_batch(METERS[:200], k, seed=k) for k in range(3)]
    wrong_schema = pa.table({"meter_id": pa.array([FIRST_METER], pa.int64()), "kwh": [0.5]})
    other_shard = slot_batch(METERS[200:], 9, seed=9)  # shard 1's meters on shard 0's subject
    payloads = [encode(good[0]), b"\x00 not arrow at all", encode(good[1]),
                encode(wrong_schema), encode(other_shard), encode(good[2])]

    async def publish() -> None:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        await ensure_stream(js)
        for payload in payloads:
            await js.publish(shard_subject(0), payload)
        await nc.close()

    asyncio.run(publish())
    before = {reason: sample("smame_bus_poison_messages_total", shard="0", reason=reason)
              for reason in ("not_arrow", "wrong_schema", "wrong_shard")}
    with caplog.at_level(logging.ERROR, logger="smame.bus.worker"), \
            Mdms(tmp_path / "shard-0") as mdms:
        totals = work(nats_server.url, mdms, 0, lambda t: t.messages + t.poison >= 6)
        received = mdms.readings(kind=IMD, current=False)
    assert (totals.messages, totals.poison) == (3, 3)
    assert keys(received) == keys(pa.concat_tables(good))
    for reason in before:
        assert sample("smame_bus_poison_messages_total", shard="0",
                      reason=reason) - before[reason] == 1
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "not an Arrow IPC stream" in logged
    assert "not a reading batch" in logged
    assert "are not all in shard 0" in logged
    assert stream_messages(nats_server.url) == 0  # terminated: gone from the work queue


def test_unacknowledged_messages_are_delivered_again(nats_server, tmp_path):
    """A worker that fetched and died before its ack: the messages come back after ack_wait
    and are stored once; the redeliveries are counted."""
    batches = [slot_batch(METERS[:200], k, seed=k) for k in range(4)]
    with BusPublisher(nats_server.url, SHARDS) as publisher:
        for batch in batches:
            publisher(batch)

    async def fetch_and_vanish() -> int:
        nc = await nats.connect(nats_server.url)
        subscription = await nc.jetstream().pull_subscribe(
            shard_subject(0), durable=durable_name(0), stream=STREAM,
            config=consumer_config(0, max_ack_pending=8, ack_wait_s=1.0))
        taken = await subscription.fetch(3, timeout=10)
        await nc.close()  # no ack
        return len(taken)

    assert asyncio.run(fetch_and_vanish()) == 3
    before = sample("smame_bus_redeliveries_total", shard="0")
    with Mdms(tmp_path / "shard-0") as mdms:
        totals = work(nats_server.url, mdms, 0, lambda t: t.messages >= 4, ack_wait_s=1.0,
                      max_ack_pending=8)
        received = mdms.readings(kind=IMD, current=False)
    assert totals.redelivered == 3
    assert sample("smame_bus_redeliveries_total", shard="0") - before == 3
    assert received.num_rows == pa.concat_tables(batches).num_rows
    assert keys(received) == keys(pa.concat_tables(batches))


def test_the_consumer_holds_the_backpressure_settings(nats_server, tmp_path):
    with Mdms(tmp_path / "shard-1") as mdms:
        work(nats_server.url, mdms, 1, lambda t: True, fetch=4, max_ack_pending=16,
             ack_wait_s=30.0)

    async def config():
        nc = await nats.connect(nats_server.url)
        info = await nc.jetstream().consumer_info(STREAM, durable_name(1))
        await nc.close()
        return info.config

    settings = asyncio.run(config())
    assert settings.max_ack_pending == 16
    assert settings.ack_wait == 30.0
    assert settings.filter_subject == shard_subject(1)
