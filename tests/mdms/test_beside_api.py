"""The MDMS jobs while ``smame api serve`` runs on the same data directory (issue 13, item 1).

Every test starts its own processes: a real API server and real ``smame mdms`` commands,
which hand their jobs to the server (the store's owner) over its Unix socket.
"""

from __future__ import annotations

import json
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from smame.mdms.owner import OWNER_FILE, read_owner
from tests.mdms.served import (
    DAY1,
    DAY2,
    DAY3,
    Fleet,
    meter_ids,
    serve,
    simulate_fleet,
    smame,
    start_smame,
    wait_until,
)

VISIBLE_WITHIN_S = 10  # the API's refresher looks for new versions every second


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return simulate_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def first_day(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the fleet's first day, registry included, to copy."""
    data = tmp_path_factory.mktemp("first-day") / "data"
    done = smame("mdms", "ingest", str(fleet.simulation), "--data", str(data))
    assert done.returncode == 0, done.stderr
    return data


@pytest.fixture
def data(first_day: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(first_day, copy)
    return copy


def _rows(day_dir: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in day_dir.glob("*.parquet"))


def _finished(process: subprocess.Popen, seconds: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=seconds)
    return process.returncode, out, err


def _exported(data: Path, out: Path) -> pq.ParquetFile:
    done = smame("mdms", "export", "--data", str(data), "--out", str(out), "--raw")
    assert done.returncode == 0, done.stderr
    return pq.read_table(out)


def test_ingest_while_the_api_serves_lands_and_the_api_shows_it(fleet, data):
    meter = meter_ids(fleet)[0]
    with serve(data) as api:
        owner = read_owner(data)
        assert owner is not None
        assert owner.pid == api.process.pid
        assert stat.S_IMODE((data / OWNER_FILE).stat().st_mode) == 0o600
        assert stat.S_IMODE(owner.socket.stat().st_mode) == 0o600
        second = smame("api", "serve", "--data", str(data), "--port", "0")
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: {data} is owned by another smame process (pid {owner.pid})"]
        assert api.values(meter, DAY1) == 48
        assert api.values(meter, DAY2) == 0
        done = smame("mdms", "ingest", str(fleet.days[1]), "--data", str(data))
        assert done.returncode == 0, done.stderr
        assert f"stored in {data}" in done.stdout
        wait_until(lambda: api.values(meter, DAY2) == 48, VISIBLE_WITHIN_S,
                   "the API to show the new day")
    assert not (data / OWNER_FILE).exists()  # a clean stop withdraws the owner
    assert not owner.socket.exists()


def test_ingest_vee_settle_and_housekeeping_all_at_once_beside_the_api(fleet, data):
    meters = meter_ids(fleet)
    with serve(data) as api:
        jobs = {
            "ingest": start_smame("mdms", "ingest", str(fleet.days[1]), "--data", str(data)),
            "vee": start_smame("mdms", "vee", "--data", str(data), "--date",
                               DAY1.isoformat(), "--now", "2026-03-02T06:00+09:00"),
            "settle": start_smame("mdms", "settle", "--date", DAY1.isoformat(), "--data",
                                  str(data), "--format", "json"),
            "housekeeping": start_smame("mdms", "housekeeping", "--data", str(data),
                                        "--now", "2026-03-02T06:00+09:00"),
            "purge": start_smame("mdms", "purge", "--data", str(data), "--now",
                                 "2026-03-02T06:00+09:00"),
        }
        outcomes = {name: _finished(job) for name, job in jobs.items()}
        for name, (code, _, err) in outcomes.items():
            assert code == 0, (name, err)
            assert "lock" not in err.lower(), (name, err)
        assert "stored in" in outcomes["ingest"][1]
        assert f"{DAY1}:" in outcomes["vee"][1]
        assert '"retailer_id"' in outcomes["settle"][1]
        assert '"validated"' in outcomes["housekeeping"][1]
        assert json.loads(outcomes["purge"][1])["cutoff"].startswith("2023-03-")
        wait_until(lambda: all(api.values(m, DAY2) == 48 for m in meters[:5]),
                   VISIBLE_WITHIN_S, "the API to show the new day")
        assert api.values(meters[0], DAY1) == 48


def test_two_ingests_at_once_both_land_once(fleet, data, tmp_path):
    meters = meter_ids(fleet)
    with serve(data) as api:
        second = start_smame("mdms", "ingest", str(fleet.days[1]), "--data", str(data))
        third = start_smame("mdms", "ingest", str(fleet.days[2]), "--data", str(data))
        for job in (second, third):
            code, out, err = _finished(job)
            assert code == 0, err
            assert "(already ingested)" not in out
        wait_until(lambda: api.values(meters[-1], DAY2) == api.values(meters[-1], DAY3) == 48,
                   VISIBLE_WITHIN_S, "the API to show both days")
        table = _exported(data, tmp_path / "all.parquet")  # a read job, run by the owner
    expected = sum(_rows(day) for day in fleet.days)
    assert table.num_rows == expected
    keys = table.group_by(["meter_id", "channel", "interval_end"]).aggregate([])
    assert keys.num_rows == expected  # no reading twice


def test_a_job_prints_and_exits_alike_at_the_owner_and_alone(fleet, data):
    """The same settlement table, and the same one-line error, either way."""
    settle = ("mdms", "settle", "--date", DAY1.isoformat(), "--data", str(data))
    refused = ("mdms", "purge", "--data", str(data), "--years", "1")  # below SPEC S5's 3
    with serve(data):
        at_owner = smame(*settle), smame(*refused)
    alone = smame(*settle), smame(*refused)
    for owner_run, own_run in zip(at_owner, alone, strict=True):
        assert (owner_run.returncode, owner_run.stdout, owner_run.stderr) == (
            own_run.returncode, own_run.stdout, own_run.stderr)
    assert at_owner[0].returncode == 0
    assert "settlement" in at_owner[0].stdout
    assert at_owner[1].returncode == 2
    assert len(at_owner[1].stderr.strip().splitlines()) == 1


def test_without_a_server_two_ingests_at_once_wait_for_each_other(fleet, data):
    jobs = [start_smame("mdms", "ingest", str(day), "--data", str(data))
            for day in fleet.days[1:]]
    for job in jobs:
        code, _, err = _finished(job)
        assert code == 0, err
        assert "Could not set lock" not in err
    with serve(data) as api:
        meter = meter_ids(fleet)[3]
        assert api.values(meter, DAY2) == api.values(meter, DAY3) == 48


def _staged(data: Path, day) -> bool:
    return any(data.glob(f"*/date={day.isoformat()}/*.parquet"))


def _stored_rows(data: Path) -> int:
    """Readings received into the store, opened here under its store lock."""
    from smame.mdms import Mdms
    from smame.mdms.owner import StoreLock
    from smame.store import IMD

    with StoreLock(data) as lock:
        assert lock.try_acquire()  # the owner is dead: the kernel let its lock go
        with Mdms(data) as mdms:
            return mdms.readings(None, None, None, kind=IMD).num_rows


def test_kill_9_of_the_api_mid_ingest_leaves_the_batch_or_nothing(tmp_path):
    """The owner dies with a job under way (day 2 staged, day 3 not yet); the store holds
    all of day 2 or none of it, the command submits its job again and it lands once; the
    stale owner file is detected and replaced."""
    fleet = simulate_fleet(tmp_path / "big", days=3, meters=800)
    data = tmp_path / "data"
    assert smame("mdms", "ingest", str(fleet.simulation), "--data", str(data)).returncode == 0
    rows = [_rows(day) for day in fleet.days]
    with serve(data) as api:
        job = start_smame("mdms", "ingest", str(fleet.whole), "--data", str(data))
        wait_until(lambda: _staged(data, DAY2), 120, "the owner to stage day 2")
        job.send_signal(signal.SIGSTOP)  # it would submit the job again at once
        api.process.kill()
        api.process.wait(30)
    try:
        assert read_owner(data) is not None  # left behind by kill -9
        assert _stored_rows(data) in (rows[0], rows[0] + rows[1])  # day 3: not yet
    finally:
        job.send_signal(signal.SIGCONT)
    code, out, err = _finished(job)
    assert code == 0, err
    assert "submitting it again" in err
    assert "stored in" in out
    assert not (data / OWNER_FILE).exists()  # the command found it stale and removed it
    assert _stored_rows(data) == sum(rows)
    again = smame("mdms", "ingest", str(fleet.days[2]), "--data", str(data))
    assert again.returncode == 0, again.stderr
    assert ", 0 stored in" in again.stdout
    assert _stored_rows(data) == sum(rows)


def test_a_refused_file_leaves_an_empty_directory_empty(tmp_path):
    """No store, so no owner and no lock file: nothing is made before the files pass."""
    data = tmp_path / "empty"
    data.mkdir()
    bad = tmp_path / "bad.csv"
    bad.write_text("meter_id,interval_end,channel,value\n1,yesterday,140,5\n")
    done = smame("mdms", "ingest", str(bad), "--data", str(data))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert list(data.iterdir()) == []
