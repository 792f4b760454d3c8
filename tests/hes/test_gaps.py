import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from smame.hes.gaps import Gap, expected_ends, find_gaps, runs


def test_expected_ends_are_the_boundaries_after_start_up_to_end():
    assert expected_ends(0, 90, 30).tolist() == [30, 60, 90]
    assert expected_ends(10, 90, 30).tolist() == [30, 60, 90]
    assert expected_ends(30, 89, 30).tolist() == [60]


def test_runs_split_at_holes():
    ends = np.array([30, 60, 120, 150, 180, 300])
    assert runs(ends, 30) == [(30, 60), (120, 180), (300, 300)]
    assert runs(np.array([], np.int64), 30) == []


def test_gaps_per_meter_and_retention():
    meters = np.array([1, 2, 3])
    received_meter = np.array([1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 99])
    received_end = np.array([30, 60, 90, 120, 30, 120, 30, 60, 90, 120, 60])
    gaps = find_gaps(meters, received_meter, received_end, 0, 120, 30, now=120,
                     retention_minutes=10_000)
    assert gaps == [Gap(2, 60, 90, 30)]
    # Meter 2 keeps only 60 minutes: the interval ending 60 needs the reading at 30, lost.
    short = find_gaps(meters, received_meter, received_end, 0, 120, 30, now=120,
                      retention_minutes=60)
    assert short == [Gap(2, 60, 60, 30, recoverable=False), Gap(2, 90, 90, 30)]


@given(st.sets(st.integers(1, 48), max_size=48))
def test_every_missing_interval_is_in_exactly_one_gap(received):
    ends = np.array(sorted(received), np.int64) * 30
    gaps = find_gaps(np.array([5]), np.full(ends.size, 5), ends, 0, 48 * 30, 30, now=48 * 30,
                     retention_minutes=48 * 30)
    covered = [e for g in gaps for e in range(g.first, g.last + 1, 30)]
    assert sorted(covered) == sorted(set(range(30, 48 * 30 + 1, 30)) - set(ends.tolist()))
    assert sum(g.count for g in gaps) == len(covered)
