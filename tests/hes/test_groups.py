import pytest

from smame.hes.groups import FiveMinuteGroups


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
