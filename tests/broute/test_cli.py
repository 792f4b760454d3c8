"""``smame broute`` commands: a real get against a served node, and one-line errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime

import pytest
from typer.testing import CliRunner

from smame.cli import CliError
from smame.clock import SimulatedClock
from smame.echonet import EOJ
from smame.echonet import edt as enc
from smame.echonet.cli import app
from smame.echonet.client import UdpTransport
from smame.echonet.live import LiveMeter

from .test_real_clients import FLEET, START, _expected


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smame.echonet.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_get_over_udp(smame) -> None:
    smame("serve", "--host", "127.0.0.4", "--port", "3620")
    result = _run("get", "--host", "127.0.0.4", "--port", "3620", "E0", "e7")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"E0 {_expected().meter.import_register}"
    assert lines[1].startswith("E7 ")
    assert lines[1].endswith(" W")


def test_a_property_the_meter_does_not_serve_fails_the_read(smame) -> None:
    """Exit 1 (ran, part failed): the served values are printed, the refusal is one line."""
    smame("serve", "--host", "127.0.0.4", "--port", "3622")
    result = _run("get", "--host", "127.0.0.4", "--port", "3622", "E0", "0x55")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1] == "55 not available"
    assert result.stderr.strip().splitlines() == ["error: the meter did not serve EPC 55"]


def test_a_meter_that_never_answers_fails_the_read_in_one_line() -> None:
    result = _run("get", "--host", "127.0.0.4", "--port", "3623", "E0")
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: no response to TID")


def test_serve_keeps_45_days_of_history(smame) -> None:
    """SPEC M3: E5 = 44 reaches the 45th day back, as a meter keeping 45 days does."""
    smame("serve", "--host", "127.0.0.4", "--port", "3621", history_days=None)
    expected = LiveMeter.build(SimulatedClock(datetime.fromisoformat(START + "+09:00")),
                               meters=3, seed=5)

    async def main() -> dict[int, bytes | None]:
        transport = UdpTransport("127.0.0.4", 3621)
        client = await transport.open(("127.0.0.1", 0))
        try:
            return await client.set_get({0xE5: b"\x2c"}, [0xE2])
        finally:
            transport.close()

    day, values = enc.decode_history1(asyncio.run(main())[0xE2])
    assert day == 44
    obj = expected.node.objects[EOJ(0x02, 0x88, 0x01)]
    assert obj.set(0xE5, b"\x2c")
    assert None not in values  # all 48 half hours of the 45th day are kept
    assert values == enc.decode_history1(obj.get(0xE2))[1]


@pytest.mark.parametrize("args", [
    ["serve", "--host", "localhost"],
    ["serve", "--host", "127.0.0.5", "--port", "70000"],
    ["serve", "--host", "127.0.0.5", "--speed", "0"],
    ["serve", "--host", "127.0.0.5", "--meter-id", "5"],
    ["serve", "--host", "127.0.0.5", "--history-days", "46"],
    ["dongle", "--rbid", "0" * 32, "--password", "p", "--history-days", "0"],
    ["dongle", "--rbid", "0" * 32, "--password", "p", "--reply-delay", "-1"],
    ["dongle", "--rbid", "0" * 32, "--password", "p", "--session-lifetime", "5"],
    ["dongle", "--rbid", "short", "--password", "x"],
    ["dongle", "--rbid", "0" * 32, "--password", "p", "--model", "bp99"],
    ["get", "E0"],
    ["get", "--host", "127.0.0.5", "XYZ"],
    ["get", "--serial", "/dev/null", "E0"],
])
def test_bad_arguments_are_one_line_errors(args) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, CliError) or result.exit_code == 2


def test_error_exit_without_traceback() -> None:
    result = _run("serve", "--host", "not-an-address", *FLEET)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
