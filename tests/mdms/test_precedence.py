"""Version precedence by quality and the re-VEE queue of closed days (issue 11.3)."""

from __future__ import annotations

import numpy as np
import pytest

from smame.mdms import Mdms, Reason, VeeConfig
from smame.mdms.vee.precedence import Precedence, version_class
from smame.readings import Quality, Source, make_batch
from tests.mdms.helpers import DAY, day_batch, flat_day, slot_end
from tests.mdms.test_estimation import day_values, drop_slots


def current(mdms: Mdms, k: int) -> dict:
    return mdms.readings(1, slot_end(k), slot_end(k), channels=[140]).to_pylist()[0]


def test_a_late_failed_actual_does_not_replace_an_estimate(mdms: Mdms) -> None:
    mdms.ingest(drop_slots(day_batch(flat_day(20), with_registers=False), [10]))
    mdms.close_day(DAY)
    assert current(mdms, 10)["source"] == Source.ESTIMATION
    mdms.ingest(make_batch(1, slot_end(10), 140, -7))  # fails NEGATIVE
    kept = current(mdms, 10)
    assert kept["source"] == Source.ESTIMATION
    assert kept["value"] == 20
    versions = mdms.readings(1, slot_end(10), slot_end(10), channels=[140], current=False)
    assert sorted(versions.column("value").to_pylist()) == [-7, 20]


def test_a_late_validated_actual_replaces_an_estimate(mdms: Mdms) -> None:
    mdms.ingest(drop_slots(day_batch(flat_day(20), with_registers=False), [10]))
    mdms.close_day(DAY)
    mdms.ingest(make_batch(1, slot_end(10), 140, 23))
    assert current(mdms, 10)["value"] == 23
    assert current(mdms, 10)["source"] != Source.ESTIMATION


def test_precedence_is_configurable(tmp_path, clock) -> None:
    config = VeeConfig(precedence=Precedence(
        ("validated_actual", "failed_actual", "edited", "estimate")))
    with Mdms(tmp_path / "d", clock=clock, vee=config) as mdms:
        mdms.ingest(drop_slots(day_batch(flat_day(20), with_registers=False), [10]))
        mdms.close_day(DAY)
        mdms.ingest(make_batch(1, slot_end(10), 140, -7))
        assert current(mdms, 10)["value"] == -7
    with pytest.raises(ValueError, match="precedence"):
        Precedence(("validated_actual", "edited"))


def test_version_classes() -> None:
    quality = np.array([Quality.VALIDATED, Quality.SUSPECT, Quality.ESTIMATED | Quality.VALIDATED,
                        Quality.EDITED | Quality.VALIDATED], np.uint16)
    source = np.array([Source.PUSH, Source.PUSH, Source.ESTIMATION, Source.MANUAL], np.uint8)
    assert version_class(quality, source).tolist() == [0, 3, 2, 1]


def test_late_data_on_a_closed_day_is_queued_and_rebalanced(mdms: Mdms) -> None:
    values = flat_day(20)
    batch = day_batch(values, register_start=1000)
    mdms.ingest(drop_slots(batch, list(range(10, 21)), channels=(140, 100)))
    first = mdms.close_day(DAY)
    assert first.scaled == 11
    assert sum(day_values(mdms).column("value").to_pylist()) == 48 * 20
    assert mdms.revee_queue() == []
    mdms.ingest(make_batch(1, slot_end(12), 140, 60))  # late actual: the day is off balance
    assert sum(day_values(mdms).column("value").to_pylist()) == 48 * 20 + 40
    assert mdms.revee_queue() == [DAY]
    assert DAY in mdms.days_to_close()
    again = mdms.process_revee_queue()
    assert again[0].estimated == 10
    table = day_values(mdms)
    assert sum(table.column("value").to_pylist()) == 48 * 20
    assert table.column("value")[11].as_py() == 60
    reasons = table.column("reasons").to_pylist()
    assert all(reasons[k] & Reason.EST_REGISTER_SCALED for k in (9, 10, 12, 19))
    assert mdms.revee_queue() == []
    assert DAY not in mdms.days_to_close()


def test_closing_again_without_late_data_writes_nothing(mdms: Mdms) -> None:
    mdms.ingest(drop_slots(day_batch(flat_day(20)), list(range(10, 21)), channels=(140, 100)))
    assert mdms.close_day(DAY).estimated == 11
    again = mdms.close_day(DAY)
    assert again.estimated == 0
    assert again.version is None
