"""The smame command, run as a user runs it."""

import json
import subprocess
import sys

import pyarrow.parquet as pq

from smame.meter.events import EVENT_SCHEMA
from smame.readings import SCHEMA, validate_batch


def smame(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smame.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_fleet_simulate_writes_the_files_it_claims(tmp_path):
    out = tmp_path / "fleet"
    result = smame("fleet", "simulate", "--meters", "300", "--days", "2", "--start",
                   "2026-01-10", "--seed", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meters"] == 300
    assert summary["days"] == ["2026-01-10", "2026-01-11"]
    rows = event_rows = 0
    for day in summary["days"]:
        table = validate_batch(pq.read_table(out / "readings" / f"date={day}"))
        assert table.schema.equals(SCHEMA)
        rows += table.num_rows
        # 48 transmitted intervals + registers for each meter and direction.
        assert (table.column("channel").to_numpy() == 140).sum() == 300 * 48
        events = pq.read_table(out / "events" / f"date={day}")
        event_rows += events.cast(EVENT_SCHEMA).num_rows
    assert rows == summary["rows"]
    assert event_rows == sum(summary["events"].values())
    assert sum(c["rows"] for c in summary["channels"].values()) == rows
    assert summary["energy_kwh"]["import"] > 300 * 2 * 5
    meters = pq.read_table(out / "meters")
    assert meters.num_rows == 300
    assert pq.read_table(out / "joint_meters").num_rows > 0
    assert "wrote" in result.stdout


def test_bad_arguments_give_one_line_errors_not_tracebacks(tmp_path):
    for args, message in [
        (["--meters", "0"], "meters must be > 0"),
        (["--days", "0"], "--days must be > 0"),
        (["--start", "2026-13-01"], "is not a date"),
        (["--pv-share", "1.5"], "pv_share must be within 0–1"),
    ]:
        result = smame("fleet", "simulate", "--out", str(tmp_path / "x"), *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
