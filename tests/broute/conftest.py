"""Shared fixtures of the B-route tests: a small seeded fleet, its node, helpers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from smame.clock import SimulatedClock
from smame.echonet import EOJ, ESV, Frame, Node, Property, SmartMeterObject, decode, encode
from smame.echonet.live import LiveMeter

JST = timezone(timedelta(hours=9), "JST")
START = datetime(2026, 7, 2, 10, 7, 30, tzinfo=JST)  # meter time of the tests
CONTROLLER = EOJ(0x05, 0xFF, 0x01)
METER = EOJ(0x02, 0x88, 0x01)
RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "0123456789AB"


@pytest.fixture
def live() -> LiveMeter:
    """Four meters since 00:00 JST the day before START, on a clock stopped at START."""
    return LiveMeter.build(SimulatedClock(START), meters=4, seed=3, history_days=1)


@pytest.fixture
def node(live: LiveMeter) -> Node:
    return live.node


def request(node: Node, esv: int, props, deoj: EOJ = METER, get_props=(), tid: int = 7,
            source="hems") -> Frame | None:
    """One request through the node; the decoded reply, or None if it sent nothing."""
    out = node.receive(encode(Frame(tid, CONTROLLER, deoj, esv, tuple(props), tuple(get_props))),
                       source)
    assert len(out) <= 1
    if not out:
        return None
    reply = decode(out[0].data)
    assert isinstance(reply, Frame)
    return reply


def get(node: Node, *epcs: int, deoj: EOJ = METER) -> Frame:
    reply = request(node, ESV.GET, [Property(e) for e in epcs], deoj)
    assert reply is not None
    return reply


def meter_object(node: Node) -> SmartMeterObject:
    obj = node.objects[METER]
    assert isinstance(obj, SmartMeterObject)
    return obj


class BackgroundLoop:
    """An asyncio loop in a thread, for servers that blocking clients talk to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function, *args) -> Any:
        async def wrapper():
            return function(*args)
        return self.run(wrapper())

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def background():
    loop = BackgroundLoop()
    yield loop
    loop.close()


SMAME_FLEET = ["--meters", "3", "--seed", "5", "--speed", "0.01", "--start",
               "2026-07-02T10:07:05"]


@pytest.fixture
def smame():
    procs: list[subprocess.Popen] = []

    def start(*args: str, history_days: int | None = 1) -> str:
        """Start ``smame broute *args`` on the tests' fleet; ``history_days`` None serves
        the command's default history."""
        days = [] if history_days is None else ["--history-days", str(history_days)]
        proc = subprocess.Popen([sys.executable, "-m", "smame.echonet.cli", *args, *SMAME_FLEET,
                                 *days],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()  # the ready line, printed once the node listens
        assert line, proc.stderr.read()
        return line

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)
