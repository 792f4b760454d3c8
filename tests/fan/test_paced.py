"""Frame events paced on a demo's accelerated clock (``smame.fan.paced``)."""

import asyncio
from datetime import UTC, datetime

import pytest

from smame.clock import AcceleratedClock
from smame.fan.paced import PacedEvents

START = datetime(2026, 7, 1, tzinfo=UTC)


def test_events_fire_in_order_at_their_moment_on_the_clock():
    async def scenario():
        clock = AcceleratedClock(START, 2000)
        events = PacedEvents(clock)
        t0 = events.time()
        fired: list[tuple[str, float, float]] = []
        done = asyncio.get_running_loop().create_future()

        def at(name: str, offset: float, last: bool = False):
            def fire():
                fired.append((name, events.time() - t0, clock.time() - t0))
                if last:
                    done.set_result(None)
            events.call_at(t0 + offset, fire)

        at("c", 6.0, last=True)
        at("a", 2.0)
        at("b", 4.0)
        await asyncio.wait_for(done, timeout=30)
        return fired, events.events

    fired, count = asyncio.run(scenario())
    assert [name for name, _, _ in fired] == ["a", "b", "c"]
    assert [mesh for _, mesh, _ in fired] == pytest.approx([2.0, 4.0, 6.0])  # at its moment
    assert all(system >= mesh for _, mesh, system in fired)  # never before the clock got there
    assert count == 3


def test_frames_still_arrive_while_the_system_clock_stands_still():
    async def scenario():
        clock = AcceleratedClock(START, 2000)
        events = PacedEvents(clock)
        clock.set_speed(0)
        stopped_at = clock.time()
        done = asyncio.get_running_loop().create_future()
        events.call_at(events.time() + 10.0, lambda: done.set_result(events.time()))
        fired_at = await asyncio.wait_for(done, timeout=30)
        await events.sleep(5.0)  # a session's timeout waits on mesh time too
        return stopped_at, clock.time(), fired_at, events.time()

    stopped_at, system_after, fired_at, after_sleep = asyncio.run(scenario())
    assert system_after == stopped_at  # the demo's clock stood still…
    assert after_sleep >= fired_at + 5.0  # …while the mesh's time went on
