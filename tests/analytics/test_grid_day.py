"""A simulated day with a transformer and a feeder outage, collected into an MDMS and
located from its data alone (SPEC S8, M6, A3)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time

import numpy as np
import pyarrow.compute as pc
import pytest

from smame.analytics.grid import day_outages, day_voltage
from smame.analytics.outages import Evidence, Level
from smame.clock import JST, jst_day_start
from smame.mdms import Mdms
from smame.mdms.seed import seed_registry
from smame.meter import EventKind, Fleet, FleetConfig
from smame.meter.events import events_table
from smame.meter.simulate import meters_table

DAY = date(2026, 7, 1)
START = jst_day_start(DAY)


def _at(hour: int, minute: int = 0) -> int:
    return START + hour * 3600 + minute * 60


def _simulated_day(tmp_path, drop_kinds: tuple[EventKind, ...] = (),
                   last_gasp_off: bool = False):
    fleet = Fleet(FleetConfig(meters=3000, start=datetime.combine(DAY, time(0), JST), seed=5,
                              transformer_outages_per_year=0, feeder_outages_per_year=0))
    topology = meters_table(fleet)
    transformer = int(topology.column("transformer")[10].as_py())
    feeders = np.unique(topology.column("feeder").to_numpy())
    feeder = int(feeders[-1])
    if last_gasp_off:
        for row in range(fleet.config.meters):
            fleet.set_last_gasp(row, False)
    fleet.schedule_outage(_at(10), _at(10, 40), transformers=(transformer,))
    fleet.schedule_outage(_at(14), _at(15, 30), feeders=(feeder,))
    batches = fleet.advance(1440)
    events = events_table(e for e in fleet.events.drain() if e.kind not in drop_kinds)
    mdms = Mdms(tmp_path / "mdms")
    seed_registry(mdms.registry, topology, None, DAY)
    for batch in batches:
        mdms.ingest(batch)
    mdms.ingest_events(events)
    tx_meters = int(pc.sum(pc.equal(topology.column("transformer"), transformer)).as_py())
    feeder_meters = int(pc.sum(pc.equal(topology.column("feeder"), feeder)).as_py())
    return mdms, transformer, tx_meters, feeder, feeder_meters


def _check(result, transformer, tx_meters, feeder, feeder_meters, end_tolerance_s):
    sustained = [i for i in result.incidents if not i.momentary]
    levels = {(i.level, i.element): i for i in sustained}
    assert set(levels) == {(Level.TRANSFORMER, transformer), (Level.FEEDER, feeder)}
    tx = levels[(Level.TRANSFORMER, transformer)]
    fd = levels[(Level.FEEDER, feeder)]
    assert tx.customers == tx_meters
    assert fd.customers == feeder_meters
    assert abs(tx.start - _at(10)) <= 1800
    assert abs(tx.end - _at(10, 40)) <= end_tolerance_s
    assert abs(fd.end - _at(15, 30)) <= end_tolerance_s
    customer_minutes = tx_meters * 40 + feeder_meters * 90
    assert result.area.saidi * result.area.customers == pytest.approx(customer_minutes,
                                                                      rel=0.25)
    assert result.area.saifi == pytest.approx((tx_meters + feeder_meters) / 3000)


def test_the_day_locates_a_transformer_and_a_feeder_outage(tmp_path) -> None:
    mdms, *truth = _simulated_day(tmp_path)
    with mdms:
        result = day_outages(mdms, DAY)
    _check(result, *truth, end_tolerance_s=60)
    assert all(i.end is not None for i in result.incidents)


def test_lost_restore_notifications_are_inferred_from_reads(tmp_path) -> None:
    mdms, *truth = _simulated_day(tmp_path, drop_kinds=(EventKind.POWER_RESTORED,))
    with mdms:
        result = day_outages(mdms, DAY)
    _check(result, *truth, end_tolerance_s=1800)
    ends = {s.end_by for i in result.incidents for s in i.spans}
    assert Evidence.LIVE_READS in ends
    assert Evidence.RESTORE_NOTICE not in ends


def test_with_last_gasp_off_and_no_notifications_the_reads_still_tell(tmp_path) -> None:
    mdms, *truth = _simulated_day(
        tmp_path, drop_kinds=(EventKind.POWER_RESTORED, EventKind.POWER_DOWN),
        last_gasp_off=True)
    with mdms:
        result = day_outages(mdms, DAY)
        assert mdms.events(kinds=[int(EventKind.LAST_GASP)]).num_rows == 0
    _check(result, *truth, end_tolerance_s=1800)


def test_the_day_voltage_and_the_cli_reports(tmp_path) -> None:
    mdms, *_ = _simulated_day(tmp_path)
    with mdms:
        report = day_voltage(mdms, DAY)
    assert report.values > 0
    assert sum(t.meters for t in report.transformers) > 0
    smame = [sys.executable, "-m", "smame.cli", "analyze"]
    for what, name in (("outages", "outages.md"), ("voltage", "voltage.md")):
        done = subprocess.run([*smame, what, "--data", str(tmp_path / "mdms"), "--day",
                               DAY.isoformat(), "--out", str(tmp_path / what)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        text = (tmp_path / what / name).read_text(encoding="utf-8")
        assert "SPEC" in text
    assert "| transformer |" in (tmp_path / "outages" / "outages.md").read_text()
    missing = subprocess.run([*smame, "outages", "--data", str(tmp_path / "nowhere"), "--day",
                              DAY.isoformat(), "--out", str(tmp_path / "x")],
                             capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2
    assert "--data" in missing.stderr
    assert "does not exist" in missing.stderr
    assert not (tmp_path / "nowhere").exists()
    assert not (tmp_path / "x").exists()
