"""``smame meter serve`` (the Typer sub-app in smame.dlms.cli) and key files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from smame.dlms import DEMO_KEYS, MeterKeys, load_keys
from smame.dlms.cli import app
from smame.dlms.keys import KeyFileError
from tests.dlms.support import IC, attr, tcp_client, value

runner = CliRunner()
KEY_A = "00112233445566778899AABBCCDDEEFF"
KEY_B = "FFEEDDCCBBAA99887766554433221100"


def serve(*args: str):
    return runner.invoke(app, ["serve", *args])


@pytest.mark.parametrize(("args", "message"), [
    (["--meters", "0", "--demo-keys"], "--meters must be at least 1"),
    (["--speed", "0", "--demo-keys"], "--speed must be > 0"),
    (["--port", "65535", "--meters", "2", "--demo-keys"], "do not fit"),
    ([], "exactly one of --keys FILE or --demo-keys"),
    (["--demo-keys", "--keys", "k.json"], "exactly one of --keys FILE or --demo-keys"),
    (["--keys", "missing.json"], "cannot read missing.json"),
    (["--demo-keys", "--push", "nowhere"], "is not host:port"),
    (["--demo-keys", "--run-for", "-1"], "cannot be negative"),
    (["--demo-keys", "--push-window", "70000"], "--push-window must be within 0..65535"),
    (["--demo-keys", "--first-meter-id", "0"], "--first-meter-id must be within"),
])
def test_bad_arguments_give_one_line_and_exit_2(args, message):
    result = serve(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_keys_file_must_cover_every_meter(tmp_path):
    keys = tmp_path / "keys.csv"
    keys.write_text(f"meter_id,encryption_key,authentication_key\n100000001,{KEY_A},{KEY_B}\n")
    result = serve("--meters", "2", "--keys", str(keys), "--port", "0", "--run-for", "0")
    assert result.exit_code == 2
    assert "no keys for meter 100000002" in result.output


def test_serve_writes_a_manifest(tmp_path):
    manifest = tmp_path / "meters.json"
    result = serve("--meters", "3", "--port", "0", "--demo-keys", "--run-for", "0",
                   "--manifest", str(manifest))
    assert result.exit_code == 0, result.output
    document = json.loads(manifest.read_text())
    assert document["format"] == "smame-meter-manifest/1"
    assert document["client_sap"] == {"management": 1, "public": 16}
    assert document["security"]["invocation_counter"] == "0.0.43.1.1.255"
    assert [m["meter_id"] for m in document["meters"]] == [100000001, 100000002, 100000003]
    assert all(m["port"] > 0 and m["server_sap"] == 1 for m in document["meters"])
    assert document["meters"][0]["logical_device_name"] == "SMM100000001"
    assert "listening on 127.0.0.1:" in result.output


def test_servers_of_disjoint_meter_ranges(tmp_path):
    """Two servers of one deployment: ids from --first-meter-id, keys looked up by those ids."""
    keys = tmp_path / "keys.csv"
    keys.write_text("meter_id,encryption_key,authentication_key\n"
                    f"200000001,{KEY_A},{KEY_B}\n200000002,{KEY_B},{KEY_A}\n")
    manifest = tmp_path / "meters.json"
    result = serve("--meters", "2", "--port", "0", "--keys", str(keys), "--run-for", "0",
                   "--first-meter-id", "200000001", "--manifest", str(manifest))
    assert result.exit_code == 0, result.output
    document = json.loads(manifest.read_text())
    assert [m["meter_id"] for m in document["meters"]] == [200000001, 200000002]
    assert document["meters"][1]["logical_device_name"] == "SMM200000002"


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve("--port", str(port), "--demo-keys", "--run-for", "0")
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_load_keys_json_and_csv(tmp_path):
    as_json = tmp_path / "keys.json"
    as_json.write_text(json.dumps({"meters": {"7": {"encryption_key": KEY_A,
                                                    "authentication_key": KEY_B}}}))
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([{"meter_id": 7, "encryption_key": KEY_A,
                                    "authentication_key": KEY_B}]))
    as_csv = tmp_path / "keys.csv"
    as_csv.write_text(f"meter_id,encryption_key,authentication_key\n7,{KEY_A},{KEY_B}\n")
    expected = {7: MeterKeys.from_hex(KEY_A, KEY_B)}
    for path in (as_json, as_list, as_csv):
        assert load_keys(path, [7]) == expected
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"meter_id": 7, "encryption_key": "00",
                                "authentication_key": KEY_B}]))
    with pytest.raises(KeyFileError, match="16 octets"):
        load_keys(bad)
    with pytest.raises(KeyFileError, match="no keys for meter 8"):
        load_keys(as_csv, [7, 8])


def test_python_m_serve_with_a_real_client(tmp_path):
    """The command as a process: meters listen where the manifest says, with the keys."""
    manifest = tmp_path / "meters.json"
    errors = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "smame.dlms.cli", "serve", "--meters", "2", "--port", "0",
         "--demo-keys", "--speed", "60", "--manifest", str(manifest), "--run-for", "120",
         "--push-window", "600"],
        stdout=subprocess.PIPE, stderr=errors, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        for line in process.stdout:  # blocks until the server has announced itself
            if line.startswith("serving"):
                break
        entry = json.loads(manifest.read_text())["meters"][1]
        client = tcp_client(entry["port"], 1)
        with client.session():
            name = value(client.get(attr(IC.DATA, "0.0.42.0.0.255", 2)))
            register = value(client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 2)))
            window = value(client.get(attr(IC.PUSH, "0.0.25.9.0.255", 5)))
        assert window == 600
        assert json.loads(manifest.read_text())["push_window_s"] == 600
        assert name.decode() == entry["logical_device_name"] == "SMM100000002"
        assert 0 <= register < 10**8
    finally:
        process.terminate()
        process.wait(timeout=30)
        errors.close()
    assert DEMO_KEYS.encryption_key.hex() == "000102030405060708090a0b0c0d0e0f"
