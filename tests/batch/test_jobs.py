"""Batch jobs on a local Dask cluster of processes: per-shard work over a sharded root,
combined, equals the same job on one store holding the same data (issue 13, item 5)."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from distributed import Client

from smame.analytics.grid import day_outages, day_voltage
from smame.batch.combine import combine_outages, combine_settlements, combine_voltage
from smame.batch.runner import run_per_shard
from smame.batch.tasks import (
    analyze_task,
    close_task,
    housekeeping_task,
    revee_task,
    settle_task,
)
from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.mdms.sharded import ShardedMdms
from smame.readings import make_batch
from smame.store.layout import day_start
from tests.batch.conftest import FIRST, NOW, Stores, days


def _close_single(path: Path, now: float = NOW) -> list:
    with Mdms(path, clock=SimulatedClock(now)) as mdms:
        mdms.validate_pending()
        closes = [mdms.close_day(day) for day in mdms.days_to_close()]
        for done in closes:
            mdms.compact(done.day)
        return closes


def _close_sharded(client: Client, root: Path, now: float = NOW) -> list:
    done = run_per_shard(client, root, close_task, now, None, True)
    assert done.failures == []
    return [c for _, closes in done.in_order() for c in closes]


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory, ingested: Stores,
           dask_client: Client) -> Stores:
    """Both stores with every day closed: the single one directly, the shards on Dask."""
    import shutil

    base = tmp_path_factory.mktemp("closed")
    shutil.copytree(ingested.single, base / "single")
    shutil.copytree(ingested.root, base / "root")
    stores = Stores(base / "single", base / "root", ingested.shard_map)
    single = _close_single(stores.single)
    sharded = _close_sharded(dask_client, stores.root)
    assert sorted({c.day for c in sharded}) == [c.day for c in single] == days()
    for day in days():
        assert sum(c.estimated for c in sharded if c.day == day) == sum(
            c.estimated for c in single if c.day == day)
    return stores


def _sorted(table: pa.Table, party: str) -> pa.Table:
    return table.sort_by([(party, "ascending"), ("slot", "ascending")])


def test_national_settlement_is_the_sum_over_shards(closed: Stores, dask_client: Client
                                                     ) -> None:
    for day in days():
        with Mdms(closed.single) as mdms:
            alone = mdms.settle(day)
        done = run_per_shard(dask_client, closed.root, settle_task, day, 30)
        assert done.failures == []
        assert len(done.results) == 2
        combined = combine_settlements(done.in_order())
        assert combined.retailers.num_rows == alone.retailers.num_rows > 0
        assert _sorted(combined.retailers, "retailer_id").equals(
            _sorted(alone.retailers, "retailer_id"))
        assert _sorted(combined.groups, "bg_id").equals(_sorted(alone.groups, "bg_id"))
        each = [s.retailers.column("import_wh").to_numpy().sum() for s in done.in_order()]
        assert all(part > 0 for part in each)  # both shards hold part of the energy


def test_fifteen_minute_settlement_combines_too(closed: Stores, dask_client: Client) -> None:
    with Mdms(closed.single) as mdms:
        alone = mdms.settle(FIRST, 15)
    done = run_per_shard(dask_client, closed.root, settle_task, FIRST, 15)
    combined = combine_settlements(done.in_order())
    assert combined.minutes == 15
    assert _sorted(combined.groups, "bg_id").equals(_sorted(alone.groups, "bg_id"))


def test_voltage_over_shards_equals_one_store(closed: Stores, dask_client: Client) -> None:
    with Mdms(closed.single) as mdms:
        alone = day_voltage(mdms, FIRST)
    done = run_per_shard(dask_client, closed.root, analyze_task, FIRST, day_voltage)
    combined = combine_voltage(done.in_order())
    assert alone.values > 0
    assert (combined.values, combined.minutes_out) == (alone.values, alone.minutes_out)
    assert combined.share_out == alone.share_out
    assert combined.events == alone.events
    assert sorted(combined.transformers, key=lambda t: t.transformer) == sorted(
        alone.transformers, key=lambda t: t.transformer)
    assert combined.worst_meters == alone.worst_meters
    assert (combined.volts == alone.volts).all()


def test_outages_over_shards_equal_one_store(closed: Stores, dask_client: Client) -> None:
    for day in days():
        with Mdms(closed.single) as mdms:
            alone = day_outages(mdms, day)
        done = run_per_shard(dask_client, closed.root, analyze_task, day, day_outages)
        combined = combine_outages(done.in_order())
        key = sorted((i.level, i.element, i.start, i.end, i.customers)
                     for i in alone.incidents)
        assert sorted((i.level, i.element, i.start, i.end, i.customers)
                      for i in combined.incidents) == key
        assert combined.area.customers == alone.area.customers == 240
        assert combined.area.saidi == pytest.approx(alone.area.saidi, rel=1e-12)
        assert combined.area.saifi == pytest.approx(alone.area.saifi, rel=1e-12)
        assert combined.area.maifi == pytest.approx(alone.area.maifi, rel=1e-12)
        assert combined.feeders.keys() == alone.feeders.keys()
        for feeder, indices in alone.feeders.items():
            assert combined.feeders[feeder].saidi == pytest.approx(indices.saidi, rel=1e-12)


def test_the_fleet_had_outages_to_locate(closed: Stores) -> None:
    with Mdms(closed.single) as mdms:
        assert any(day_outages(mdms, day).incidents for day in days())


def _late_value(stores: Stores, meter: int) -> pa.Table:
    """A changed 30-minute import value of a closed day, for one meter."""
    with Mdms(stores.single) as mdms:
        row = mdms.readings(meter, day_start(FIRST) + 36000, day_start(FIRST) + 36000,
                            channels=[140])
    value = int(row.column("value")[0].as_py())
    return make_batch([meter], [day_start(FIRST) + 36000], 140, [value + 7])


def test_revee_of_late_data_equals_one_store(fresh: Stores, dask_client: Client) -> None:
    _close_single(fresh.single)
    _close_sharded(dask_client, fresh.root)
    meters = [fresh.shard_map.bounds[0] + 3, fresh.shard_map.bounds[1] + 3]
    late = pa.concat_tables([_late_value(fresh, m) for m in meters])
    clock = SimulatedClock(NOW + 3600)
    with Mdms(fresh.single, clock=clock) as mdms:
        mdms.ingest(late)
        assert mdms.revee_queue() == [FIRST]
        alone = mdms.process_revee_queue()
    with ShardedMdms(fresh.root, clock=clock) as sharded:
        assert {k for k, _ in sharded.ingest(late).parts} == {0, 1}
    done = run_per_shard(dask_client, fresh.root, revee_task, NOW + 3600)
    assert done.failures == []
    assert [c.day for _, closes in sorted(done.results.items()) for c in closes] == [
        FIRST, FIRST]
    assert [c.day for c in alone] == [FIRST]
    with Mdms(fresh.single) as mdms, ShardedMdms(fresh.root) as sharded:
        for meter in meters:
            assert sharded.readings(meter).equals(mdms.readings(meter))
            assert sharded.readings(meter).num_rows > 0
        assert sharded.shard(0).revee_queue() == sharded.shard(1).revee_queue() == []
        alone_settled = mdms.settle(FIRST)
    combined = combine_settlements(
        run_per_shard(dask_client, fresh.root, settle_task, FIRST, 30).in_order())
    assert _sorted(combined.retailers, "retailer_id").equals(
        _sorted(alone_settled.retailers, "retailer_id"))


def test_housekeeping_on_every_shard_as_on_one_store(fresh: Stores, dask_client: Client
                                                      ) -> None:
    with Mdms(fresh.single, clock=SimulatedClock(NOW)) as mdms:
        alone = mdms.housekeeping()
    done = run_per_shard(dask_client, fresh.root, housekeeping_task, NOW)
    assert done.failures == []
    for shard in (0, 1):
        assert done.results[shard].closed == alone.closed == days()
        assert done.results[shard].purge is not None
    again = run_per_shard(dask_client, fresh.root, housekeeping_task, NOW)
    assert all(h.closed == [] and h.purge is None for h in again.results.values())


def test_jobs_sent_at_once_take_turns_on_a_shard(fresh: Stores, dask_client: Client) -> None:
    """Two jobs at once on two worker processes: each shard's lock makes the second wait
    instead of failing on the store's catalog lock."""
    outcomes: list = []

    def job() -> None:
        outcomes.append(run_per_shard(dask_client, fresh.root, housekeeping_task, NOW))

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert len(outcomes) == 3
    assert all(o.failures == [] for o in outcomes)
    closed = sorted(len(o.results[0].closed) for o in outcomes)
    assert closed == [0, 0, 2]  # one job closed the days; the others found them closed


def test_a_failing_shard_is_reported_and_the_others_done(fresh: Stores, dask_client: Client
                                                          ) -> None:
    import shutil

    shutil.rmtree(fresh.root / "shard-001")
    (fresh.root / "shard-001").write_text("not a directory")
    done = run_per_shard(dask_client, fresh.root, housekeeping_task, NOW)
    assert list(done.results) == [0]
    assert done.results[0].closed == days()
    assert [f.shard for f in done.failures] == [1]
    assert done.failures[0].error


def test_pinned_tasks_run_on_the_worker_owning_the_shard(fresh: Stores) -> None:
    """Workers that own their shards' disks: ``--resources shard-kkk=1`` on the worker, and
    each shard's task goes there and nowhere else."""
    from distributed import Nanny, Scheduler, SpecCluster, get_task_stream

    from smame.batch.runner import shard_resource

    workers = {f"w{k}": {"cls": Nanny, "options": {
        "nthreads": 1, "resources": {shard_resource(k): 1}}} for k in (0, 1)}
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
    with SpecCluster(workers=workers, scheduler=scheduler) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        names = {w["name"]: address for address, w in
                 client.scheduler_info()["workers"].items()}
        for _ in range(2):
            with get_task_stream(client) as stream:
                done = run_per_shard(client, fresh.root, housekeeping_task, NOW, pinned=True)
            assert done.failures == []
            ran = {record["key"]: record["worker"] for record in stream.data}
            assert len(ran) == 2
            for key, worker in ran.items():
                shard = 0 if shard_resource(0) in key else 1
                assert worker == names[f"w{shard}"]
