"""HEMS side of a Wi-SUN module: drive SKSTACK IP over a serial device (SPEC M8).

:class:`Reader` is the sans-I/O part: serial bytes in, lines and :class:`Erxudp` out,
for both models and both ERXUDP payload formats (hex ASCII and binary, per ROPT).
:class:`SkstackLink` opens the device (a real dongle or the pty of ``smame broute
dongle``), joins the meter's PAN with the B-route ID and password, and carries ECHONET
Lite frames with SKSENDTO / ERXUDP. :func:`open_meter` returns a
:class:`~smame.echonet.client.SmartMeterClient` on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections.abc import Callable
from dataclasses import dataclass

from smame.echonet.client import SmartMeterClient

__all__ = ["Erxudp", "Reader", "SkstackError", "SkstackLink", "open_meter"]

ECHONET_PORT = 0x0E1A


class SkstackError(Exception):
    """The module answered FAIL, or a procedure (scan, join) did not succeed."""


@dataclass(frozen=True)
class Erxudp:
    """One received UDP datagram."""

    sender: str
    destination: str
    remote_port: int
    local_port: int
    sender_mac: str
    rssi: int | None
    secured: int
    side: int | None
    data: bytes


def _erxudp_fields(parts: list[str], data: bytes) -> Erxudp:
    """From the fields before DATALEN: 6 (BP35A1), 7, or 8 with RSSI (BP35C2)."""
    if len(parts) == 6:
        rssi, secured, side = None, parts[5], None
    elif len(parts) == 7:
        rssi, secured, side = None, parts[5], int(parts[6], 16)
    elif len(parts) == 8:
        rssi, secured, side = int(parts[5], 16), parts[6], int(parts[7], 16)
    else:
        raise ValueError(f"ERXUDP with {len(parts)} fields")
    return Erxudp(parts[0], parts[1], int(parts[2], 16), int(parts[3], 16), parts[4], rssi,
                  int(secured, 16), side, data)


class Reader:
    """Splits module output into lines and ERXUDP datagrams.

    ``binary`` is the ERXUDP payload format (ROPT 00); ``header_fields`` the number of
    ERXUDP fields before the payload in that mode (8 on BP35A1, 9 or 10 on BP35C2).
    """

    def __init__(self) -> None:
        self.binary = False
        self.header_fields = 8
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str | Erxudp]:
        self._buf += data
        items: list[str | Erxudp] = []
        while True:
            item = self._next()
            if item is None:
                return items
            items.append(item)

    def _next(self) -> str | Erxudp | None:
        buf = self._buf
        while buf[:1] in (b"\r", b"\n"):
            del buf[:1]
        if not buf:
            return None
        if self.binary and buf.startswith(b"ERXUDP "):
            spaces = [i for i, b in enumerate(buf) if b == 0x20][:self.header_fields]
            if len(spaces) < self.header_fields:
                return None
            header = bytes(buf[:spaces[-1]]).decode("ascii", errors="replace").split(" ")
            try:
                length = int(header[-1], 16)
            except ValueError:
                length = -1
            start = spaces[-1] + 1
            if length >= 0:
                if len(buf) < start + length:
                    return None
                data = bytes(buf[start:start + length])
                del buf[:start + length]
                try:
                    return _erxudp_fields(header[1:-1], data)
                except (ValueError, IndexError):
                    return " ".join(header)
        ends = [i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0]
        if not ends:
            return None
        line = bytes(buf[:min(ends)]).decode("ascii", errors="replace")
        del buf[:min(ends)]
        if line.startswith("ERXUDP "):
            parts = line.split(" ")[1:]
            try:
                return _erxudp_fields(parts[:-2], bytes.fromhex(parts[-1]))
            except (ValueError, IndexError):
                return line
        return line


def _open_serial(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    with contextlib.suppress(termios.error):
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


class SkstackLink:
    """A Wi-SUN module at ``path``; ECHONET Lite frames from the meter go to ``on_frame``.

    The link follows the module's events over a long run: the PANA session is down
    between EVENT 29 (lifetime over) and EVENT 25 (re-authenticated), and after EVENT 24
    or 26 (re-authentication failed, the meter ended the session) the link joins again;
    between EVENT 32 and 33 (ARIB STD-T108 transmit limit) it holds its sends.
    ``send_wait`` bounds how long a send waits for either, in seconds of real time.
    """

    def __init__(self, path: str, send_wait: float = 120.0) -> None:
        self.path = path
        self.reader = Reader()
        self.on_frame: Callable[[bytes], None] | None = None
        self.dual = False
        self.meter_address: str | None = None
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.session_up = asyncio.Event()
        self.transmit_allowed = asyncio.Event()
        self.transmit_allowed.set()
        self.transmit_limited = asyncio.Event()  # set from EVENT 32 to EVENT 33
        self.rejoins = 0
        self.send_wait = send_wait
        self._fd: int | None = None
        self._lock = asyncio.Lock()
        self._joining = False
        self._rejoin: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._fd = _open_serial(self.path)
        asyncio.get_running_loop().add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        for item in self.reader.feed(data):
            if isinstance(item, Erxudp):
                if (item.local_port == ECHONET_PORT and item.sender == self.meter_address
                        and self.on_frame is not None):
                    self.on_frame(item.data)
            else:
                self._follow(item)
                self.lines.put_nowait(item)

    def _follow(self, line: str) -> None:
        """Track session and transmit state from the module's EVENT lines."""
        if not line.startswith("EVENT "):
            return
        number = line[6:8]
        if number == "25":
            self.session_up.set()
        elif number in ("29", "24", "26", "27", "28"):
            self.session_up.clear()
            idle = self._rejoin is None or self._rejoin.done()
            if number in ("24", "26") and idle and not self._joining and self.meter_address:
                self._rejoin = asyncio.get_running_loop().create_task(self._join_again())
        elif number == "32":
            self.transmit_allowed.clear()
            self.transmit_limited.set()
        elif number == "33":
            self.transmit_limited.clear()
            self.transmit_allowed.set()

    async def _join_again(self) -> None:
        assert self.meter_address is not None
        self._joining = True
        try:
            lines = await self.command(f"SKJOIN {self.meter_address}",
                                       until=("EVENT 24", "EVENT 25"), timeout=60)
            if lines[-1].startswith("EVENT 25"):
                self.rejoins += 1
        except SkstackError:
            pass  # the next send waits for a session and reports it
        finally:
            self._joining = False

    async def _write(self, data: bytes) -> None:
        assert self._fd is not None
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self._fd, ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(self._fd)
                continue
            view = view[written:]

    async def command(self, text: str, until: tuple[str, ...] = ("OK",), payload: bytes = b"",
                      timeout: float = 10.0) -> list[str]:
        """Send a command; return the lines up to one starting with ``until``.

        Raises :class:`SkstackError` on FAIL or when nothing ends the answer in time.
        """
        async with self._lock:
            while not self.lines.empty():
                self.lines.get_nowait()
            await self._write(text.encode() + (b" " + payload if payload else b"\r\n"))
            lines: list[str] = []
            while True:
                try:
                    line = await asyncio.wait_for(self.lines.get(), timeout)
                except TimeoutError:
                    raise SkstackError(f"{text.split(' ')[0]}: no answer in {timeout} s") from None
                if line.startswith("FAIL"):
                    raise SkstackError(f"{text.split(' ')[0]}: {line}")
                lines.append(line)
                if line.startswith(until):
                    return lines

    async def join(self, route_b_id: str, password: str, scan_duration: int = 6) -> None:
        """Find the meter's PAN and establish the PANA session (EVENT 25), or raise."""
        self._joining = True
        try:
            await self._join(route_b_id, password, scan_duration)
        finally:
            self._joining = False

    async def _join(self, route_b_id: str, password: str, scan_duration: int) -> None:
        await self.command("SKRESET")
        await self.command("SKSREG SFE 0")
        await self.command("SKSREG S17 1")  # re-authenticate before the session lapses
        info = [line for line in await self.command("SKINFO") if line.startswith("EINFO")]
        if not info:
            raise SkstackError("SKINFO gave no EINFO")
        self.dual = info[-1].split(" ")[-1] != "FFFE"  # BP35A1 ends with ADDR16, BP35C2 side
        try:
            mode = (await self.command("ROPT", until=("OK ",)))[-1].split(" ")[1]
            self.reader.binary = int(mode, 16) == 0
        except SkstackError:
            self.reader.binary = False  # modules without ROPT print hex ASCII
        if self.dual:
            await self.command("SKSREG SA2 0")
        self.reader.header_fields = 9 if self.dual else 8
        await self.command(f"SKSETRBID {route_b_id}")
        await self.command(f"SKSETPWD {len(password):X} {password}")
        side = " 0" if self.dual else ""
        lines = await self.command(f"SKSCAN 2 FFFFFFFF {scan_duration}{side}",
                                   until=("EVENT 22",), timeout=60)
        found = dict(line.strip().split(":", 1) for line in lines if line.startswith("  "))
        if "Addr" not in found:
            raise SkstackError("no meter answered the scan (check the B-route ID)")
        self.meter_address = (await self.command(f"SKLL64 {found['Addr']}",
                                                 until=("FE80",)))[-1]
        await self.command(f"SKSREG S2 {found['Channel']}")
        await self.command(f"SKSREG S3 {found['Pan ID']}")
        lines = await self.command(f"SKJOIN {self.meter_address}",
                                   until=("EVENT 24", "EVENT 25"), timeout=60)
        if lines[-1].startswith("EVENT 24"):
            raise SkstackError("PANA authentication failed (EVENT 24): check the password")
        self.session_up.set()

    async def send(self, payload: bytes) -> None:
        """SKSENDTO the meter, encrypted (SEC 1), ECHONET Lite port; waits while the
        session is down or the transmit limit holds, and tries again after FAIL ER10."""
        if self.meter_address is None:
            raise SkstackError("not joined")
        side = " 0" if self.dual else ""
        command = f"SKSENDTO 1 {self.meter_address} 0E1A 1{side} {len(payload):04X}"
        for attempt in range(3):
            await self._ready()
            try:
                await self.command(command, payload=payload)
                return
            except SkstackError as exc:
                if "ER10" not in str(exc) or attempt == 2:
                    raise  # ER10 follows the EVENT that explains it, so _ready now waits

    async def _ready(self) -> None:
        try:
            await asyncio.wait_for(self.session_up.wait(), self.send_wait)
            await asyncio.wait_for(self.transmit_allowed.wait(), self.send_wait)
        except TimeoutError:
            raise SkstackError("no PANA session or transmit limit still in force after "
                               f"{self.send_wait} s") from None

    def close(self) -> None:
        if self._rejoin is not None:
            self._rejoin.cancel()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None


async def open_meter(path: str, route_b_id: str, password: str) -> tuple[SkstackLink,
                                                                          SmartMeterClient]:
    """Join the meter behind the module at ``path``; the client reads it over the PAN."""
    link = SkstackLink(path)
    await link.open()
    try:
        await link.join(route_b_id, password)
    except BaseException:
        link.close()
        raise
    client = SmartMeterClient(link.send)
    link.on_frame = client.feed
    return link, client
