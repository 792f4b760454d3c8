"""The API beside a live system: a served fleet, its head-end and the MDMS, in one event loop
(SPEC S7, S9).

:func:`run_live` is ``smame api serve --live-meters N``: a fleet served over DLMS on
loopback, collected by the head-end into the MDMS of the data directory, and the API and
console on top, so commands sent through the API really reach meters. :func:`serve_system`
puts the API and console on any running system (the demo calls it once its day is
collected); both create operator logins, each written to its own 0600 file, and print
where they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from rich.console import Console
from starlette.concurrency import run_in_threadpool

from smame.api.app import create_app
from smame.api.config import ApiConfig
from smame.api.state import ApiState
from smame.clock import JST, Clock, WallClock
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HesConfig
from smame.mdms import Mdms, MdmsSink, seed_registry
from smame.meter import Fleet, FleetConfig
from smame.meter.events import events_table
from smame.meter.simulate import meters_table
from smame.store.private import create_private_file, private_dir
from smame.system import ARoute, running_a_route

__all__ = ["ListenError", "LiveApi", "listen", "run_live", "serve_system"]

EVENT_PUMP_S = 1.0


@dataclass
class LiveApi:
    """A running API over a live system: where it is and how to log in."""

    url: str
    state: ApiState
    system: ARoute
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (id, secret)

    @property
    def console_url(self) -> str:
        return f"{self.url}/console/"


class _LateClock:
    """A clock that follows another one once it exists (the system's clock is created
    inside ``running_a_route``, after the MDMS that must use it)."""

    def __init__(self, fallback: Clock) -> None:
        self.target: Clock = fallback

    def time(self) -> float:
        return self.target.time()

    def now(self) -> datetime:
        return self.target.now()

    async def sleep(self, seconds: float) -> None:
        await self.target.sleep(seconds)


def _logins(state: ApiState) -> dict[str, tuple[str, str]]:
    made = {}
    for name, role, party in (("operator-1", "distribution", None),
                              ("operator-2", "distribution", None),
                              ("retailer-R01", "retailer", "R01")):
        client, secret = state.clients.add(name, role, party)
        made[name] = (client.client_id, secret)
    return made


def login_files(live: LiveApi) -> dict[str, Path]:
    """Write each login to its own owner-only file under ``DIR/api/logins/``: the secrets
    of two operators never appear together on one console (S14)."""
    folder = private_dir(live.state.config.state / "logins")
    files = {}
    for name, (client_id, secret) in live.logins.items():
        path = folder / f"{name}.json"
        path.unlink(missing_ok=True)  # a login of an earlier run: no longer valid
        create_private_file(path, json.dumps({
            "name": name, "client_id": client_id, "client_secret": secret,
            "console": live.console_url, "token_url": f"{live.url}/v1/oauth/token"},
            indent=1).encode() + b"\n")
        files[name] = path
    return files


def _announce(console: Console, live: LiveApi) -> None:
    console.print(f"\n[bold]Operator console:[/] {live.console_url}   "
                  f"(API {live.url}/v1, OpenAPI {live.url}/v1/openapi.json)", soft_wrap=True)
    for name, path in login_files(live).items():
        console.print(f"  {name:13} client id [cyan]{live.logins[name][0]}[/]  login file "
                      f"{path} (mode 0600)", soft_wrap=True)
    if "operator-2" in live.logins:
        console.print("  Log in as operator-1; a command to more than "
                      f"{live.state.config.mass_command_meters} meters waits for operator-2 "
                      "to approve it. Ctrl-C stops.", soft_wrap=True)


class ListenError(OSError):
    """The API's port could not be taken."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port) for :func:`serve_system`.

    Binding before a long run tells the user at once when the port is taken, and keeps the
    port from being handed out as a source port of the head-end's own connections meanwhile.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise ListenError(exc.errno, f"cannot serve on {host}:{port}: {exc.strerror}") from exc
    return listener


async def serve_system(system: ARoute, drive: Callable[[float], asyncio.Task], mdms: Mdms,
                       config: ApiConfig, host: str = "127.0.0.1", port: int = 8080, *,
                       operators: bool = True, console: Console | None = None,
                       ready: Callable[[LiveApi], None] | None = None,
                       stop: asyncio.Event | None = None, run_for: float | None = None,
                       warm_until: float | None = None, horizon_days: int = 365,
                       listener: socket.socket | None = None) -> None:
    """Serve the API and console over ``mdms`` while ``system`` keeps running.

    The fleet is driven and collected on schedule for ``horizon_days``; the meters' event
    logs are moved into the MDMS as they fill. With ``warm_until`` (POSIX s of the system's
    clock) the API is announced only once the system has got that far and its readings
    are in the MDMS. With ``listener`` (from :func:`listen`) the server takes that socket
    instead of binding ``host:port`` itself. Returns when ``stop`` is set, after
    ``run_for`` real seconds, or when the server stops (Ctrl-C).
    """
    import uvicorn

    state = ApiState.open(config, mdms, clock=WallClock(), data_clock=system.clock,
                          headend=system.headend)
    app = create_app(state=state)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    until = system.clock.time() + horizon_days * 86400
    tasks = [drive(until), asyncio.create_task(system.headend.run_schedule(until)),
             asyncio.create_task(_pump_events(system, mdms))]
    serving = asyncio.create_task(server.serve(sockets=[listener] if listener else None))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # the server could not start: raise why
                return
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        live = LiveApi(f"http://{host}:{bound[1]}", state, system)
        if warm_until is not None:
            await system.clock.sleep(warm_until - system.clock.time())
            system.headend.flush()
            await run_in_threadpool(state.data.refresh)
        if operators:
            live.logins = await run_in_threadpool(_logins, state)
        if console is not None:
            _announce(console, live)
        if ready is not None:
            ready(live)
        waiters = [serving]
        if stop is not None:
            waiters.append(asyncio.create_task(stop.wait()))
        if run_for is not None:
            waiters.append(asyncio.create_task(asyncio.sleep(run_for)))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        state.close()


async def _pump_events(system: ARoute, mdms: Mdms) -> None:
    """Move the meters' new log entries into the MDMS (what the head-end's event-log reads
    would deliver)."""
    done = 0
    while True:
        await asyncio.sleep(EVENT_PUMP_S)
        events = system.meter_events[done:]
        if events:
            mdms.ingest_events(events_table(events))
            done += len(events)


def _jst_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), JST)


async def run_live(config: ApiConfig, meters: int, speed: float, host: str = "127.0.0.1",
                   port: int = 8080, *, seed: int = 0, day: date | None = None,
                   console: Console | None = None, operators: bool = True,
                   ready: Callable[[LiveApi], None] | None = None,
                   stop: asyncio.Event | None = None, warm_until: float | None = None,
                   fleet_config: dict | None = None,
                   listener: socket.socket | None = None) -> None:
    """``smame api serve --live-meters N``: a live fleet, head-end, MDMS and the API
    (on ``listener`` if given, else on ``host:port``)."""
    day = day or datetime.now(JST).date()
    fleet = Fleet(FleetConfig(meters=meters, start=_jst_midnight(day), seed=seed,
                              **(fleet_config or {})))
    clock = _LateClock(WallClock())
    mdms = Mdms(config.data_dir, clock=clock)
    try:
        seed_registry(mdms.registry, meters_table(fleet), fleet.joint_meters(), day)
        groups = FiveMinuteGroups.select(fleet.meter_ids, seed=seed)
        with tempfile.TemporaryDirectory(prefix="smame-live-") as work:
            async with running_a_route(fleet, speed, MdmsSink(mdms), Path(work),
                                       HesConfig(push_grace_seconds=300), groups) as (
                    system, drive):
                clock.target = system.clock
                if console is not None:
                    console.print(f"Serving {meters} meters over DLMS on loopback from "
                                  f"{day} 00:00 JST at {speed:g}× real time; readings go "
                                  f"to the MDMS in {config.data_dir}.")
                await serve_system(system, drive, mdms, config, host, port,
                                   operators=operators, console=console, ready=ready,
                                   stop=stop, warm_until=warm_until, listener=listener)
    finally:
        mdms.close()
