"""Statistical products over at least k meters, without individual consent (SPEC S6)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from smame.api.readcache import FAMILIES, family_codes
from smame.api.statistics import COMPLEMENTARY, DOMINATED, suppress
from smame.store.layout import day_start
from smame.store.measurements import ts_seconds
from tests.api.support import DAY2, Api


def test_suppression_rules() -> None:
    counts = {"T1": 13, "T2": 11, "T3": 9, "T4": 12}
    parent = {"T1": "F1", "T2": "F1", "T3": "F2", "T4": "F2"}
    hidden = suppress(counts, {"T2": 0.6}, 10, 0.5, parent)
    assert hidden["T2"] == DOMINATED
    assert hidden["T3"].startswith("fewer than 10")
    # F2 = T3 + T4: T4 alone would give T3 away; F1 keeps 11 hidden meters, enough
    assert hidden["T4"] == COMPLEMENTARY
    assert "T1" not in hidden
    assert suppress(counts, {}, 10, 0.5) == {"T3": "fewer than 10 meters"}


def _complete_day_wh(dataset) -> dict[int, np.ndarray]:
    """Each meter's 48 values of DAY2 in Wh, read straight from the MDMS."""
    start = day_start(DAY2)
    table = dataset.mdms.readings(None, start + 1, start + 86400, family_codes(FAMILIES[0]))
    meters = table.column("meter_id").to_numpy()
    slots = (ts_seconds(table.column("interval_end")) - start) // 1800 - 1
    values = table.column("value").to_numpy() * 10.0  # 0.01 kWh -> Wh
    out: dict[int, np.ndarray] = {}
    for meter in np.unique(meters):
        mine = meters == meter
        if mine.sum() == 48:
            day = np.zeros(48)
            day[slots[mine]] = values[mine]
            out[int(meter)] = day
    return out


def test_a_third_party_without_consent_gets_only_groups_of_k_meters(api: Api,
                                                                    dataset) -> None:
    aggregator = api.token("aggregator", "AGG-STAT")  # holds no consent at all
    answer = api.get("/v1/statistics/consumption", aggregator, date=DAY2.isoformat(),
                     group="transformer")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["min_meters"] == 10
    groups = body["groups"]
    assert any(g["suppressed"] for g in groups)
    assert any(not g["suppressed"] for g in groups)
    for g in groups:
        if g["suppressed"]:
            assert g["import_wh"] is None
            assert g["meters"] is None
        else:
            assert g["meters"] >= 10
            assert len(g["import_wh"]) == 48
    hidden = sum(1 for g in groups if g["suppressed"])
    feeders = api.get("/v1/statistics/consumption", aggregator, date=DAY2.isoformat()).json()
    (feeder,) = feeders["groups"]
    days = _complete_day_wh(dataset)
    expected = np.sum(list(days.values()), axis=0)
    assert feeder["meters"] == len(days)
    assert np.allclose(feeder["import_wh"], expected, atol=0.5)
    # what the published transformers leave over covers at least k meters
    shown = [g for g in groups if not g["suppressed"]]
    assert feeder["meters"] - sum(g["meters"] for g in shown) >= 10 or hidden == 0
    entry = next(e for e in reversed(api.state.audit.entries(0, 10_000))
                 if e.get("path") == "/v1/statistics/consumption")
    assert entry["detail"]["suppressed"] == 0  # the feeder answer, the last one


def test_a_larger_k_suppresses_every_smaller_group(dataset, tmp_path) -> None:
    api = Api(dataset, tmp_path, statistics_min_meters=40)
    try:
        body = api.get("/v1/statistics/consumption", api.token("retailer", "R01"),
                       date=DAY2.isoformat(), group="transformer").json()
        assert all(g["suppressed"] for g in body["groups"])
    finally:
        api.close()


@given(st.dictionaries(st.integers(0, 30), st.tuples(st.integers(0, 40), st.integers(0, 4)),
                       max_size=25), st.integers(1, 15))
def test_suppression_never_leaves_a_small_remainder(groups, k) -> None:
    counts = {key: n for key, (n, _) in groups.items()}
    parent = {key: p for key, (_, p) in groups.items()}
    hidden = suppress(counts, {}, k, 0.5, parent)
    assert all(counts[key] >= k for key in counts if key not in hidden)
    for p in set(parent.values()):
        members = [key for key in counts if parent[key] == p]
        remainder = sum(counts[key] for key in members if key in hidden)
        # a parent's total minus its published children never isolates fewer than k meters
        assert remainder == 0 or remainder >= k or all(key in hidden for key in members)
