"""Commands to meters: correlation ids, asynchronous results, throttled fan-out (SPEC S9, M4,
M7, M8, S14).

A command names a kind, its parameters and the meters it goes to. :meth:`CommandQueue.submit`
checks the parameters, gives the command a correlation id and returns at once; the queue
then runs it against each meter through an executor (the DLMS session layer), at most
``per_cell`` at a time per concentrator or cell and ``total`` at a time overall, retrying
transient failures with exponential backoff. Each meter's outcome is recorded; when the
last meter finishes, the command completes and a completion event is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from smame.clock import Clock
from smame.contract import check_limit, check_transmit_interval
from smame.hes.throttle import Throttle

__all__ = [
    "Command",
    "CommandError",
    "CommandKind",
    "CommandQueue",
    "CommandStatus",
    "MeterResult",
    "TransientError",
    "validate_params",
]


class CommandKind(StrEnum):
    SET_LIMIT = "set_limit"  # amps
    RESERVE_LIMIT = "reserve_limit"  # at (POSIX s), amps
    LIST_RESERVATIONS = "list_reservations"
    CANCEL_RESERVATION = "cancel_reservation"  # reservation_id
    DISCONNECT = "disconnect"
    RECONNECT = "reconnect"
    RESET_BREAKER = "reset_breaker"
    SOFT_SWITCH = "soft_switch"  # minutes: 15 or 30
    CLOCK_SYNC = "clock_sync"
    READ_INSTANTANEOUS = "read_instantaneous"


class CommandStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every meter confirmed
    PARTIAL = "partial"  # some meters confirmed, some failed
    FAILED = "failed"  # no meter confirmed


class CommandError(Exception):
    """A meter refused the command or it cannot be carried out: do not retry."""


class TransientError(Exception):
    """A timeout, a dropped connection, a busy cell: worth retrying."""


@dataclass
class MeterResult:
    meter_id: int
    ok: bool
    value: Any = None
    error: str | None = None
    attempts: int = 0
    finished: float = 0.0


@dataclass
class Command:
    correlation_id: str
    kind: CommandKind
    meter_ids: tuple[int, ...]
    params: dict[str, Any]
    submitted: float
    status: CommandStatus = CommandStatus.QUEUED
    results: dict[int, MeterResult] = field(default_factory=dict)
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.finished is not None

    def summary(self) -> dict[str, Any]:
        ok = sum(r.ok for r in self.results.values())
        return {
            "correlation_id": self.correlation_id,
            "kind": str(self.kind),
            "status": str(self.status),
            "meters": len(self.meter_ids),
            "confirmed": ok,
            "failed": len(self.results) - ok,
            "pending": len(self.meter_ids) - len(self.results),
        }


def validate_params(kind: CommandKind, params: dict[str, Any], now: float) -> dict[str, Any]:
    """Check and normalise a command's parameters before anything is sent (ValueError)."""
    expected: dict[CommandKind, tuple[str, ...]] = {
        CommandKind.SET_LIMIT: ("amps",),
        CommandKind.RESERVE_LIMIT: ("at", "amps"),
        CommandKind.CANCEL_RESERVATION: ("reservation_id",),
        CommandKind.SOFT_SWITCH: ("minutes",),
    }
    names = expected.get(kind, ())
    missing = [n for n in names if n not in params]
    extra = sorted(set(params) - set(names))
    if missing or extra:
        raise ValueError(f"{kind} takes parameters {list(names)}; missing {missing}, "
                         f"unexpected {extra}")
    clean = dict(params)
    if "amps" in clean:
        clean["amps"] = check_limit(clean["amps"])
    if kind is CommandKind.RESERVE_LIMIT:
        at = clean["at"]
        if isinstance(at, bool) or not isinstance(at, int | float) or at <= now:
            raise ValueError("a reservation must be for a time in the future")
        clean["at"] = int(at)
    if kind is CommandKind.SOFT_SWITCH:
        clean["minutes"] = check_transmit_interval(clean["minutes"])
    if kind is CommandKind.CANCEL_RESERVATION:
        rid = clean["reservation_id"]
        if isinstance(rid, bool) or not isinstance(rid, int) or rid <= 0:
            raise ValueError("reservation_id must be a positive integer")
    return clean


Executor = Callable[[CommandKind, int, dict[str, Any]], Awaitable[Any]]


class CommandQueue:
    """Runs commands against meters, each meter's part on its own, with retries.

    With a :class:`Throttle` the queue limits how many run at once per cell and overall;
    without one the executor is trusted to (the head-end throttles every session it opens).
    """

    def __init__(
        self,
        execute: Executor,
        clock: Clock,
        throttle: Throttle | None = None,
        retries: int = 3,
        backoff_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be ≥ 0")
        self._execute = execute
        self._clock = clock
        self._throttle = throttle
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.commands: dict[str, Command] = {}
        self.completions: asyncio.Queue[Command] = asyncio.Queue()
        self._tasks: set[asyncio.Task] = set()
        self._listeners: list[Callable[[Command], None]] = []
        self._finished: dict[str, asyncio.Event] = {}

    def on_complete(self, listener: Callable[[Command], None]) -> None:
        """Call ``listener`` with each command as it completes."""
        self._listeners.append(listener)

    def submit(
        self,
        kind: CommandKind | str,
        meter_ids: Iterable[int],
        params: dict[str, Any] | None = None,
    ) -> Command:
        """Queue a command; returns it at once with its correlation id (ValueError if invalid)."""
        kind = CommandKind(kind)
        targets = tuple(dict.fromkeys(int(m) for m in meter_ids))
        if not targets:
            raise ValueError("a command needs at least one meter")
        clean = validate_params(kind, params or {}, self._clock.time())
        command = Command(str(uuid.uuid4()), kind, targets, clean, self._clock.time())
        self.commands[command.correlation_id] = command
        self._finished[command.correlation_id] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return command

    def get(self, correlation_id: str) -> Command:
        try:
            return self.commands[correlation_id]
        except KeyError:
            raise KeyError(f"no command {correlation_id}") from None

    async def wait(self, correlation_id: str) -> Command:
        """Wait until a command has completed."""
        command = self.get(correlation_id)
        await self._finished[correlation_id].wait()
        return command

    async def drain(self) -> None:
        """Wait until every submitted command has completed."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def _run(self, command: Command) -> None:
        command.status = CommandStatus.RUNNING
        await asyncio.gather(*(self._run_one(command, m) for m in command.meter_ids))
        ok = sum(r.ok for r in command.results.values())
        command.status = (CommandStatus.SUCCEEDED if ok == len(command.meter_ids)
                          else CommandStatus.FAILED if ok == 0 else CommandStatus.PARTIAL)
        command.finished = self._clock.time()
        self._finished[command.correlation_id].set()
        self.completions.put_nowait(command)
        for listener in self._listeners:
            listener(command)

    def _slot(self, meter_id: int):
        return self._throttle.slot(meter_id) if self._throttle else contextlib.nullcontext()

    async def _run_one(self, command: Command, meter_id: int) -> None:
        jitter = random.Random(f"{command.correlation_id}:{meter_id}")
        result = MeterResult(meter_id, ok=False)
        for attempt in range(1, self.retries + 2):
            result.attempts = attempt
            async with self._slot(meter_id):
                try:
                    result.value = await self._execute(command.kind, meter_id, command.params)
                    result.ok, result.error = True, None
                except CommandError as exc:
                    result.error = str(exc) or type(exc).__name__
                    break
                except (TransientError, TimeoutError, OSError) as exc:
                    result.error = f"{type(exc).__name__}: {exc}"
                except Exception as exc:  # an unknown meter, a bug: this meter fails, not all
                    result.error = f"{type(exc).__name__}: {exc}"
                    break
                else:
                    break
            if attempt <= self.retries:
                delay = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** (attempt - 1))
                await self._clock.sleep(delay * (0.5 + jitter.random()))
        result.finished = self._clock.time()
        command.results[meter_id] = result
