"""The one definition of on time / late / not collected (SPEC S1, M4)."""

import numpy as np

from smame.mdms.collection import ON_TIME_S, day_figures, slot_arrivals

DAY = 1_782_831_600  # 2026-07-01 00:00 JST
SLOT = 1800


def test_a_fifteen_minute_meter_is_received_once_both_halves_arrived():
    # meter 1 sends 30-minute values; meter 2's soft switch sends 15-minute ones (M4)
    meter = np.array([1, 2, 2, 2])
    end = np.array([DAY + SLOT, DAY + 900, DAY + SLOT, DAY + SLOT + 900])
    period = np.array([1800, 900, 900, 900])
    arrived = np.array([DAY + SLOT + 60, DAY + 1000, DAY + SLOT + 4000, DAY + 2 * SLOT + 5])
    m, slot_end, when = slot_arrivals(meter, end, period, arrived)
    assert m.tolist() == [1, 2]  # meter 2's second slot has one half only
    assert slot_end.tolist() == [DAY + SLOT, DAY + SLOT]
    assert when.tolist() == [DAY + SLOT + 60, DAY + SLOT + 4000]  # the later half counts


def test_each_expected_value_is_on_time_late_awaited_or_missing():
    # 4 meters; slot 1: 2 on time, 1 late, 1 never; slot 2: 1 on time so far
    slot_end = np.array([DAY + SLOT] * 3 + [DAY + 2 * SLOT])
    arrived = np.array([DAY + SLOT + 10, DAY + SLOT + ON_TIME_S, DAY + SLOT + ON_TIME_S + 1,
                        DAY + 2 * SLOT + 5])
    now = DAY + 2 * SLOT + ON_TIME_S - 1  # slot 1 is past its 60 minutes, slot 2 not
    figures = day_figures(4, slot_end, arrived, DAY, now)
    first, second, _, fourth = figures["slots"][:4]
    assert (first["on_time"], first["late"], first["missing"], first["awaited"]) == (2, 1, 1, 0)
    assert (second["on_time"], second["missing"], second["awaited"]) == (1, 0, 3)
    assert (first["settled"], second["settled"], second["open"]) == (True, False, False)
    assert (fourth["open"], fourth["awaited"], fourth["missing"]) == (True, 0, 0)
    # the day's rates cover settled slots only: a slot being collected is not loss
    assert figures["rate"] == 3 / 4
    assert figures["on_time_rate"] == 2 / 4
    assert (figures["late"], figures["missing"], figures["awaited"]) == (1, 1, 3 + 4)


def test_a_slot_everyone_delivered_settles_before_its_hour_is_over():
    figures = day_figures(2, np.array([DAY + SLOT] * 2), np.array([DAY + SLOT + 5] * 2), DAY,
                          DAY + SLOT + 60)
    assert figures["slots"][0]["settled"]
    assert figures["on_time_rate"] == 1.0
