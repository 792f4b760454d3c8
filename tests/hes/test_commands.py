"""The command queue: correlation ids, validation, throttling, retries (SPEC S9)."""

import asyncio

import pytest

from smame.clock import SimulatedClock
from smame.hes.commands import (
    CommandError,
    CommandKind,
    CommandQueue,
    CommandStatus,
    TransientError,
    validate_params,
)
from smame.hes.throttle import Throttle


class FakeField:
    """Meters behind cells: records concurrency per cell; some meters fail."""

    def __init__(self, refuse=(), flaky=None):
        self.refuse = set(refuse)
        self.flaky = dict(flaky or {})  # meter -> failures before success
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.applied: list[tuple[CommandKind, int, dict]] = []

    @staticmethod
    def cell_of(meter_id: int) -> str:
        return f"cell-{meter_id % 3}"

    async def execute(self, kind, meter_id, params):
        cell = self.cell_of(meter_id)
        self.running[cell] = self.running.get(cell, 0) + 1
        self.peak[cell] = max(self.peak.get(cell, 0), self.running[cell])
        try:
            await asyncio.sleep(0)
            if meter_id in self.refuse:
                raise CommandError("meter refused: limit out of range")
            if self.flaky.get(meter_id, 0) > 0:
                self.flaky[meter_id] -= 1
                raise TransientError("timeout")
            self.applied.append((kind, meter_id, params))
            return {"meter": meter_id}
        finally:
            self.running[cell] -= 1


def run(coro):
    return asyncio.run(coro)


def test_a_mass_command_is_throttled_per_cell_and_every_meter_confirms():
    field = FakeField()

    async def scenario():
        queue = CommandQueue(field.execute, SimulatedClock(0), Throttle(field.cell_of, 2, 5))
        command = queue.submit(CommandKind.SET_LIMIT, range(300), {"amps": 30})
        assert command.status is CommandStatus.QUEUED or command.status is CommandStatus.RUNNING
        assert len(command.correlation_id) == 36
        await queue.wait(command.correlation_id)
        completed = await queue.completions.get()
        return command, completed

    command, completed = run(scenario())
    assert completed is command
    assert command.status is CommandStatus.SUCCEEDED
    assert len(field.applied) == 300
    assert max(field.peak.values()) <= 2
    assert command.summary()["confirmed"] == 300


def test_refusals_are_not_retried_and_transient_failures_are():
    field = FakeField(refuse={4}, flaky={7: 2, 8: 9})
    clock = SimulatedClock(0)

    async def scenario():
        queue = CommandQueue(field.execute, clock, retries=3, backoff_seconds=10)
        command = queue.submit(CommandKind.DISCONNECT, [1, 4, 7, 8])
        waiter = asyncio.create_task(queue.wait(command.correlation_id))
        while not waiter.done():
            await asyncio.sleep(0)
            clock.advance(5)
        return command

    command = run(scenario())
    results = command.results
    assert command.status is CommandStatus.PARTIAL
    assert (results[1].ok, results[1].attempts) == (True, 1)
    assert (results[4].ok, results[4].attempts) == (False, 1)
    assert "refused" in results[4].error
    assert (results[7].ok, results[7].attempts) == (True, 3)
    assert (results[8].ok, results[8].attempts) == (False, 4)
    assert "timeout" in results[8].error
    # Backoff waited on the injected clock: 3 retries of ≥ 5, 10, 20 s.
    assert results[8].finished >= 35


@pytest.mark.parametrize(("kind", "params", "message"), [
    (CommandKind.SET_LIMIT, {"amps": 70}, "10–60 A"),
    (CommandKind.SET_LIMIT, {}, "missing"),
    (CommandKind.SET_LIMIT, {"amps": 30, "x": 1}, "unexpected"),
    (CommandKind.RESERVE_LIMIT, {"at": 50, "amps": 30}, "future"),
    (CommandKind.SOFT_SWITCH, {"minutes": 5}, "15 or 30"),
    (CommandKind.CANCEL_RESERVATION, {"reservation_id": -1}, "positive"),
])
def test_bad_parameters_are_refused_before_anything_is_sent(kind, params, message):
    with pytest.raises(ValueError, match=message):
        validate_params(kind, params, now=100)


def test_submit_refuses_no_meters_and_unknown_kinds():
    async def scenario():
        queue = CommandQueue(FakeField().execute, SimulatedClock(0))
        with pytest.raises(ValueError, match="at least one meter"):
            queue.submit(CommandKind.RECONNECT, [])
        with pytest.raises(ValueError, match="explode"):
            queue.submit("explode", [1])
        with pytest.raises(KeyError):
            queue.get("nope")

    run(scenario())


def test_an_unexpected_failure_fails_that_meter_and_the_command_completes():
    async def execute(kind, meter_id, params):
        if meter_id == 2:
            raise LookupError("meter 2 is not in the registry")
        return "ok"

    async def scenario():
        queue = CommandQueue(execute, SimulatedClock(0))
        command = queue.submit(CommandKind.RECONNECT, [1, 2, 3])
        await asyncio.wait_for(queue.wait(command.correlation_id), 5)
        return command

    command = run(scenario())
    assert command.status is CommandStatus.PARTIAL
    assert command.results[2].error == "LookupError: meter 2 is not in the registry"
    assert command.results[2].attempts == 1
