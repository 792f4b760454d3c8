"""The FAN config: shipped defaults, overlays, and one-line errors naming the field."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smame.fan.config import CONFIG_VERSION, FanConfigError, load_config, load_mix


def write(tmp_path, text: str, name: str = "fan.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refusal(path) -> str:
    with pytest.raises(FanConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_shipped_defaults_load_and_are_versioned():
    config = load_config()
    assert config.version == CONFIG_VERSION
    assert sum(config.fleet.mix.shares().values()) == pytest.approx(1)
    assert config.multihop.phy_kbps in (50, 100, 150, 200)
    assert config.multihop.hourly_tx_budget_s == 360  # ARIB STD-T108
    assert config.traffic.retention_days == 45


def test_an_overlay_changes_only_what_it_names(tmp_path):
    config = load_config(write(tmp_path, "multihop:\n  phy_kbps: 150\n"))
    assert config.multihop.phy_kbps == 150
    assert config.multihop.mac_retries == load_config().multihop.mac_retries


def test_a_bad_rate_is_one_line_naming_file_and_field(tmp_path):
    message = refusal(write(tmp_path, "multihop:\n  phy_kbps: 75\n"))
    assert message == "fan.yaml: multihop.phy_kbps: must be one of 50, 100, 150, 200 (got 75)"


@pytest.mark.parametrize(("text", "expected"), [
    ("multihop:\n  link_per: 1.5\n", "fan.yaml: multihop.link_per: must be within 0–0.9 (got 1.5)"),
    ("1n:\n  attach_s: soon\n", "fan.yaml: 1n.attach_s: must be a number (got 'soon')"),
    ("multihop:\n  mac_retries: 2.5\n",
     "fan.yaml: multihop.mac_retries: must be a whole number (got 2.5)"),
    ("plc:\n  link_per: .nan\n", "fan.yaml: plc.link_per: must be a number (got nan)"),
    ("plc:\n  bogus: 1\n", "fan.yaml: plc.bogus: unknown field"),
    ("fleet:\n  mix: {multihop: 0.5, 1n: 0.1, plc: 0.1}\n",
     "fan.yaml: fleet.mix: shares must add up to 1 (got 0.7)"),
    ("version: 2\n", "fan.yaml: version: must be 1 (got 2)"),
    ("traffic:\n  historical_window_h: [5, 1]\n",
     "fan.yaml: traffic.historical_window_h: must be [from, to] with from < to"),
    ("multihop: [1, 2]\n", "fan.yaml: multihop: must be a mapping (got [1, 2])"),
    ("multihop:\n  phy_kbps: [\n", "fan.yaml: not YAML at line 3"),
    ("- a\n- b\n", "fan.yaml: must be a mapping of sections"),
])
def test_bad_values_are_refused_in_one_line(tmp_path, text, expected):
    assert refusal(write(tmp_path, text)) == expected


def test_a_missing_file_is_one_line(tmp_path):
    assert refusal(tmp_path / "nope.yaml").startswith("nope.yaml: cannot read")


def test_a_mix_file_replaces_the_mix(tmp_path):
    config = load_mix(write(tmp_path, "multihop: 0.6\nplc: 0.4\n", "mix.yaml"), load_config())
    assert config.fleet.mix.shares() == {"multihop": 0.6, "1n": 0.0, "plc": 0.4}
    with pytest.raises(FanConfigError, match=r"^mix.yaml: wifi: unknown method"):
        load_mix(write(tmp_path, "wifi: 1\n", "mix.yaml"), load_config())
    with pytest.raises(FanConfigError, match=r"^mix.yaml: fleet.mix: shares must add up"):
        load_mix(write(tmp_path, "plc: 0.5\n", "mix.yaml"), load_config())


FIELDS = [("multihop", "phy_kbps"), ("multihop", "link_per"), ("traffic", "push_window_s"),
          ("1n", "sessions_per_cell"), ("plc", "phy_kbps"), ("faults", "meter_off_mesh")]
VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=5),
                   st.booleans(), st.none(), st.lists(st.integers(), max_size=3))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(FIELDS), VALUES)
def test_any_value_is_either_used_or_refused_naming_its_field(section_field, value):
    section, name = section_field
    problem = None
    try:
        config = load_config(overrides={section: {name: value}})
    except FanConfigError as exc:
        problem = str(exc)
    if problem is not None:
        assert f"{section}.{name}" in problem
        assert "\n" not in problem
    else:
        got = getattr(getattr(config, "one_n" if section == "1n" else section), name)
        assert got == value
