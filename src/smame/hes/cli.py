"""``smame hes``: run the head-end against served meters, or read and command them once.

The meters are those of a ``smame meter serve --manifest`` file. Keys come from the same
key file the meters use (``--keys``) or the demo keys; the head-end keeps them sealed in its
key store under ``--data``, with its invocation counters, so successive runs never reuse one.

Exit status: 0 every meter did what was asked; 1 the command ran but failed on some or all
meters (or a read failed); 2 nothing was sent (bad arguments, manifest or keys).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from smame.bus.cli import check_metrics_port, start_metrics
from smame.bus.connect import BusUnreachableError
from smame.bus.publisher import BusPublisher
from smame.clirun import EXIT_FAILED, CliError, console, err_console, new_app, print_error
from smame.clock import WallClock, clock_of, from_epoch
from smame.dlms import DEMO_KEYS, load_keys
from smame.dlms.keys import KeyFileError
from smame.hes.commands import CommandError, CommandKind, CommandStatus, TransientError
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.keystore import KeyStore, KeyStoreError, MasterKey
from smame.hes.registry import Registry, RegistryError
from smame.hes.sinks import ParquetSink
from smame.mdms.shards import ShardMap
from smame.messages import tr

__all__ = ["app"]

EXIT_STATUS = ("Exit status: 0 every meter did what was asked; 1 it ran but failed on some "
               "or all meters; 2 nothing was sent (bad arguments, manifest or keys).")
app = new_app("The A-route head-end system (HES).", epilog=EXIT_STATUS)
EPOCH_2020 = 1_577_836_800
COUNTERS_PER_SECOND = 8  # new send counters start at 8 per second since 2020: 32 bits last to 2037


class HesCliError(Exception):
    """A user error, printed as one line."""


def _fail(message: str) -> CliError:
    return CliError(message)


Manifest = Annotated[Path, typer.Option(help="Manifest written by `smame meter serve`.")]
Keys = Annotated[Path | None, typer.Option(help="Per-meter key file (JSON or CSV).")]
DemoKeys = Annotated[bool, typer.Option(help="Use the Green Book demo keys.")]
Data = Annotated[Path, typer.Option(help="Data directory (key store, collected readings).")]


def _open(manifest: Path, keys: Path | None, demo_keys: bool, data: Path):
    if (keys is None) == (not demo_keys):
        raise HesCliError(tr("give exactly one of --keys FILE or --demo-keys"))
    registry = Registry.from_manifest(manifest)
    table = (dict.fromkeys(registry.meter_ids(), DEMO_KEYS) if demo_keys
             else load_keys(keys, registry.meter_ids()))
    directory = data / "hes"
    if not directory.is_dir():
        err_console.print(tr("creating the head-end key store in {directory}",
                             directory=directory))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HesCliError(f"--data {data}: cannot create {directory}: "
                          f"{exc.strerror or exc}") from None
    master_path = directory / "master.key"
    if os.environ.get(MasterKey.ENV):
        master = MasterKey.load()
    elif master_path.exists():
        master = MasterKey.load(master_path)
    else:
        master = MasterKey.generate(master_path)
    floor = int(time.time() - EPOCH_2020) * COUNTERS_PER_SECOND
    keystore = KeyStore(directory / "keys.db", master, counter_floor=floor)
    keystore.put_many(table)
    return registry, keystore, json.loads(manifest.read_text())


def _clock(document: dict[str, Any]):
    """The meters' accelerated clock, as the manifest describes it; wall time if none."""
    return clock_of(document) or WallClock()


def _guarded(run):
    """Bad input: exit 2; a meter that could not be reached or refused: exit 1."""
    try:
        return run()
    except (HesCliError, RegistryError, KeyFileError, KeyStoreError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except (CommandError, TransientError, TimeoutError, OSError) as exc:
        print_error(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise typer.Exit(EXIT_FAILED) from None


@app.callback()
def _hes() -> None:
    """The A-route head-end system (HES)."""


@app.command("read")
def read(
    manifest: Manifest,
    meter: Annotated[int, typer.Option(help="Meter id.")],
    what: Annotated[str, typer.Option(
        help="registers, instantaneous, clock or profile.")] = "registers",
    period: Annotated[int, typer.Option(help="Profile period: 1, 5, 15 or 30 minutes.")] = 30,
    hours: Annotated[float, typer.Option(help="Profile hours back from now.")] = 3.0,
    keys: Keys = None,
    demo_keys: DemoKeys = False,
    data: Data = Path("smame-data"),
) -> None:
    """Read one meter once and print JSON (S2, M5)."""
    from smame.hes import operations as ops

    if what not in ("registers", "instantaneous", "clock", "profile"):
        raise _fail(f"--what {what!r}: choose registers, instantaneous, clock or profile")

    def run():
        registry, keystore, document = _open(manifest, keys, demo_keys, data)
        clock = _clock(document)
        headend = HeadEnd(registry, keystore, lambda batch: None, clock)

        async def work(session):
            if what == "registers":
                return await ops.read_registers(session)
            if what == "instantaneous":
                return await ops.read_instantaneous(session)
            if what == "clock":
                return {"clock": from_epoch(await ops.read_clock(session)).isoformat()}
            now = int(clock.time())
            rows = await ops.read_profile(session, period, now - int(hours * 3600), now)
            return [vars(row) | {"end": from_epoch(row.end).isoformat()} for row in rows]

        try:
            return asyncio.run(headend.session_with(meter, work))
        finally:
            keystore.close()

    console.print_json(json.dumps(_guarded(run)))


@app.command("command", epilog=EXIT_STATUS)
def command(
    manifest: Manifest,
    kind: Annotated[str, typer.Argument(help=", ".join(k.value for k in CommandKind))],
    meter: Annotated[list[int], typer.Option(help="Meter id (repeat for several).")],
    amps: Annotated[int | None, typer.Option(help="Ampere limit, 10–60 A.")] = None,
    at: Annotated[str | None, typer.Option(help="Reservation time, ISO 8601 with zone.")] = None,
    after: Annotated[str | None, typer.Option(
        "--in", help="Reservation time as a delay on the meters' clock, e.g. 90m or 2h "
                     "(instead of --at; the meters' clock may run faster than yours).")] = None,
    minutes: Annotated[int | None, typer.Option(help="Soft switch: 15 or 30.")] = None,
    reservation_id: Annotated[int | None, typer.Option(help="Reservation to cancel.")] = None,
    keys: Keys = None,
    demo_keys: DemoKeys = False,
    data: Data = Path("smame-data"),
) -> None:
    """Send one command to meters and print its result with its correlation id (S9).

    Exit status 0 only if every meter succeeded; 1 if the command failed on any meter (the
    JSON says which and why, stderr has one summary line); 2 if nothing was sent.
    """
    try:
        command_kind = CommandKind(kind)
    except ValueError:
        raise _fail(f"unknown command {kind!r}") from None
    params: dict[str, Any] = {}
    if amps is not None:
        params["amps"] = amps
    if minutes is not None:
        params["minutes"] = minutes
    if reservation_id is not None:
        params["reservation_id"] = reservation_id
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise _fail(f"--at {at!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise _fail("--at needs a time zone, e.g. 2026-07-01T18:00+09:00")
        params["at"] = int(moment.timestamp())
    if after is not None and at is not None:
        raise _fail("give --at or --in, not both")
    delay = None if after is None else _delay_seconds(after)

    failures: list[str] = []

    def run():
        registry, keystore, document = _open(manifest, keys, demo_keys, data)
        headend = HeadEnd(registry, keystore, lambda batch: None, _clock(document))
        if delay is not None:  # the next whole minute after the delay, on the meters' clock
            params["at"] = -(-int(headend.clock.time() + delay) // 60) * 60
        unknown = sorted(set(meter) - set(registry.meter_ids()))
        if unknown:
            keystore.close()
            raise HesCliError(f"--meter {unknown[0]} is not in {manifest}")

        async def work():
            submitted = headend.commands.submit(command_kind, meter, params)
            done = await headend.commands.wait(submitted.correlation_id)
            if done.status is not CommandStatus.SUCCEEDED:
                summary = done.summary()
                failures.append(tr(
                    "command {kind} {status}: {ok} of {total} meter(s) succeeded, "
                    "correlation id {cid}", kind=summary["kind"], status=summary["status"],
                    ok=summary["confirmed"], total=summary["meters"],
                    cid=summary["correlation_id"]))
            return {**done.summary(), "results": {
                str(m): {"ok": r.ok, "value": r.value, "error": r.error, "attempts": r.attempts}
                for m, r in done.results.items()}}

        try:
            return asyncio.run(work())
        finally:
            keystore.close()

    console.print_json(json.dumps(_guarded(run), default=str))
    for failure in failures:
        print_error(failure)
        raise typer.Exit(EXIT_FAILED)


def _delay_seconds(text: str) -> int:
    """``90m``, ``2h``, ``45s`` or plain seconds, as seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    if not number.isdigit() or int(number) == 0:
        raise _fail(f"--in {text!r}: give a delay such as 90m, 2h or 45s")
    return int(number) * units[unit]


@app.command("run")
def run_headend(
    manifest: Manifest,
    listen: Annotated[str, typer.Option(help="host:port for pushes (UDP).")] = "127.0.0.1:4060",
    run_for: Annotated[float, typer.Option(help="Seconds of wall time to run.")] = 60.0,
    push_grace: Annotated[float | None, typer.Option(
        help="Simulated seconds after an interval closes before its missing pushes are "
             "pulled (default: 120, or the manifest's push window + 120).")] = None,
    keys: Keys = None,
    demo_keys: DemoKeys = False,
    data: Data = Path("smame-data"),
    publish: Annotated[str | None, typer.Option(
        help="Publish the readings to the bus at this NATS URL instead of DATA/hes/readings "
             "(needs --shards).")] = None,
    shards: Annotated[Path | None, typer.Option(
        help="Deployment root whose shards.json routes readings to MDMS shards.")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve Prometheus /metrics on this port (0: any free port).")] = None,
) -> None:
    """Collect the served meters on schedule; readings go to DATA/hes/readings, or to the
    bus with --publish (S1, S3)."""
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit():
        raise _fail(f"--listen {listen!r}: give host:port")
    if run_for <= 0:
        raise _fail("--run-for must be > 0")
    if push_grace is not None and push_grace < 0:
        raise _fail("--push-grace cannot be negative")
    shard_map = _publish_shards(publish, shards)
    check_metrics_port(metrics_port)

    def run():
        registry, keystore, document = _open(manifest, keys, demo_keys, data)
        clock = _clock(document)
        sink = (ParquetSink(data / "hes" / "readings") if shard_map is None
                else _publisher(publish, shard_map, keystore))
        metrics_url = start_metrics(metrics_port)
        if metrics_url:
            console.print(f"metrics on {metrics_url}")
        grace = push_grace if push_grace is not None else (
            HesConfig.push_grace_seconds + float(document.get("push_window_s", 0)))
        headend = HeadEnd(registry, keystore, sink, clock, HesConfig(push_grace_seconds=grace))

        async def work():
            await headend.listen(host, int(port_text))
            console.print(f"head-end listening for pushes on {listen}; "
                          f"{len(registry)} meters; clock {clock.now().isoformat()}; "
                          f"pulls what did not arrive {grace:g} s after each interval")
            until = clock.time() + run_for * getattr(clock, "speed", 1.0)
            await headend.run_schedule(until)
            headend.flush()
            return {"pushes": headend.pushes, "rows": sink.rows,
                    "intervals": headend.collection_report()[-5:],
                    "events": len(headend.events)}

        try:
            return asyncio.run(work())
        finally:
            keystore.close()
            if isinstance(sink, BusPublisher):
                sink.close()

    console.print_json(json.dumps(_guarded(run), default=str))


def _publish_shards(publish: str | None, shards: Path | None) -> ShardMap | None:
    """The shard map readings are published by, or None when they go to Parquet."""
    if publish is None:
        if shards is not None:
            raise _fail("--shards is for --publish")
        return None
    if not publish.startswith(("nats://", "tls://")):
        raise _fail(f"--publish {publish!r}: give a URL such as nats://127.0.0.1:4222")
    if shards is None:
        raise _fail("--publish needs --shards DIR (the deployment root with shards.json)")
    try:
        return ShardMap.load(shards)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _publisher(url: str, shard_map: ShardMap, keystore: KeyStore) -> BusPublisher:
    try:
        return BusPublisher(url, shard_map)
    except BusUnreachableError as exc:
        keystore.close()
        raise HesCliError(f"--publish: {exc}") from None
