"""``smame broute``: the meter as an ECHONET Lite node over UDP or an emulated Wi-SUN dongle,
and a HEMS-side reader (SPEC M3, M5, M8)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from smame.clock import AcceleratedClock, WallClock
from smame.echonet.frame import EOJ, FrameError
from smame.echonet.live import RETAINED_DAYS, LiveMeter, parse_start
from smame.echonet.node import MULTICAST
from smame.echonet.udp import ECHONET_PORT

app = typer.Typer(
    help="B-route: a smart meter as an ECHONET Lite node (UDP or Wi-SUN dongle) and a reader.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _error(message: str) -> Exception:
    from smame.cli import CliError

    return CliError(message)


MeterId = Annotated[int | None, typer.Option("--meter-id", help="Meter id to serve "
                                             "(default: the fleet's first meter).")]
Speed = Annotated[float, typer.Option(help="Clock speed: simulated seconds per real second.")]
Meters = Annotated[int, typer.Option(help="Meters in the simulated fleet.")]
Seed = Annotated[int, typer.Option(help="Random seed of the fleet.")]
Start = Annotated[str | None, typer.Option(help="Meter time to start at, ISO (JST if naive); "
                                          "default now.")]
HistoryDays = Annotated[int, typer.Option(
    "--history-days", help=f"Days of history simulated before --start (1–{RETAINED_DAYS}); "
    "the meter keeps 45 days of 30-minute values.")]


def _live(meter_id: int | None, speed: float, meters: int, seed: int, start: str | None,
          history_days: int, route_b_id: bytes | None = None) -> LiveMeter:
    if not 1 <= history_days <= RETAINED_DAYS:
        raise _error(f"--history-days must be within 1–{RETAINED_DAYS}, got {history_days}")
    if speed <= 0:
        raise _error(f"--speed must be > 0, got {speed}")
    if not 1 <= meters <= 100_000:
        raise _error(f"--meters must be within 1–100000, got {meters}")
    try:
        begin = parse_start(start) if start else WallClock().now()
    except ValueError:
        raise _error(f"--start {start!r} is not an ISO date or date-time") from None
    clock = AcceleratedClock(begin, speed)
    try:
        return LiveMeter.build(clock, meters=meters, meter_id=meter_id, seed=seed,
                               history_days=history_days, route_b_id=route_b_id)
    except KeyError:
        raise _error(f"--meter-id {meter_id} is not in the fleet (ids 100000001–"
                     f"{100_000_000 + meters})") from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="IPv4 address to serve on, e.g. 127.0.0.2.")],
    port: Annotated[int, typer.Option(help="UDP port.")] = ECHONET_PORT,
    meter_id: MeterId = None,
    speed: Speed = 1.0,
    meters: Meters = 1,
    seed: Seed = 0,
    start: Start = None,
    history_days: HistoryDays = RETAINED_DAYS,
    multicast: Annotated[bool, typer.Option(help="Join 224.0.23.0 and announce to it.")] = True,
) -> None:
    """Serve one meter as an ECHONET Lite node (0x0EF001 + 0x028801) on UDP."""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise _error(f"--host {host!r} is not an IPv4 address") from None
    if not 1 <= port <= 65535:
        raise _error(f"--port {port} is not a UDP port")
    live = _live(meter_id, speed, meters, seed, start, history_days)
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_serve(live, host, port, multicast))


async def _serve(live: LiveMeter, host: str, port: int, multicast: bool) -> None:
    from smame.echonet.udp import open_udp_node

    try:
        endpoint = await open_udp_node(live.node, host, port, multicast=multicast)
    except OSError as exc:
        raise _error(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
    _stop_on_sigterm()
    endpoint.send(live.node.announce_instances())
    print(f"ECHONET Lite node for meter {live.meter.meter_id} on udp://{host}:{port} "
          f"(multicast {'joined' if endpoint.joined else 'off'})", flush=True)
    try:
        await live.run(endpoint.send)
    finally:
        endpoint.close()


def _stop_on_sigterm() -> None:
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def _check_credentials(rbid: str, password: str) -> None:
    if len(rbid) != 32 or not rbid.isascii() or not rbid.isalnum():
        raise _error("--rbid must be the 32-character B-route ID")
    if not 1 <= len(password) <= 32 or not password.isascii() or not password.isalnum():
        raise _error("--password must be 1–32 letters and digits")


@app.command()
def dongle(
    rbid: Annotated[str, typer.Option(help="The meter's B-route ID (32 characters).")],
    password: Annotated[str, typer.Option(help="The meter's B-route password.")],
    link: Annotated[Path | None, typer.Option(help="Symlink to create to the pty.")] = None,
    model: Annotated[str, typer.Option(help="Module to emulate: bp35a1 or bp35c2.")] = "bp35a1",
    meter_id: MeterId = None,
    speed: Speed = 1.0,
    meters: Meters = 1,
    seed: Seed = 0,
    start: Start = None,
    history_days: HistoryDays = RETAINED_DAYS,
    scan_time: Annotated[bool, typer.Option(
        "--scan-time/--instant-scan", help="SKSCAN takes its real time, 9.6 ms × "
        "(2^duration + 1) per channel.")] = False,
    reply_delay: Annotated[float, typer.Option(
        help="Seconds (meter time) before the meter's answer arrives.")] = 0.0,
    session_lifetime: Annotated[int | None, typer.Option(
        help="Longest PANA session the meter grants, seconds (default: the module's S16, "
        "24 h).")] = None,
) -> None:
    """Emulate a Wi-SUN dongle (SKSTACK IP) on a pty, with the meter behind its PAN."""
    from smame.skstack import MODELS, Coordinator, NodeLink, PtyDongle, Timing, WiSunModule

    if model not in MODELS:
        raise _error(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    if not 0 <= reply_delay <= 60:
        raise _error(f"--reply-delay must be within 0–60 s, got {reply_delay}")
    if session_lifetime is not None and session_lifetime < 60:
        raise _error(f"--session-lifetime must be at least 60 s, got {session_lifetime}")
    _check_credentials(rbid, password)
    try:
        route_b_id = bytes.fromhex(rbid)
    except ValueError:
        route_b_id = None
    live = _live(meter_id, speed, meters, seed, start, history_days, route_b_id)
    meter_mac = b"\x00\x13\x50" + live.meter.meter_id.to_bytes(5, "big")
    dongle_mac = b"\x00\x1d\x12\x90" + (live.meter.meter_id & 0xFFFFFFFF).to_bytes(4, "big")
    module = WiSunModule(MODELS[model], Coordinator(meter_mac, rbid, password,
                                                    session_lifetime_s=session_lifetime),
                         NodeLink(live.node), dongle_mac, clock=live.clock,
                         timing=Timing(scan=scan_time, reply_delay_s=reply_delay))
    try:
        pty = PtyDongle(module, link)
    except OSError as exc:
        raise _error(f"cannot create the pty or --link {link}: {exc.strerror or exc}") from None
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_dongle(live, pty))


async def _dongle(live: LiveMeter, pty) -> None:
    _stop_on_sigterm()
    pty.start()
    print(f"{pty.module.model.name.upper()} for meter {live.meter.meter_id} on {pty.path}",
          flush=True)

    def send(out) -> None:
        pty.module.deliver(out.data, out.to is MULTICAST)
        pty.flush()

    try:
        await live.run(send)
    finally:
        pty.close()


def _parse_epcs(texts: list[str]) -> list[int]:
    epcs = []
    for text in texts:
        try:
            epc = int(text.removeprefix("0x").removeprefix("0X"), 16)
        except ValueError:
            raise _error(f"EPC {text!r} is not a hex byte (e.g. E0)") from None
        if not 0 <= epc <= 0xFF:
            raise _error(f"EPC {text!r} is not one byte")
        epcs.append(epc)
    if not epcs:
        raise _error("give at least one EPC, e.g. E7 E0")
    return epcs


@app.command()
def get(
    epcs: Annotated[list[str], typer.Argument(help="EPCs to read, hex, e.g. E7 E0 D0.")],
    host: Annotated[str | None, typer.Option(help="Node address (UDP).")] = None,
    port: Annotated[int, typer.Option(help="Node UDP port.")] = ECHONET_PORT,
    serial: Annotated[str | None, typer.Option(help="Wi-SUN module device instead of UDP.")
                      ] = None,
    rbid: Annotated[str | None, typer.Option(help="B-route ID (with --serial).")] = None,
    password: Annotated[str | None, typer.Option(help="B-route password (with --serial).")
                        ] = None,
    eoj: Annotated[str, typer.Option(help="Object to read, hex.")] = "028801",
) -> None:
    """Read properties of a meter over UDP or through a Wi-SUN module; one line each."""
    wanted = _parse_epcs(epcs)
    try:
        target = EOJ.parse(eoj)
    except (ValueError, FrameError):
        raise _error(f"--eoj {eoj!r} is not a 3-byte object code") from None
    if (host is None) == (serial is None):
        raise _error("give exactly one of --host and --serial")
    if serial is not None:
        if rbid is None or password is None:
            raise _error("--serial needs --rbid and --password")
        _check_credentials(rbid, password)
    values = asyncio.run(_get(wanted, target, host, port, serial, rbid, password))
    from smame.echonet.client import describe

    for epc, edt in values.items():
        print(f"{epc:02X} {describe(epc, edt)}")
    unserved = [f"{epc:02X}" for epc, edt in values.items() if edt is None]
    if unserved:  # the read ran, but part of it failed
        _failed(f"the meter did not serve EPC {', '.join(unserved)}")


async def _get(epcs: list[int], eoj: EOJ, host: str | None, port: int, serial: str | None,
               rbid: str | None, password: str | None) -> dict[int, bytes | None]:
    from smame.echonet.client import EchonetError, UdpTransport
    from smame.skstack.client import SkstackError, open_meter

    try:
        if host is not None:
            transport = UdpTransport(host, port)
            client = await transport.open()
            try:
                return await client.get(epcs, eoj, strict=False)
            finally:
                transport.close()
        assert serial is not None
        assert rbid is not None
        assert password is not None
        link, client = await open_meter(serial, rbid, password)
        try:
            return await client.get(epcs, eoj, strict=False)
        finally:
            link.close()
    except (EchonetError, SkstackError) as exc:
        _failed(str(exc))
    except OSError as exc:
        raise _error(f"{host or serial}: {exc.strerror or exc}") from None


def _failed(message: str) -> NoReturn:
    """The read was sent but failed (no answer, or a property not served): exit 1."""
    from smame.clirun import EXIT_FAILED, print_error

    print_error(message)
    raise typer.Exit(EXIT_FAILED)


def main() -> None:
    """Run the sub-app alone (``python -m smame.echonet.cli``), errors as one line."""
    from smame.cli import run_app

    run_app(app)


if __name__ == "__main__":
    main()
