"""`make demo` runs `smame demo`: it must show the day it promises."""

from tests.test_cli import smame


def test_demo_collects_a_day_with_commands_outage_and_last_gasp():
    result = smame("demo", "--meters", "100", "--speed", "5760")
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "Fleet load collected by the head-end" in out
    assert "48 half-hour intervals: collection rate min 100.00%" in out
    assert "Last Gasp alarms from 10:00:01" in out
    assert "restore reports at 10:40:00" in out
    assert "without Last Gasp stayed silent" in out
    assert "ampere reservation executed on 40 meters at 18:00:00 (20 A)" in out
    for command in ("reserve_limit", "clock_sync", "disconnect", "reconnect", "soft_switch"):
        assert f"│ {command}" in result.stdout
    assert "failed │" not in result.stdout.replace("succeeded", "")
    assert "MDMS: ingest, VEE and settlement" in out
    assert "30-minute settlement sums" in out
    assert "R01" in out
    assert "B-route: a HEMS reads meter" in out
    assert "— the same)" in out
    assert "refilled minute(s)" in out


def test_demo_refuses_a_fleet_too_small_to_show_anything():
    result = smame("demo", "--meters", "3")
    assert result.returncode == 2
    assert "at least 60 meters" in result.stderr
