import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from smame.clock import AcceleratedClock, Clock, SimulatedClock, WallClock, from_epoch, to_epoch


def test_every_clock_satisfies_the_protocol():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for clock in (WallClock(), AcceleratedClock(start, 60), SimulatedClock(start)):
        assert isinstance(clock, Clock)
        assert clock.now().tzinfo is not None


def test_epoch_conversions_refuse_naive_times():
    moment = datetime(2026, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    assert from_epoch(to_epoch(moment)) == moment
    with pytest.raises(ValueError, match="naive"):
        to_epoch(datetime(2026, 7, 1))  # noqa: DTZ001


def test_accelerated_clock_runs_speed_times_faster():
    wall = [100.0]
    start = datetime(2026, 7, 1, tzinfo=UTC)
    clock = AcceleratedClock(start, speed=60, monotonic=lambda: wall[0])
    assert clock.time() == to_epoch(start)
    wall[0] += 2.5
    assert clock.time() == to_epoch(start) + 150
    with pytest.raises(ValueError, match="speed"):
        AcceleratedClock(start, speed=0)


def test_accelerated_clock_changes_speed_and_stops_without_a_jump():
    wall = [100.0]
    start = datetime(2026, 7, 1, tzinfo=UTC)
    clock = AcceleratedClock(start, speed=2880, monotonic=lambda: wall[0])
    wall[0] += 1
    clock.set_speed(0)  # the demo's day is over: the clock stops while it reports
    wall[0] += 30
    assert clock.time() == to_epoch(start) + 2880
    clock.set_speed(60)  # then runs at a pace the system keeps up with
    wall[0] += 1
    assert clock.time() == to_epoch(start) + 2940
    with pytest.raises(ValueError, match="speed"):
        clock.set_speed(-1)


def test_a_sleeper_on_a_stopped_clock_wakes_only_once_it_runs_again():
    clock = AcceleratedClock(datetime(2026, 7, 1, tzinfo=UTC), speed=1000)

    async def scenario() -> tuple[bool, float]:
        clock.set_speed(0)
        target = clock.time() + 60
        sleeper = asyncio.create_task(clock.sleep(60))
        await asyncio.sleep(0.2)
        still_asleep = not sleeper.done()
        clock.set_speed(6000)
        await sleeper
        return still_asleep, clock.time() - target

    still_asleep, overshoot = asyncio.run(scenario())
    assert still_asleep
    assert overshoot >= 0


def test_simulated_clock_moves_only_when_advanced_and_wakes_sleepers_in_order():
    clock = SimulatedClock(1_000.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.time()))

    async def scenario() -> None:
        tasks = [asyncio.create_task(sleeper("late", 30)), asyncio.create_task(sleeper("soon", 5))]
        await asyncio.sleep(0)
        assert woke == []
        clock.advance(10)
        await asyncio.sleep(0)
        assert woke == [("soon", 1010.0)]
        clock.advance(20)
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert woke == [("soon", 1010.0), ("late", 1030.0)]
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(0)
