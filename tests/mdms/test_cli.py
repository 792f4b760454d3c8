"""``smame mdms`` commands, and one-line errors for bad arguments and bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from smame.mdms.cli import app
from smame.meter import FleetConfig
from smame.meter.simulate import simulate
from tests.conftest import JST
from tests.mdms.helpers import day_batch, flat_day

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_failing(*args: str, cwd: Path) -> str:
    """Run the sub-app in a subprocess as ``smame`` would; return its one-line stderr."""
    proc = subprocess.run([sys.executable, "-m", "smame.mdms.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet")
    simulate(FleetConfig(meters=60, start=datetime(2026, 7, 1, tzinfo=JST), seed=9,
                         retention=None), 1, out)
    return out


def test_ingest_vee_settle_export_purge(fleet_dir: Path, tmp_path: Path) -> None:
    data = str(tmp_path / "store")
    out = run("ingest", str(fleet_dir), "--data", data)
    assert "60 meters registered" in out
    again = run("ingest", str(fleet_dir), "--data", data)
    assert "0 stored" in again
    closed = run("vee", "--data", data, "--now", "2026-07-03T00:00:00+09:00")
    assert "2026-07-01" in closed
    table = run("settle", "--date", "2026-07-01", "--data", data)
    assert "R01" in table
    run("settle", "--date", "2026-07-01", "--data", data, "--by", "group", "--format", "json",
        "--out", str(tmp_path / "s.json"))
    groups = json.loads((tmp_path / "s.json").read_text())
    assert {g["bg_id"] for g in groups} == {"BG1", "BG2"}
    assert len(groups) == 2 * 48
    run("export", "--data", data, "--out", str(tmp_path / "x.parquet"), "--channel", "140")
    exported = pq.read_table(tmp_path / "x.parquet")
    assert exported.num_rows == 60 * 48
    run("export", "--data", data, "--out", str(tmp_path / "r.csv"), "--format", "csv",
        "--retail", "--meter", "100000001")
    retail = pcsv.read_csv(tmp_path / "r.csv")
    assert "retail_register" in retail.schema.names
    report = run("purge", "--data", data, "--now", "2029-07-01T12:00:00+09:00")
    assert '"rows_removed"' in report


def test_ingest_csv_and_parquet_files(tmp_path: Path) -> None:
    batch = day_batch(flat_day(20, meters=2))
    pq.write_table(batch, tmp_path / "a.parquet")
    pcsv.write_csv(day_batch(flat_day(5, meters=1), meters=[7]), tmp_path / "b.csv")
    out = run("ingest", str(tmp_path / "a.parquet"), str(tmp_path / "b.csv"), "--data",
              str(tmp_path / "d"))
    assert f"{batch.num_rows + 97:,} stored" in out


def test_bad_file_is_named_with_its_row_and_nothing_is_stored(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    pcsv.write_csv(day_batch(flat_day(5)), good)
    bad = tmp_path / "bad.csv"
    lines = good.read_text().splitlines()
    lines[4] = lines[4].replace(",140,", ",14x,")
    bad.write_text("\n".join(lines) + "\n")
    message = run_failing("ingest", str(good), str(bad), "--data", "d", cwd=tmp_path)
    assert "bad.csv: line 5: channel" in message
    assert not list((tmp_path / "d").rglob("*.parquet"))


@pytest.mark.parametrize(("args", "expected"), [
    (["settle", "--date", "2026-13-01"], "--date '2026-13-01' is not a date"),
    (["settle", "--date", "2026-07-01", "--minutes", "5"], "--minutes must be 30 or 15"),
    (["ingest", "missing.csv"], "missing.csv: no such file or directory"),
    (["export", "--out", "x.parquet", "--channel", "999"], "--channel 999 is not a known"),
    (["purge", "--now", "2026-07-01T00:00:00"], "needs a UTC offset"),
    (["vee", "--date", "yesterday"], "--date 'yesterday' is not a date"),
])
def test_bad_arguments_give_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    assert expected in run_failing(*args, "--data", str(tmp_path / "d"), cwd=tmp_path)


@pytest.mark.parametrize("args", [
    ["vee"], ["settle", "--date", "2026-07-01"], ["purge"], ["export", "--out", "x.parquet"],
    ["ingest-feed", "feed.csv"],
])
def test_only_ingest_creates_a_store(tmp_path: Path, args: list[str]) -> None:
    """A mistyped --data is refused in one line and nothing is created (issue 9, item 9)."""
    typo = tmp_path / "smame-dtaa"
    line = run_failing(*args, "--data", str(typo), cwd=tmp_path)
    assert f"--data {typo} does not exist" in line
    assert not typo.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    line = run_failing(*args, "--data", str(empty), cwd=tmp_path)
    assert "not an MDMS store" in line
    assert list(empty.iterdir()) == []


def test_settle_to_an_unwritable_out_is_one_line(fleet_dir: Path, tmp_path: Path) -> None:
    data = str(tmp_path / "store")
    run("ingest", str(fleet_dir), "--data", data)
    line = run_failing("settle", "--date", "2026-07-01", "--data", data, "--format", "csv",
                       "--out", str(tmp_path / "no" / "such.csv"), cwd=tmp_path)
    assert "does not exist" in line
    line = run_failing("settle", "--date", "2026-07-01", "--data", data, "--format", "csv",
                       "--out", str(tmp_path), cwd=tmp_path)
    assert "is a directory" in line
