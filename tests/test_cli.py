"""The smame command, run as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from smame.meter.events import EVENT_SCHEMA
from smame.readings import SCHEMA, validate_batch


def smame(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run ``smame`` as a user runs it, not on a terminal, in English unless ``env`` says."""
    environment = {**os.environ, "LC_ALL": "C.UTF-8", **(env or {})}
    environment.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "smame.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env=environment)


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


def test_simulate_out_that_cannot_be_a_directory_is_one_line(tmp_path):
    """--out naming a file, or a place that cannot be written: one line, exit 2 (item 9)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me\n")
    for out, said in ((a_file, "is a file, not a directory"),
                      (a_file / "below", "cannot write"),
                      (Path("/proc/smame-fleet"), "cannot write")):  # not even root may
        result = smame("fleet", "simulate", "--meters", "10", "--out", str(out))
        assert result.returncode == 2, (out, result.stderr)
        assert said in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert a_file.read_text() == "keep me\n"


def test_errors_are_never_wrapped_without_a_terminal(tmp_path):
    """A 200-character path stays on the error's one line (item 8)."""
    deep = tmp_path / ("d" * 60) / ("e" * 60) / ("f" * 60) / "smame-data"
    for args in (["mdms", "vee", "--data", str(deep)],
                 ["api", "serve", "--data", str(deep)],
                 ["clients", "list", "--data", str(deep)],
                 ["hes", "read", "--manifest", str(deep / "m.json"), "--meter", "1",
                  "--demo-keys", "--data", str(deep)]):
        result = smame(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert str(deep) in lines[0]
        assert not deep.exists()


def test_usage_errors_are_one_line_too(tmp_path):
    result = smame("fleet", "simulate", "--no-such-option")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: No such option: --no-such-option (smame fleet simulate --help)"]


def test_messages_in_japanese_by_option_or_locale(tmp_path):
    """--lang ja, or a Japanese locale, gives Japanese error lines (item 7, the CLI half)."""
    typo = tmp_path / "typo"
    by_option = smame("--lang", "ja", "mdms", "vee", "--data", str(typo))
    assert by_option.returncode == 2
    assert by_option.stderr.startswith("エラー: ")
    assert "ディレクトリがありません" in by_option.stderr
    by_locale = smame("mdms", "vee", "--data", str(typo), env={"LC_ALL": "ja_JP.UTF-8"})
    assert by_locale.stderr == by_option.stderr
    english = smame("--lang", "en", "mdms", "vee", "--data", str(typo),
                    env={"LC_ALL": "ja_JP.UTF-8"})
    assert english.stderr.startswith("error: --data")
    bad = smame("--lang", "fr", "mdms", "vee")
    assert bad.returncode == 2
    assert "--lang 'fr': choose en or ja" in bad.stderr


def test_every_japanese_message_has_the_fields_of_its_english_one():
    from string import Formatter

    from smame.messages import JAPANESE

    def fields(text):
        return sorted(name for _, name, _, _ in Formatter().parse(text) if name)

    for english, japanese in JAPANESE.items():
        assert fields(english) == fields(japanese), english


def test_make_demo_takes_its_port_from_make_and_says_how_to_change_it():
    """`make demo PORT=N` reaches the demo; a busy port names the make variable (item 12)."""
    import socket

    repository = Path(__file__).resolve().parents[1]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(["make", "--no-print-directory", "-s", "demo", f"PORT={port}"],
                                cwd=repository, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert result.returncode != 0
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in error[0]
    assert "make demo PORT=N (0: any free port)" in error[0]


def test_every_japanese_message_is_one_the_code_asks_for():
    """A catalogue key that no tr() call uses is a message whose English drifted."""
    import ast

    from smame.messages import JAPANESE

    asked = set()
    for source in (Path(__file__).resolve().parents[1] / "src" / "smame").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "tr" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                asked.add(node.args[0].value)
    assert set(JAPANESE) - asked == set()
