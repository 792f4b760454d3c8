"""`smame capacity` run as a user runs it."""

import json
import subprocess
import sys


def smame(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smame.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_capacity_writes_a_report_with_the_s1_and_s3_figures_and_plots(tmp_path):
    out = tmp_path / "cap"
    result = smame("capacity", "--meters", "2000000", "--methods", "multihop,1n,plc",
                   "--sample-areas", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = (out / "report.md").read_text()
    for line in ("S1: 30-minute data within 60 min", "S3 real-time ≥ 3%",
                 "S3 historical ≥ 10%", "concentrators / cells needed"):
        assert line in report
    for png in ("latency_cdf.png", "utilisation_by_hour.png", "headroom.png", "duty.png"):
        assert f"]({png})" in report
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    methods = summary["methods"]
    assert set(methods) == {"multihop", "1n", "plc"}
    assert sum(m["meters"] for m in methods.values()) == 2_000_000
    for figures in methods.values():
        assert 0.9 < figures["s1_within_60_min"] <= figures["s1_eventually"] <= 1
        assert figures["concentrators_or_cells_needed"] >= 1


def test_a_mix_file_moves_meters_between_methods(tmp_path):
    mix = tmp_path / "mix.yaml"
    mix.write_text("multihop: 0.25\nplc: 0.75\n")
    out = tmp_path / "cap"
    result = smame("capacity", "--meters", "400000", "--methods", "multihop,plc", "--mix",
                   str(mix), "--sample-areas", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    methods = json.loads((out / "summary.json").read_text())["methods"]
    assert methods["multihop"]["meters"] == 100_000
    assert methods["plc"]["meters"] == 300_000
    assert "duty.png" in (out / "report.md").read_text()


def test_bad_input_is_one_line_and_creates_nothing(tmp_path):
    bad = tmp_path / "fan.yaml"
    bad.write_text("multihop:\n  phy_kbps: 75\n")
    out = tmp_path / "never"
    cases = [
        (("--config", str(bad)),
         "fan.yaml: multihop.phy_kbps: must be one of 50, 100, 150, 200 (got 75)"),
        (("--methods", "multihop,lora"), "--methods: unknown method 'lora'"),
        (("--meters", "0"), "--meters must be within 1–200000000"),
        (("--sample-areas", "0"), "--sample-areas must be within 1–100000"),
        (("--config", str(tmp_path / "missing.yaml")), "missing.yaml: cannot read"),
    ]
    for args, message in cases:
        result = smame("capacity", *args, "--out", str(out))
        assert result.returncode == 2
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not out.exists()
