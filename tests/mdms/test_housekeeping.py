"""Housekeeping without a person: compaction resumes after a crash, late data re-closes
a closed day (issue 11.3, 11.8)."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from smame.clock import SimulatedClock
from smame.mdms import Mdms
from smame.mdms.cli import app
from smame.readings import make_batch
from tests.mdms.helpers import DAY, START, day_batch, flat_day, slot_end
from tests.mdms.test_estimation import drop_slots

NOW = "2026-07-06T00:00:00+09:00"


def vee(data: Path) -> str:
    result = CliRunner().invoke(app, ["vee", "--data", str(data), "--now", NOW],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def day_files(data: Path) -> list[str]:
    with Mdms(data, clock=SimulatedClock(START + 5 * 86400)) as mdms:
        return sorted(Path(r[0]).name for r in mdms.store.con.execute(
            "SELECT path FROM files WHERE day = ?", [DAY]).fetchall())


def test_compaction_resumes_after_a_crash_between_close_and_compact(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Mdms(data, clock=SimulatedClock(START + 5 * 86400)) as mdms:
        mdms.ingest(drop_slots(day_batch(flat_day(20)), [10], channels=(140, 100)))
        mdms.ingest(make_batch(2, slot_end(3), 140, 5))
        mdms.close_day(DAY)  # ... and the process dies before compacting
        assert mdms.days_to_compact() == [DAY]
    assert any(name.startswith("v") for name in day_files(data))
    vee(data)
    assert all(name.startswith("c") for name in day_files(data))
    with Mdms(data, clock=SimulatedClock(START + 5 * 86400)) as mdms:
        assert mdms.days_to_compact() == []


def test_vee_recloses_a_day_that_received_late_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Mdms(data, clock=SimulatedClock(START + 5 * 86400)) as mdms:
        mdms.ingest(drop_slots(day_batch(flat_day(20), with_registers=False), [10]))
    vee(data)
    with Mdms(data, clock=SimulatedClock(START + 5 * 86400)) as mdms:
        mdms.ingest(make_batch(1, slot_end(10), 140, 33))
        assert mdms.revee_queue() == [DAY]
    vee(data)
    with Mdms(data, clock=SimulatedClock(START + 5 * 86400)) as mdms:
        assert mdms.revee_queue() == []
        assert mdms.readings(1, slot_end(10), slot_end(10), channels=[140]
                             ).column("value").to_pylist() == [33]
        assert mdms.days_to_compact() == []


def test_store_files_are_owner_only(tmp_path: Path) -> None:
    """Readings and the registry are personal data (S14): the data directory is 0700, the
    catalog and every data file, ingested, estimated or compacted, 0600."""
    data = tmp_path / "data"
    with Mdms(data, clock=SimulatedClock(START + 5 * 86400)) as mdms:
        mdms.ingest(drop_slots(day_batch(flat_day(20)), [10], channels=(140, 100)))
        mdms.close_day(DAY)
        written = {p for p in data.rglob("*.parquet")}
        mdms.compact(DAY)
        written |= {p for p in data.rglob("*.parquet")}
        mdms.edit(1, 140, slot_end(4), 21, user="sato", reason="FIELD_READ")
    files = [p for p in data.rglob("*") if p.is_file()]
    assert len(written) >= 3
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {p.name for p in files} >= {"catalog.duckdb"}
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in files} == {p: 0o600 for p in files}
