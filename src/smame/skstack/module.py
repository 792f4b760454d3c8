"""A Wi-SUN module speaking SKSTACK IP, emulated sans-I/O (SPEC M8: B-route over Wi-SUN).

Serial bytes in (:meth:`WiSunModule.receive_data`), serial bytes out
(:meth:`WiSunModule.data_to_send`). Behind the radio is one smart meter: the PAN
coordinator and PANA authentication agent described by :class:`Coordinator`, whose
ECHONET Lite node is reached through a :class:`MeterLink`. A PANA session is established
by SKJOIN only with the meter's B-route ID and password; until then the meter drops what
the module sends, as a real meter drops frames outside its PANA session.

Commands end with CR, LF or CRLF. SKSENDTO is followed by exactly DATALEN raw bytes.
Errors answer ``FAIL ERxx`` as the modules do: ER04 unknown command, ER05 wrong number
of arguments, ER06 bad format or value out of range, ER09 UART input error, ER10
execution failed.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from smame.clock import Clock, SimulatedClock
from smame.skstack.models import Model
from smame.skstack.timing import DutyMeter, Timing, airtime_s, scan_channel_s

__all__ = ["MULTICAST_ADDRESS", "Coordinator", "MeterLink", "Timing", "WiSunModule",
           "link_local"]

MAX_LINE = 512
MAX_DATA = 0x04D0
ECHONET_PORT, PANA_PORT = 0x0E1A, 0x02CC
MULTICAST_ADDRESS = "FF02:0000:0000:0000:0000:0000:0000:0001"
_BOOLEAN = (0xA0, 0xA1, 0xA2, 0x15, 0x17, 0xFD, 0xFE, 0xFF)
_READ_ONLY = (0x07, 0xFB)
log = logging.getLogger(__name__)


def link_local(mac: bytes) -> str:
    """The IPv6 link-local address of a 64-bit MAC (U/L bit flipped), as SKSTACK prints it."""
    iid = bytes((mac[0] ^ 0x02,)) + mac[1:]
    groups = ["FE80", "0000", "0000", "0000"] + [iid[k:k + 2].hex().upper() for k in (0, 2, 4, 6)]
    return ":".join(groups)


def _full(address: str) -> str:
    """An IPv6 address in the module's notation (8 groups of 4 upper-case digits)."""
    return ipaddress.IPv6Address(address).exploded.upper()


class MeterLink(Protocol):
    """The meter's ECHONET Lite node as the module's peer. Frames come back as
    ``(payload, multicast)``."""

    def request(self, payload: bytes, source: str) -> list[tuple[bytes, bool]]: ...

    def joined(self, hems: str) -> list[tuple[bytes, bool]]: ...


@dataclass(frozen=True)
class Coordinator:
    """The meter's radio: MAC, PAN, and the B-route credentials it authenticates."""

    mac: bytes
    route_b_id: str
    password: str
    channel: int = 0x21
    pan_id: int = 0x8888
    lqi: int = 0xA8
    session_lifetime_s: int | None = None
    """Longest PANA session the meter grants; None: whatever the module asks (S16)."""

    @property
    def address(self) -> str:
        return link_local(self.mac)

    @property
    def pairing_id(self) -> str:
        """Lower 8 characters of the B-route ID: what an active scan with IE looks for."""
        return self.route_b_id[-8:]


class _FailError(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@dataclass
class _PendingSend:
    header: bytes
    args: list[str]
    length: int


def _hex(text: str, digits: tuple[int, ...], low: int, high: int) -> int:
    if len(text) not in digits or any(c not in "0123456789ABCDEFabcdef" for c in text):
        raise _FailError(6)
    value = int(text, 16)
    if not low <= value <= high:
        raise _FailError(6)
    return value


def _address(text: str) -> str:
    try:
        return _full(text)
    except ValueError:
        raise _FailError(6) from None


class WiSunModule:
    """One BP35A1 or BP35C2 (``model``) with MAC ``mac``, in radio range of ``meter``.

    Time comes from ``clock`` (default: a simulated clock that never moves, so nothing
    expires); ``timing`` chooses which time-dependent behaviours are emulated. Output
    due later (scan results, delayed replies, events) is released by
    :meth:`data_to_send` once the clock reaches it; :meth:`next_due` tells when.
    ``reachable`` False puts the meter out of radio range.
    """

    def __init__(self, model: Model, meter: Coordinator, link: MeterLink, mac: bytes,
                 clock: Clock | None = None, timing: Timing | None = None) -> None:
        self.model = model
        self.meter = meter
        self.link = link
        self.mac = mac
        self.address = link_local(mac)
        self.clock: Clock = clock or SimulatedClock(0.0)
        self.timing = timing or Timing()
        self.reachable = True
        self.authentications = 0
        self.wopt = model.default_wopt  # kept in flash: SKRESET does not clear it
        self._in = bytearray()
        self._out: list[tuple[float, int, bytes]] = []  # (due, order, bytes), kept sorted
        self._order = 0
        self._busy_until = float("-inf")
        self._duty = (DutyMeter(self.timing.transmit_limit_s)
                      if self.timing.transmit_limit_s is not None else None)
        self.restricted_until: float | None = None
        self._pending: _PendingSend | None = None
        self._commands: dict[str, Callable[[list[str]], None]] = {
            "SKVER": self._skver, "SKAPPVER": self._skappver, "SKINFO": self._skinfo,
            "SKRESET": self._skreset, "SKSREG": self._sksreg, "SKSETRBID": self._sksetrbid,
            "SKSETPWD": self._sksetpwd, "SKSCAN": self._skscan, "SKLL64": self._skll64,
            "SKJOIN": self._skjoin, "SKREJOIN": self._skrejoin, "SKTERM": self._skterm,
            "SKADDNBR": self._skaddnbr, "SKSAVE": self._ok_only, "SKERASE": self._ok_only,
            "SKLOAD": self._skload, "ROPT": self._ropt, "WOPT": self._wopt,
            "SKSENDTO": self._sksendto_line,
        }
        self._reset()

    def _reset(self) -> None:
        self.registers: dict[int, int] = {0x02: 0x21, 0x03: 0xFFFF, 0x07: 0, 0x15: 1,
                                          0x16: 0x15180, 0x17: 1, 0xA0: 0, 0xA1: 1, 0xA2: 0,
                                          0xFB: 0, 0xFD: 0, 0xFE: 1, 0xFF: 0}
        self.pairing_id = "00000000"
        self.route_b_id: str | None = None
        self.password: str | None = None
        self.session = False
        self.session_expires: float | None = None
        self.neighbour = False  # the meter's address is known (scanned or joined)

    # ---------------------------------------------------------------- serial bytes

    def receive_data(self, data: bytes) -> None:
        """Feed bytes written to the serial port; never raises."""
        self._tick()
        self._in += data
        while self._step():
            pass

    def data_to_send(self) -> bytes:
        """Bytes the module has written to the serial port by now, since the last call."""
        self._tick()
        now = self.clock.time()
        due = 0
        while due < len(self._out) and self._out[due][0] <= now:
            due += 1
        out = b"".join(chunk for _, _, chunk in self._out[:due])
        del self._out[:due]
        return out

    def next_due(self) -> float | None:
        """Clock time of the next output or timed event (session expiry, end of the
        transmit restriction), or None while nothing is pending."""
        times = [t for t in (self.session_expires, self.restricted_until) if t is not None]
        if self._out:
            times.append(self._out[0][0])
        return min(times, default=None)

    @property
    def scanning(self) -> bool:
        """Whether an SKSCAN is still running (only with ``Timing(scan=True)``)."""
        return self._busy_until > self.clock.time()

    def deliver(self, payload: bytes, multicast: bool = False) -> None:
        """A frame the meter sends on its own (INF): ERXUDP while the session is up."""
        self._tick()
        if self.session and self.reachable:
            destination = MULTICAST_ADDRESS if multicast else self.address
            self._erxudp(self.meter.address, destination, ECHONET_PORT, payload, secured=1)

    def meter_terminates(self) -> None:
        """The meter ends the PANA session (EVENT 26), as meters do on maintenance."""
        self._tick()
        if self.session:
            self._end_session()
            self._event(0x26, self.meter.address)

    # ---------------------------------------------------------------- time

    def _tick(self) -> None:
        """Run the timed events whose time has come, each at its own time."""
        now = self.clock.time()
        while True:
            expires, released = self.session_expires, self.restricted_until
            if expires is not None and expires <= now and (released is None
                                                          or expires <= released):
                self._expire(expires)
            elif released is not None and released <= now:
                self.restricted_until = None
                self._event(0x33, self.address, at=released)
            else:
                return

    def _expire(self, at: float) -> None:
        """Session lifetime over (EVENT 29); with S17 = 1 the module re-authenticates."""
        self._end_session()
        self._event(0x29, self.meter.address, at=at)
        if self.registers[0x17]:
            self._authenticate(self.meter.address, at)

    def _end_session(self) -> None:
        self.session = False
        self.session_expires = None

    def _write(self, data: bytes, at: float | None = None) -> None:
        due = max(self.clock.time() if at is None else at, self._busy_until)
        self._order += 1
        entry = (due, self._order, data)
        index = len(self._out)
        while index and self._out[index - 1][:2] > entry[:2]:
            index -= 1
        self._out.insert(index, entry)

    # ---------------------------------------------------------------- input framing

    def _step(self) -> bool:
        buf = self._in
        if self._pending is not None:
            if len(buf) < self._pending.length:
                return False
            data = bytes(buf[:self._pending.length])
            del buf[:self._pending.length]
            pending, self._pending = self._pending, None
            self._run(pending.header + b" " + data, lambda: self._sendto(pending.args, data))
            return True
        skip = 0
        while skip < len(buf) and buf[skip] in b"\r\n":
            skip += 1
        del buf[:skip]
        if not buf:
            return False
        term = min((i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0), default=-1)
        if buf.startswith(b"SKSENDTO "):
            spaces, at = 0, -1
            for at, byte in enumerate(buf):  # noqa: B007 - position of the last header space
                if byte == 0x20:
                    spaces += 1
                    if spaces == self.model.sendto_args + 1:
                        break
            else:
                at = -1
            if at >= 0 and (term < 0 or at < term):
                header = bytes(buf[:at])
                del buf[:at + 1]
                self._start_send(header)
                return True
        if term < 0:
            if len(buf) > MAX_LINE:
                buf.clear()
                self._fail(9)
            return False
        line = bytes(buf[:term])
        del buf[:term]
        if len(line) > MAX_LINE:
            self._fail(9)
            return True
        self._run(line, lambda: self._command(line))
        return True

    def _run(self, echoed: bytes, action: Callable[[], None]) -> None:
        if self.registers[0xFE]:
            self._write(echoed + b"\r\n")
        try:
            action()
        except _FailError as failure:
            self._fail(failure.code)
        except Exception:  # a fault behind the radio must not stall the serial line
            log.exception("command %r failed inside the module", echoed[:40])
            self._fail(10)

    def _command(self, line: bytes) -> None:
        text = line.decode("ascii", errors="replace")
        parts = text.split(" ")
        handler = self._commands.get(parts[0])
        if handler is None or any(not p for p in parts):
            raise _FailError(4 if handler is None else 6)
        handler(parts[1:])

    def _start_send(self, header: bytes) -> None:
        args = header.decode("ascii", errors="replace").split(" ")[1:]
        try:
            if len(args) != self.model.sendto_args or any(not a for a in args):
                raise _FailError(5)
            length = _hex(args[-1], (4,), 1, MAX_DATA)
        except _FailError as failure:
            code = failure.code
            self._run(header, lambda: self._fail(code))
            self._discard_line()
            return
        self._pending = _PendingSend(header, args, length)

    def _discard_line(self) -> None:
        buf = self._in
        term = min((i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0), default=len(buf))
        del buf[:term]

    # ---------------------------------------------------------------- output

    def _line(self, text: str, at: float | None = None) -> None:
        self._write(text.encode("ascii") + b"\r\n", at)

    def _ok(self) -> None:
        self._line("OK")

    def _fail(self, code: int) -> None:
        self._line(f"FAIL ER{code:02d}")

    def _event(self, number: int, sender: str, param: int | None = None,
               at: float | None = None) -> None:
        parts = [f"EVENT {number:02X}", sender]
        if self.model.dual:
            parts.append("0")
        if param is not None:
            parts.append(f"{param:02X}")
        self._line(" ".join(parts), at)

    def _erxudp(self, sender: str, destination: str, port: int, data: bytes,
                secured: int, at: float | None = None) -> None:
        fields = ["ERXUDP", sender, destination, f"{port:04X}", f"{port:04X}",
                  self.meter.mac.hex().upper()]
        if self.model.dual:
            if self.registers[0xA2]:
                fields.append(f"{self.meter.lqi:02X}")
            fields += [str(secured), "0"]
        else:
            fields.append(str(secured))
        fields.append(f"{len(data):04X}")
        payload = data.hex().upper().encode() if self.wopt == 1 else data
        self._write(" ".join(fields).encode() + b" " + payload + b"\r\n", at)

    # ---------------------------------------------------------------- commands

    def _expect(self, args: list[str], count: int) -> None:
        if len(args) != count:
            raise _FailError(5)

    def _skver(self, args: list[str]) -> None:
        self._expect(args, 0)
        self._line(f"EVER {self.model.version}")
        self._ok()

    def _skappver(self, args: list[str]) -> None:
        self._expect(args, 0)
        self._line(f"EAPPVER smame-{self.model.name}")
        self._ok()

    def _skinfo(self, args: list[str]) -> None:
        self._expect(args, 0)
        tail = "0" if self.model.dual else "FFFE"
        self._line(f"EINFO {self.address} {self.mac.hex().upper()} {self.registers[0x02]:02X} "
                   f"{self.registers[0x03]:04X} {tail}")
        self._ok()

    def _skreset(self, args: list[str]) -> None:
        self._expect(args, 0)
        self._reset()
        self._ok()

    def _ok_only(self, args: list[str]) -> None:
        self._expect(args, 0)
        self._ok()

    def _skload(self, args: list[str]) -> None:
        self._expect(args, 0)
        raise _FailError(10)  # nothing was saved to flash

    def _register(self, name: str) -> int:
        if not name.startswith("S") or not 2 <= len(name) <= 3:
            raise _FailError(6)
        number = _hex(name[1:], (1, 2), 0, 0xFF)
        if number not in self.registers and number != 0x0A:
            raise _FailError(6)
        return number

    def _sksreg(self, args: list[str]) -> None:
        if not 1 <= len(args) <= 2:
            raise _FailError(5)
        number = self._register(args[0])
        if len(args) == 1:
            width = {0x02: 2, 0x03: 4, 0x07: 8, 0x16: 8}.get(number, 1)
            shown = (self.pairing_id if number == 0x0A else
                     f"{self.registers[number]:0{width}X}")
            self._line(f"ESREG {shown}")
            self._ok()
            return
        value = args[1]
        if number in _READ_ONLY:
            raise _FailError(6)
        if number == 0x0A:
            _hex(value, (8,), 0, 0xFFFFFFFF)
            self.pairing_id = value.upper()
        elif number == 0x02:
            self.registers[number] = _hex(value, (1, 2), 0x21, 0x3C)
        elif number == 0x03:
            self.registers[number] = _hex(value, (1, 2, 3, 4), 0, 0xFFFF)
        elif number == 0x16:
            self.registers[number] = _hex(value, tuple(range(1, 9)), 0x3C, 0xFFFFFFFF)
        elif number in _BOOLEAN:
            self.registers[number] = _hex(value, (1,), 0, 1)
        self._ok()

    def _sksetrbid(self, args: list[str]) -> None:
        self._expect(args, 1)
        rbid = args[0]
        if len(rbid) != 32 or not rbid.isprintable():
            raise _FailError(6)
        self.route_b_id = rbid
        self.pairing_id = rbid[-8:]
        self._ok()

    def _sksetpwd(self, args: list[str]) -> None:
        self._expect(args, 2)
        length = _hex(args[0], (1, 2), 1, 0x20)
        if len(args[1]) != length:
            raise _FailError(6)
        self.password = args[1]
        self._ok()

    def _skscan(self, args: list[str]) -> None:
        self._expect(args, self.model.scan_args)
        mode = _hex(args[0], (1,), 0, 3)
        if mode == 1:
            raise _FailError(6)
        mask = _hex(args[1], (8,), 0, 0xFFFFFFFF)
        duration = _hex(args[2], (1, 2), 0, 14)
        side = _hex(args[3], (1,), 0, 1) if self.model.dual else 0
        self._ok()
        channels = [0x21 + k for k in range(28) if mask >> k & 1]
        start = self.clock.time()
        per_channel = scan_channel_s(duration) if self.timing.scan else 0.0
        end = start + per_channel * len(channels)
        try:
            self._scan(mode, channels, side, start, per_channel, end)
        finally:
            self._busy_until = max(self._busy_until, end)  # the module answers after the scan

    def _scan(self, mode: int, channels: list[int], side: int, start: float,
              per_channel: float, end: float) -> None:
        m = self.meter
        if mode == 0:
            self._line("EEDSCAN", end)
            self._line(" ".join(f"{c:02X} {0x30 if c == m.channel else 0x10:02X}"
                                for c in channels), end)
            self._event(0x1F, self.address, at=end)
            return
        pairs = mode == 3 or self.pairing_id == m.pairing_id
        if m.channel in channels and pairs and side == 0 and self.reachable:
            self.neighbour = True
            heard = start + per_channel * (channels.index(m.channel) + 1)
            self._event(0x20, m.address, at=heard)
            lines = ["EPANDESC", f"  Channel:{m.channel:02X}", "  Channel Page:09",
                     f"  Pan ID:{m.pan_id:04X}", f"  Addr:{m.mac.hex().upper()}",
                     f"  LQI:{m.lqi:02X}"]
            if self.model.dual:
                lines.append("  Side:0")
            if mode == 2:
                lines.append(f"  PairID:{m.pairing_id}")
            for line in lines:
                self._line(line, heard)
        self._event(0x22, self.address, at=end)

    def _skll64(self, args: list[str]) -> None:
        self._expect(args, 1)
        mac = _hex(args[0], (16,), 0, 2**64 - 1)
        self._line(link_local(mac.to_bytes(8, "big")))

    def _skaddnbr(self, args: list[str]) -> None:
        self._expect(args, 2)
        _address(args[0])
        _hex(args[1], (16,), 0, 2**64 - 1)
        self._ok()

    def _pana(self, sequence: int) -> bytes:
        """A PANA-Auth-Request header (RFC 5191): what the meter's PAA sends while joining."""
        return (b"\x00\x00\x00\x10\x00\x00\x00\x02" + self.mac[-4:]
                + sequence.to_bytes(4, "big"))

    def _skjoin(self, args: list[str]) -> None:
        self._expect(args, 1)
        target = _address(args[0])
        if self.session:
            raise _FailError(10)
        self._ok()
        if self._authenticate(target, self.clock.time()):
            for payload, multicast in self.link.joined(self.address):
                self.deliver(payload, multicast)

    def _authenticate(self, target: str, at: float) -> bool:
        """PANA authentication with the meter at ``target``: EVENT 25, or EVENT 24."""
        m = self.meter
        reachable = (target == m.address and self.registers[0x02] == m.channel
                     and self.registers[0x03] == m.pan_id and self.reachable)
        self._event(0x21, target, 0x02, at=at)  # neighbour solicitation
        if not reachable:
            self._event(0x21, target, 0x01, at=at)
            self._event(0x24, target, at=at)
            return False
        self.neighbour = True
        self._event(0x02, target, at=at)
        self._erxudp(m.address, self.address, PANA_PORT, self._pana(1), secured=0, at=at)
        self._event(0x21, target, 0x00, at=at)
        if self.route_b_id != m.route_b_id or self.password != m.password:
            self._event(0x24, target, at=at)
            return False
        self._erxudp(m.address, self.address, PANA_PORT, self._pana(2), secured=0, at=at)
        self._event(0x21, target, 0x00, at=at)
        self._event(0x25, target, at=at)
        lifetime = self.registers[0x16]
        if m.session_lifetime_s is not None:
            lifetime = min(lifetime, m.session_lifetime_s)
        self.session = True
        self.session_expires = at + lifetime
        self.authentications += 1
        return True

    def _skrejoin(self, args: list[str]) -> None:
        self._expect(args, 0)
        if not self.session:
            raise _FailError(10)
        self._ok()
        if not self._authenticate(self.meter.address, self.clock.time()):
            self._end_session()

    def _skterm(self, args: list[str]) -> None:
        self._expect(args, 0)
        if not self.session:
            raise _FailError(10)
        self._ok()
        self._end_session()
        # 27: the meter confirmed; 28: no answer in time, the session ends all the same
        self._event(0x27 if self.reachable else 0x28, self.meter.address)

    def _ropt(self, args: list[str]) -> None:
        self._expect(args, 0)
        self._write(f"OK {self.wopt:02X}\r".encode())  # ROPT and WOPT answer with CR only

    def _wopt(self, args: list[str]) -> None:
        self._expect(args, 1)
        self.wopt = _hex(args[0], (2,), 0, 1)
        self._write(b"OK\r")

    def _sksendto_line(self, args: list[str]) -> None:
        raise _FailError(5)  # a complete SKSENDTO never ends its header with a line break

    def _sendto(self, args: list[str], data: bytes) -> None:
        handle = _hex(args[0], (1,), 1, 6)
        del handle
        destination = _address(args[1])
        port = _hex(args[2], (4,), 1, 0xFFFF)
        secured = _hex(args[3], (1,), 0, 2)
        side = _hex(args[4], (1,), 0, 1) if self.model.dual else 0
        if secured == 1 and not self.session:
            raise _FailError(10)
        self._transmit(len(data))
        to_meter = destination in (self.meter.address, MULTICAST_ADDRESS) and side == 0
        if not to_meter or not self.neighbour or not self.reachable:
            self._event(0x21, destination, 0x01)
            self._ok()
            return
        self._event(0x21, destination, 0x00)
        self._ok()
        if port != ECHONET_PORT or not self.session or secured == 0:
            return  # the meter accepts ECHONET Lite only inside its PANA session
        answers = self.link.request(data, self.address)
        at = self.clock.time() + self.timing.reply_delay_s
        for payload, multicast in answers:
            destination = MULTICAST_ADDRESS if multicast else self.address
            self._erxudp(self.meter.address, destination, ECHONET_PORT, payload, secured=1,
                         at=at)

    def _transmit(self, size: int) -> None:
        """Account the air time of one datagram (ARIB STD-T108); refuse it with FAIL ER10
        while the limit holds, announcing the restriction by EVENT 32 when it begins."""
        if self._duty is None:
            return
        now, seconds = self.clock.time(), airtime_s(size)
        if self.restricted_until is None and self._duty.allows(now, seconds):
            self._duty.record(now, seconds)
            return
        if self.restricted_until is None:
            self.restricted_until = self._duty.free_at(now, seconds)
            self._event(0x32, self.address)
        raise _FailError(10)
