import numpy as np
import pytest

from smame.hes.groups import REALTIME_WITHIN_S, FiveMinuteGroups, on_time_share


def test_groups_meet_the_standard_shares_and_are_disjoint():
    groups = FiveMinuteGroups.select(range(1000, 2000))
    assert len(groups.realtime) == 30
    assert len(groups.historical) == 100
    assert not groups.realtime & groups.historical
    assert groups.meets_standard()
    small = FiveMinuteGroups.select(range(10))
    assert len(small.realtime) == 1  # rounded up: never below the share


def test_membership_changes_at_run_time():
    groups = FiveMinuteGroups.select(range(100), realtime_share=0.05, historical_share=0.1)
    member = next(iter(groups.historical))
    groups.move([member], "realtime")
    assert member in groups.realtime
    assert member not in groups.historical
    groups.move([member], "none")
    assert member not in groups.realtime
    with pytest.raises(ValueError, match="unknown group"):
        groups.move([1], "weekly")
    groups.move(list(groups.realtime), "none")
    assert not groups.meets_standard()
    with pytest.raises(ValueError, match="more than all"):
        FiveMinuteGroups.select(range(10), 0.6, 0.6)


def test_on_time_share_counts_each_value_once_against_members_times_intervals():
    meter = np.array([1, 1, 2, 2, 3])
    end = np.array([300, 300, 600, 900, 300])
    arrived = np.array([400.0, 450.0, 2000.0, 1000.0, 310.0])
    # members 1 and 2, intervals ending 300, 600 and 900: 6 values expected; meter 1's
    # 300 counts once, meter 2's 600 came 1,400 s late, meter 3 is not a member
    share = on_time_share({1, 2}, meter, end, arrived, 300, 900, REALTIME_WITHIN_S)
    assert share == pytest.approx(2 / 6)
    assert on_time_share(set(), meter, end, arrived, 300, 900, REALTIME_WITHIN_S) is None
    assert on_time_share({1}, meter[:0], end[:0], arrived[:0], 300, 900, 600) == 0.0
