"""``smame cba`` writes the report; bad input is one line and nothing is written."""

from __future__ import annotations

import subprocess
import sys

from smame.analytics.cba import seed_parameters_path

PNG = b"\x89PNG\r\n\x1a\n"


def _smame(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smame.cli", *args], capture_output=True,
                          text=True, check=False, timeout=120)


def test_cba_writes_the_table_plots_and_regret_choice(tmp_path) -> None:
    out = tmp_path / "report"
    done = _smame("cba", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "meter_ready" in done.stdout
    report = (out / "cba.md").read_text(encoding="utf-8")
    assert "8 of 8 monthly figures match" in report
    assert "| 遠隔アンペア制御機能 (Remote ampere control) | M7, S9 | 1,350 to 1,500" in report
    assert "163 **← chosen**" in report
    for plot in ("tornado_yen_per_month.png", "tornado_net_benefit.png"):
        assert (out / plot).read_bytes().startswith(PNG)


def test_a_bad_parameter_file_is_one_line_exit_2_and_no_report(tmp_path) -> None:
    bad = tmp_path / "cba.yaml"
    bad.write_text(seed_parameters_path().read_text(encoding="utf-8")
                   .replace("months: 120", "months: -3"), encoding="utf-8")
    out = tmp_path / "report"
    done = _smame("cba", "--params", str(bad), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: cba.yaml: months: Input should be greater than 0 (got -3)"]
    assert not out.exists()


def test_an_error_naming_a_range_is_printed_as_written(tmp_path) -> None:
    bad = tmp_path / "cba.yaml"
    bad.write_text(seed_parameters_path().read_text(encoding="utf-8")
                   .replace("cost_oku: [322]", "cost_oku: [abc]"), encoding="utf-8")
    done = _smame("cba", "--params", str(bad), "--out", str(tmp_path / "report"))
    assert done.returncode == 2
    assert "must be a number of 億円 or [low, high] (got 'abc')" in " ".join(
        done.stderr.split())
