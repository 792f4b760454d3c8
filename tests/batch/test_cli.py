"""``smame batch``: the jobs from the command line, on a running scheduler or a local
cluster, with one-line errors and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from distributed import Client
from typer.testing import CliRunner

from smame.batch.cluster import scheduler_argv, worker_argv
from smame.cli import app
from tests.batch.conftest import FIRST, NOW, Stores

runner = CliRunner()
NOW_TEXT = "2026-07-04T01:00:00+09:00"


def _address(client: Client) -> str:
    return client.scheduler.address


def test_now_text_is_the_fixtures_now() -> None:
    from datetime import datetime

    assert datetime.fromisoformat(NOW_TEXT).timestamp() == NOW


def _settle_json(args: list[str]) -> list[dict]:
    done = runner.invoke(app, [*args, "--date", FIRST.isoformat(), "--format", "json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_batch_vee_then_settle_prints_what_one_store_prints(fresh: Stores, dask_client: Client
                                                            ) -> None:
    closed = runner.invoke(app, ["batch", "vee", "--data", str(fresh.root), "--scheduler",
                                 _address(dask_client), "--now", NOW_TEXT])
    assert closed.exit_code == 0, closed.output
    assert f"shard 0 {FIRST}" in closed.output
    assert f"shard 1 {FIRST}" in closed.output
    alone = runner.invoke(app, ["mdms", "vee", "--data", str(fresh.single), "--now", NOW_TEXT])
    assert alone.exit_code == 0, alone.output
    sharded = _settle_json(["batch", "settle", "--data", str(fresh.root), "--scheduler",
                            _address(dask_client)])
    single = _settle_json(["mdms", "settle", "--data", str(fresh.single)])
    key = lambda row: (row["retailer_id"], row["slot"])  # noqa: E731
    assert sorted(sharded, key=key) == sorted(single, key=key)
    assert len(single) == 5 * 48


def test_housekeeping_and_revee_report_by_shard(fresh: Stores, dask_client: Client) -> None:
    done = runner.invoke(app, ["batch", "housekeeping", "--data", str(fresh.root),
                               "--scheduler", _address(dask_client), "--now", NOW_TEXT])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert sorted(report) == ["0", "1"]
    assert report["1"]["closed"] == ["2026-07-01", "2026-07-02"]
    revee = runner.invoke(app, ["batch", "revee", "--data", str(fresh.root), "--scheduler",
                                _address(dask_client), "--now", NOW_TEXT])
    assert revee.exit_code == 0, revee.output
    assert "0 day(s) closed again on 2 shard(s)" in revee.output


def test_analyze_writes_the_combined_report(fresh: Stores, dask_client: Client,
                                            tmp_path: Path) -> None:
    runner.invoke(app, ["batch", "vee", "--data", str(fresh.root), "--scheduler",
                        _address(dask_client), "--now", NOW_TEXT])
    out = tmp_path / "report"
    done = runner.invoke(app, ["batch", "analyze", "voltage", "--day", FIRST.isoformat(),
                               "--data", str(fresh.root), "--out", str(out), "--scheduler",
                               _address(dask_client)])
    assert done.exit_code == 0, done.output
    assert "values out of band" in done.output
    assert any(out.iterdir())


def test_a_failed_shard_is_one_line_and_exit_1(fresh: Stores, dask_client: Client) -> None:
    import shutil

    shutil.rmtree(fresh.root / "shard-001")
    (fresh.root / "shard-001").write_text("not a directory")
    done = runner.invoke(app, ["batch", "housekeeping", "--data", str(fresh.root),
                               "--scheduler", _address(dask_client), "--now", NOW_TEXT])
    assert done.exit_code == 1
    assert '"0"' in done.stdout
    failed = [line for line in done.stderr.splitlines() if "shard 1:" in line]
    assert len(failed) == 1
    settle = runner.invoke(app, ["batch", "settle", "--data", str(fresh.root), "--date",
                                 FIRST.isoformat(), "--scheduler", _address(dask_client)])
    assert settle.exit_code == 1
    assert "settlement" not in settle.stdout  # no national sum without every shard


@pytest.mark.parametrize(("args", "message"), [
    (["--local", "1", "--scheduler", "tcp://127.0.0.1:1"], "give --scheduler ADDRESS or"),
    ([], "give --scheduler ADDRESS or"),
    (["--local", "0"], "--local must be at least 1"),
    (["--scheduler", "localhost"], "is not an address like tcp://host:8786"),
])
def test_bad_cluster_options_are_one_line_exit_2(fresh: Stores, args: list[str],
                                                 message: str) -> None:
    done = runner.invoke(app, ["batch", "revee", "--data", str(fresh.root), *args])
    assert done.exit_code == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_root_that_is_not_sharded_is_refused_creating_nothing(fresh: Stores,
                                                                tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    for root in (typo, fresh.single):
        done = runner.invoke(app, ["batch", "housekeeping", "--data", str(root), "--local",
                                   "1"])
        assert done.exit_code == 2
        assert "not a" in done.stderr
    assert not typo.exists()


def test_no_scheduler_at_the_address_is_one_line(fresh: Stores) -> None:
    port = _free_port()
    done = runner.invoke(app, ["batch", "revee", "--data", str(fresh.root), "--scheduler",
                               f"tcp://127.0.0.1:{port}", "--timeout", "2"])
    assert done.exit_code == 2
    assert f"tcp://127.0.0.1:{port}" in done.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_scheduler_and_a_worker_started_as_processes_run_a_job(fresh: Stores,
                                                                 tmp_path: Path) -> None:
    """The commands a deployment starts (``smame cluster up``, or a person per machine)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    started = []
    try:
        for name, argv in (("scheduler", scheduler_argv("127.0.0.1", port)),
                           ("worker", worker_argv(address, name="w0"))):
            with (logs / f"{name}.log").open("wb") as log:
                started.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
            assert next(iter(client.scheduler_info()["workers"].values()))["name"] == "w0"
        done = runner.invoke(app, ["batch", "housekeeping", "--data", str(fresh.root),
                                   "--scheduler", address, "--now", NOW_TEXT])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["0"]["closed"] == ["2026-07-01", "2026-07-02"]
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
