"""`smame hes` against `smame meter serve`, two real processes on loopback."""

import json
import socket
import subprocess
import sys

import pytest


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """Two meters served at 600× with pushes to a UDP port, spread over 60 s; yields
    (manifest, push port)."""
    manifest = tmp_path / "manifest.json"
    push_port = free_udp_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "meter", "serve", "--meters", "2", "--port", "0",
         "--demo-keys", "--speed", "600", "--manifest", str(manifest),
         "--push", f"127.0.0.1:{push_port}", "--push-window", "60"],
        stdout=subprocess.PIPE, text=True)
    try:
        for line in server.stdout:  # wait until the server says where it listens
            if "manifest written" in line:
                break
        yield manifest, push_port
    finally:
        server.terminate()
        server.wait(timeout=30)


def smame(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smame.cli", "hes", *args],
                          capture_output=True, text=True, timeout=120)


def test_read_and_command_one_meter(served, tmp_path):
    manifest, _ = served
    meter = json.loads(manifest.read_text())["meters"][0]["meter_id"]
    common = ["--manifest", str(manifest), "--demo-keys", "--data", str(tmp_path / "d")]
    registers = smame("read", "--meter", str(meter), *common)
    assert registers.returncode == 0, registers.stderr
    assert set(json.loads(registers.stdout)) == {"imp", "exp", "rea"}
    again = smame("read", "--meter", str(meter), "--what", "instantaneous", *common)
    assert again.returncode == 0, again.stderr  # the stored counters moved on
    assert "voltage_v" in json.loads(again.stdout)
    result = smame("command", "set_limit", "--meter", str(meter), "--amps", "40", *common)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "succeeded"
    assert len(outcome["correlation_id"]) == 36
    refused = smame("command", "set_limit", "--meter", str(meter), "--amps", "70", *common)
    assert refused.returncode == 2
    assert "10–60 A" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_run_collects_pushes_into_parquet(served, tmp_path):
    manifest, push_port = served
    result = smame("run", "--manifest", str(manifest), "--demo-keys", "--data",
                   str(tmp_path / "d"), "--listen", f"127.0.0.1:{push_port}", "--run-for", "8")
    assert result.returncode == 0, result.stderr
    assert "pulls what did not arrive 180 s after each interval" in " ".join(result.stdout.split())
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["pushes"] >= 2
    assert summary["rows"] >= 8
    assert list((tmp_path / "d" / "hes" / "readings").rglob("*.parquet"))


def test_bad_arguments_are_one_line_errors(tmp_path):
    missing = smame("read", "--manifest", str(tmp_path / "none.json"), "--meter", "1",
                    "--demo-keys")
    assert missing.returncode == 2
    assert "cannot read the manifest" in missing.stderr
    both = smame("read", "--manifest", str(tmp_path / "none.json"), "--meter", "1")
    assert both.returncode == 2
    assert "exactly one of" in both.stderr
    grace = smame("run", "--manifest", str(tmp_path / "none.json"), "--demo-keys",
                  "--push-grace", "-1")
    assert grace.returncode == 2
    assert "--push-grace cannot be negative" in grace.stderr


def test_command_exit_status_says_what_happened(served, tmp_path):
    """0: every meter succeeded; 1: some failed (JSON says which); 2: nothing sent (item 10)."""
    manifest, _ = served
    document = json.loads(manifest.read_text())
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    document["meters"][1]["port"] = closed_port
    broken = tmp_path / "one-meter-gone.json"
    broken.write_text(json.dumps(document))
    good, gone = (m["meter_id"] for m in document["meters"])
    common = ["--manifest", str(broken), "--demo-keys", "--data", str(tmp_path / "d")]
    ok = smame("command", "set_limit", "--meter", str(good), "--amps", "30", *common)
    assert ok.returncode == 0, ok.stderr
    partial = smame("command", "set_limit", "--meter", str(good), "--meter", str(gone),
                    "--amps", "30", *common)
    assert partial.returncode == 1, partial.stderr
    outcome = json.loads(partial.stdout)
    assert outcome["status"] == "partial"
    assert outcome["results"][str(gone)]["ok"] is False
    assert f"command set_limit partial: 1 of 2 meter(s) succeeded, correlation id " \
           f"{outcome['correlation_id']}" in partial.stderr.splitlines()[-1]
    failed = smame("command", "set_limit", "--meter", str(gone), "--amps", "30", *common)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "failed"
    unread = smame("read", "--meter", str(gone), *common)
    assert unread.returncode == 1
    assert "Traceback" not in unread.stderr
    unknown = smame("command", "set_limit", "--meter", "42", "--amps", "30", *common)
    assert unknown.returncode == 2
    assert f"--meter 42 is not in {broken}" in unknown.stderr
    assert "Exit status: 0" in " ".join(smame("command", "--help").stdout.split())


def test_reservation_delay_is_checked_before_anything_is_sent(tmp_path):
    for delay in ("soon", "0m", "-5m"):
        result = smame("command", "reserve_limit", "--manifest", str(tmp_path / "none.json"),
                       "--demo-keys", "--meter", "1", "--amps", "20", "--in", delay)
        assert result.returncode == 2, result.stderr
        assert f"--in {delay!r}: give a delay such as 90m" in result.stderr
    both = smame("command", "reserve_limit", "--manifest", str(tmp_path / "none.json"),
                 "--demo-keys", "--meter", "1", "--amps", "20", "--in", "2h",
                 "--at", "2030-01-01T00:00+09:00")
    assert both.returncode == 2
    assert "give --at or --in, not both" in both.stderr
