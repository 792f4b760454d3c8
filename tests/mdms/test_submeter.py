"""特例計量器 feeds and differential metering (SPEC S12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smame.mdms import Mdms
from smame.mdms.files import FileFormatError
from smame.mdms.submeter import SUB_CHANNEL, read_sub_meter_feed
from smame.readings import Source, make_batch
from tests.mdms.helpers import slot_end


@pytest.fixture
def with_sub(mdms: Mdms) -> Mdms:
    mdms.registry.load("sub_meters", {"sub_meter_id": [9001, 9002], "main_meter_id": [1, 2],
                                      "kind": ["ev", "pv"]})
    mdms.ingest(make_batch([1, 1, 1, 2], [slot_end(1), slot_end(2), slot_end(3), slot_end(1)],
                           140, [100, 50, 80, 10]))
    return mdms


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("sub_meter_id,interval_end,energy_wh\n" + "".join(r + "\n" for r in rows))
    return path


def test_csv_feed_and_differential(with_sub: Mdms, tmp_path: Path) -> None:
    start = "2026-07-01T00:30:00+09:00"
    feed = write_csv(tmp_path / "ev.csv", [
        f"9001,{start},400",
        "9001,2026-07-01T01:00:00+09:00,700",  # above the main meter's 500 Wh
        "9001,2026-07-01T01:15:00+09:00,5",  # off the 30-minute grid
    ])
    result = with_sub.ingest_sub_meter_feed(feed)
    assert result.stored == 3
    stored = with_sub.readings(9001, channels=[SUB_CHANNEL])
    assert set(stored.column("source").to_pylist()) == {Source.SUB_METER_FEED}
    diff = with_sub.differential(slot_end(0), slot_end(4), [1]).to_pylist()
    by_end = {row["interval_end"].timestamp(): row for row in diff}
    first = by_end[slot_end(1)]
    assert (first["main_wh"], first["sub_wh"], first["net_wh"]) == (1000, 400, 600)
    assert not first["sub_above_main"]
    assert not first["misaligned"]
    second = by_end[slot_end(2)]
    assert (second["net_wh"], second["sub_above_main"]) == (-200, True)
    third = by_end[slot_end(3)]
    assert (third["main_wh"], third["sub_wh"], third["net_wh"]) == (800, 0, 800)
    odd = by_end[slot_end(2) + 900]
    assert odd["misaligned"]
    assert odd["net_wh"] is None


def test_json_feed(with_sub: Mdms, tmp_path: Path) -> None:
    feed = tmp_path / "pv.json"
    feed.write_text(json.dumps({"readings": [
        {"sub_meter_id": 9002, "interval_end": slot_end(1), "energy_wh": 30}]}))
    with_sub.ingest_sub_meter_feed(feed)
    diff = with_sub.differential(slot_end(0), slot_end(4), [2]).to_pylist()
    # PV is generation behind the meter: it adds to what the premises used
    assert [(r["main_wh"], r["sub_wh"], r["sub_generation_wh"], r["net_wh"]) for r in diff
            ] == [(100, 0, 30, 130)]


def test_unregistered_sub_meter_is_refused(with_sub: Mdms, tmp_path: Path) -> None:
    feed = write_csv(tmp_path / "x.csv", ["9001,2026-07-01T00:30:00+09:00,1",
                                          "4242,2026-07-01T00:30:00+09:00,1"])
    with pytest.raises(FileFormatError, match=r"x\.csv: line 3: sub-meter 4242"):
        with_sub.ingest_sub_meter_feed(feed)
    assert with_sub.readings(channels=[SUB_CHANNEL]).num_rows == 0


@pytest.mark.parametrize(("rows", "where"), [
    (["9001,2026-07-01T00:30:00+09:00,-1"], "line 2: energy_wh -1 is negative"),
    (["9001,2026-07-01T00:30:00+09:00,1", "9001,yesterday,1"], "line 3: interval_end"),
    (["abc,2026-07-01T00:30:00+09:00,1"], "line 2: sub_meter_id"),
    (["9001,2026-07-01T00:30:00+09:00,"], "line 2: energy_wh is empty"),
])
def test_malformed_feed_names_file_and_row(tmp_path: Path, rows, where) -> None:
    feed = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(FileFormatError, match=re.escape("bad.csv: " + where)):
        read_sub_meter_feed(feed)


def test_malformed_json_names_record(tmp_path: Path) -> None:
    feed = tmp_path / "bad.json"
    feed.write_text(json.dumps([{"sub_meter_id": 1, "interval_end": slot_end(1),
                                 "energy_wh": 3}, {"sub_meter_id": 1, "energy_wh": 3}]))
    with pytest.raises(FileFormatError, match=r"bad\.json: record 2: interval_end is empty"):
        read_sub_meter_feed(feed)


def test_pv_and_battery_are_handled_by_direction(mdms: Mdms, tmp_path: Path) -> None:
    mdms.registry.load("sub_meters", {"sub_meter_id": [81, 91], "main_meter_id": [5, 6],
                                      "kind": ["pv", "battery"]})
    # Meter 5 at noon: imports 200 Wh, exports 1,500 Wh while its PV makes 2,000 Wh.
    mdms.ingest(make_batch(5, slot_end(24), [140, 240], [20, 150]))
    # Meter 6: imports 300 Wh in slot 1 (battery charging 250), exports 0 in slot 2
    # while the battery discharges 400 Wh, and imports 100 Wh.
    mdms.ingest(make_batch(6, [slot_end(1), slot_end(2)], 140, [30, 10]))
    feed = tmp_path / "behind.csv"
    feed.write_text("sub_meter_id,interval_end,energy_wh,direction\n"
                    f"81,{slot_end(24)},2000,forward\n"
                    f"91,{slot_end(1)},250,forward\n"
                    f"91,{slot_end(2)},400,reverse\n")
    mdms.ingest_sub_meter_feed(feed)
    rows = mdms.differential(slot_end(0), slot_end(48)).to_pylist()
    pv = next(r for r in rows if r["main_meter_id"] == 5)
    assert (pv["main_wh"], pv["main_export_wh"], pv["sub_generation_wh"], pv["sub_wh"]) == (
        200, 1500, 2000, 0)
    assert pv["net_wh"] == 200 - 1500 + 2000
    assert not pv["export_above_generation"]
    charge, discharge = (r for r in rows if r["main_meter_id"] == 6)
    assert (charge["sub_wh"], charge["net_wh"]) == (250, 50)
    assert (discharge["sub_generation_wh"], discharge["net_wh"]) == (400, 500)
    table = mdms.differential(slot_end(0), slot_end(48))
    for name in ("main_wh", "main_export_wh", "sub_wh", "sub_generation_wh", "net_wh"):
        assert table.schema.field(name).type == "int64"


def test_export_beyond_the_generation_behind_the_meter_is_flagged(mdms: Mdms, tmp_path: Path
                                                                   ) -> None:
    mdms.registry.load("sub_meters", {"sub_meter_id": [81], "main_meter_id": [5],
                                      "kind": ["pv"]})
    mdms.ingest(make_batch(5, slot_end(24), [140, 240], [0, 150]))
    feed = write_csv(tmp_path / "pv.csv", [f"81,{slot_end(24)},900"])
    mdms.ingest_sub_meter_feed(feed)
    row = mdms.differential(slot_end(0), slot_end(48)).to_pylist()[0]
    assert row["export_above_generation"]


def test_a_bad_direction_names_the_line(tmp_path: Path) -> None:
    feed = tmp_path / "bad.csv"
    feed.write_text(f"sub_meter_id,interval_end,energy_wh,direction\n81,{slot_end(1)},5,up\n")
    with pytest.raises(FileFormatError, match=r"bad\.csv: line 2: direction 'up'"):
        read_sub_meter_feed(feed)
