"""``smame broute`` commands: a real get against a served node, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from smame.cli import CliError
from smame.echonet.cli import app

from .test_real_clients import FLEET, _expected


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smame.echonet.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_get_over_udp(smame) -> None:
    smame("serve", "--host", "127.0.0.4", "--port", "3620")
    result = _run("get", "--host", "127.0.0.4", "--port", "3620", "E0", "e7", "0x55")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"E0 {_expected().meter.import_register}"
    assert lines[1].startswith("E7 ")
    assert lines[1].endswith(" W")
    assert lines[2] == "55 not available"


@pytest.mark.parametrize("args", [
    ["serve", "--host", "localhost"],
    ["serve", "--host", "127.0.0.5", "--port", "70000"],
    ["serve", "--host", "127.0.0.5", "--speed", "0"],
    ["serve", "--host", "127.0.0.5", "--meter-id", "5"],
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
