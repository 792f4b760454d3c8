"""`make demo` runs `smame demo`: it must show the day it promises."""

from tests.test_cli import smame


def test_demo_shows_the_day_with_commands_outage_and_last_gasp():
    result = smame("demo", "--meters", "120")
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "Fleet load, 30-minute slots" in out
    assert "RESERVATION_EXECUTED" in out
    assert "DISCONNECTED" in out
    assert "RECONNECTED" in out
    assert "Last Gasp alarms at 10:00:01" in out
    assert "with Last Gasp off stayed silent" in out
    assert "now limited to 20 A" in out


def test_demo_refuses_a_fleet_too_small_to_show_anything():
    result = smame("demo", "--meters", "3")
    assert result.returncode == 2
    assert "at least 10 meters" in result.stderr
