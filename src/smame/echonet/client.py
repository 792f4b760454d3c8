"""HEMS side of the B-route: read a smart meter over ECHONET Lite (SPEC M3, M5, M8).

:class:`EchonetClient` matches responses to requests by TID over any transport that can
send a frame and feeds received frames back (:class:`UdpTransport` here, the Wi-SUN link
in :mod:`smame.skstack.client`). :class:`SmartMeterClient` adds the smart meter's
readings and the gap refill of a 1-minute series from the meter's 60-minute store.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from smame.clock import from_epoch
from smame.echonet import edt as enc
from smame.echonet.frame import EOJ, ESV, Frame, FrameError, Property, decode, encode
from smame.echonet.propmap import decode_property_map
from smame.echonet.smartmeter import HISTORY3_MAX, SMART_METER
from smame.echonet.udp import ECHONET_PORT

__all__ = [
    "CONTROLLER",
    "EchonetClient",
    "EchonetError",
    "MinuteReading",
    "SmartMeterClient",
    "UdpTransport",
    "describe",
    "missing_minutes",
]

CONTROLLER = EOJ(0x05, 0xFF, 0x01)
ONE_MINUTE_STORE = 60  # minutes the meter keeps 1-minute readings (SPEC M3)


class EchonetError(Exception):
    """A request failed: no response, or the meter could not serve some properties."""

    def __init__(self, message: str, frame: Frame | None = None) -> None:
        super().__init__(message)
        self.frame = frame


class EchonetClient:
    """Requests and responses over ``send``; call :meth:`feed` with every received frame.

    Frames that answer no pending request (INF, INFC) go to :attr:`notifications`; an
    INFC is acknowledged with INFC_Res.
    """

    def __init__(self, send: Callable[[bytes], Awaitable[None]],
                 controller: EOJ = CONTROLLER) -> None:
        self._send = send
        self.controller = controller
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._tids = itertools.count(1)
        self.notifications: asyncio.Queue[Frame] = asyncio.Queue()

    def _next_tid(self) -> int:
        while True:
            tid = next(self._tids) & 0xFFFF
            if tid and tid not in self._pending:
                return tid

    def feed(self, data: bytes) -> None:
        """Deliver one received frame; malformed frames are ignored."""
        try:
            frame = decode(data)
        except FrameError:
            return
        if not isinstance(frame, Frame):
            return
        waiter = self._pending.get(frame.tid)
        if waiter is not None and frame.esv not in (ESV.INF, ESV.INFC) and not waiter.done():
            waiter.set_result(frame)
            return
        if frame.esv in (ESV.INF, ESV.INFC):
            self.notifications.put_nowait(frame)
            if frame.esv == ESV.INFC:
                ack = Frame(frame.tid, frame.deoj, frame.seoj, ESV.INFC_RES,
                            tuple(Property(p.epc) for p in frame.properties))
                asyncio.get_running_loop().create_task(self._send(encode(ack)))

    async def request(self, esv: int, deoj: EOJ, properties: Sequence[Property],
                      get_properties: Sequence[Property] = (), timeout: float = 3.0,
                      attempts: int = 3) -> Frame:
        """Send a request and wait for the frame with its TID (retried on timeout)."""
        tid = self._next_tid()
        frame = Frame(tid, self.controller, deoj, esv, tuple(properties), tuple(get_properties))
        data = encode(frame)
        loop = asyncio.get_running_loop()
        try:
            for _ in range(attempts):
                waiter: asyncio.Future[Frame] = loop.create_future()
                self._pending[tid] = waiter
                await self._send(data)
                try:
                    return await asyncio.wait_for(waiter, timeout)
                except TimeoutError:
                    continue
        finally:
            self._pending.pop(tid, None)
        raise EchonetError(f"no response to TID {tid} from {deoj} after {attempts} attempts")

    async def get(self, epcs: Iterable[int], deoj: EOJ = SMART_METER,
                  strict: bool = True) -> dict[int, bytes | None]:
        """EDTs of ``epcs`` in one Get; a property the meter cannot serve is None.

        With ``strict`` a Get_SNA raises :class:`EchonetError`.
        """
        wanted = list(epcs)
        reply = await self.request(ESV.GET, deoj, [Property(e) for e in wanted])
        if reply.esv == ESV.GET_SNA and strict:
            missing = [f"{p.epc:02X}" for p in reply.properties if not p.edt]
            raise EchonetError(f"{deoj} cannot serve EPC {', '.join(missing)}", reply)
        return {p.epc: (p.edt or None) for p in reply.properties}

    async def set(self, values: Mapping[int, bytes], deoj: EOJ = SMART_METER) -> None:
        """SetC; raises :class:`EchonetError` if any property is refused."""
        reply = await self.request(ESV.SETC, deoj, [Property(e, v) for e, v in values.items()])
        if reply.esv != ESV.SET_RES:
            refused = [f"{p.epc:02X}" for p in reply.properties if p.edt]
            raise EchonetError(f"{deoj} refused EPC {', '.join(refused)}", reply)

    async def set_get(self, values: Mapping[int, bytes], epcs: Iterable[int],
                      deoj: EOJ = SMART_METER) -> dict[int, bytes | None]:
        """SetGet: write ``values`` then read ``epcs`` in one round trip."""
        reply = await self.request(ESV.SETGET, deoj, [Property(e, v) for e, v in values.items()],
                                   [Property(e) for e in epcs])
        if reply.esv != ESV.SETGET_RES:
            raise EchonetError(f"{deoj} could not serve the SetGet", reply)
        return {p.epc: (p.edt or None) for p in reply.get_properties}


@dataclass(frozen=True)
class MinuteReading:
    """Registers at the end of one minute (SPEC M1), in register units."""

    minute: int  # epoch minute
    forward: int | None
    reverse: int | None


def missing_minutes(series: Mapping[int, object], first: int, last: int) -> list[int]:
    """Epoch minutes in [first, last] with no reading in ``series``."""
    return [m for m in range(first, last + 1) if m not in series]


class SmartMeterClient(EchonetClient):
    """The readings of a low-voltage smart meter 0x028801."""

    async def instantaneous_power(self) -> int | None:
        """E7, W (+ import, - export) (SPEC M5)."""
        return enc.decode_power((await self.get([0xE7]))[0xE7] or b"")

    async def cumulative_energy(self) -> tuple[int | None, float]:
        """E0 in register units and the kWh per unit (E1 × D3) (SPEC M1)."""
        values = await self.get([0xE0, 0xE1, 0xD3])
        unit = enc.unit_kwh((values[0xE1] or b"\x00")[0])
        coefficient = enc.decode_u32(values[0xD3] or b"\x00\x00\x00\x01") or 1
        return enc.decode_u32(values[0xE0] or b""), unit * coefficient

    async def one_minute(self) -> MinuteReading:
        """D0: the latest 1-minute reading."""
        moment, forward, reverse = enc.decode_one_minute((await self.get([0xD0]))[0xD0] or b"")
        return MinuteReading(int(moment.timestamp()) // 60, forward, reverse)

    async def history3(self, end_minute: int, count: int) -> list[MinuteReading]:
        """1-minute readings ``end_minute``, ``end_minute - 1``, … (EF then EE, one SetGet)."""
        setting = enc.encode_history_time(from_epoch(end_minute * 60), count)
        values = await self.set_get({0xEF: setting}, [0xEE])
        moment, pairs = enc.decode_history_pairs(values[0xEE] or b"")
        start = int(moment.timestamp()) // 60
        return [MinuteReading(start - k, f, r) for k, (f, r) in enumerate(pairs)]

    async def refill(self, series: MutableMapping[int, MinuteReading], now_minute: int,
                     ) -> list[int]:
        """Fill gaps of ``series`` in the last 60 minutes from the meter's 1-minute store.

        This is what the 60-minute store is for (SPEC M3): a HEMS that missed some D0
        readings fetches them again. Returns the minutes filled, oldest first.
        """
        first = now_minute - ONE_MINUTE_STORE + 1
        gaps = missing_minutes(series, first, now_minute)
        filled: list[int] = []
        while gaps:
            end = gaps[-1]
            count = min(HISTORY3_MAX, end - first + 1)
            for reading in await self.history3(end, count):
                if reading.minute in gaps and reading.forward is not None:
                    series[reading.minute] = reading
                    filled.append(reading.minute)
            gaps = [m for m in gaps if m < end - count + 1]
        return sorted(filled)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, transport: UdpTransport) -> None:
        self._owner = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if addr[0] == self._owner.host and self._owner.client is not None:
            self._owner.client.feed(data)


class UdpTransport:
    """UDP to a node at ``host:3610``; bind ``local`` (default any address, any port)."""

    def __init__(self, host: str, port: int = ECHONET_PORT) -> None:
        self.host = host
        self.port = port
        self.client: SmartMeterClient | None = None
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self, local: tuple[str, int] = ("0.0.0.0", 0)) -> SmartMeterClient:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=local, reuse_port=False)
        self.client = SmartMeterClient(self._send)
        return self.client

    async def _send(self, data: bytes) -> None:
        if self._transport is None:
            raise EchonetError("transport closed")
        self._transport.sendto(data, (self.host, self.port))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def _energy_text(value: int | None) -> str:
    return "no data" if value is None else str(value)


def describe(epc: int, edt: bytes | None) -> str:
    """A readable value of a smart meter property, for ``smame broute get``."""
    if edt is None:
        return "not available"
    try:
        if epc in (0x9D, 0x9E, 0x9F):
            return " ".join(f"{e:02X}" for e in sorted(decode_property_map(edt)))
        if epc in (0xE0, 0xE3, 0xD3):
            return _energy_text(enc.decode_u32(edt))
        if epc == 0xE1:
            return f"{enc.unit_kwh(edt[0])} kWh"
        if epc == 0xE7:
            power = enc.decode_power(edt)
            return "no data" if power is None else f"{power} W"
        if epc == 0xE8:
            r, t = enc.decode_currents(edt)
            return f"R {r} A, T {t} A"
        if epc == 0xE9:
            rs, st = enc.decode_voltages(edt)
            return f"R-S {rs} V, S-T {st} V"
        if epc in (0xEA, 0xEB):
            moment, value = enc.decode_fixed_time(edt)
            return f"{_energy_text(value)} at {moment.isoformat()}"
        if epc == 0xD0:
            moment, forward, reverse = enc.decode_one_minute(edt)
            return (f"forward {_energy_text(forward)}, reverse {_energy_text(reverse)} "
                    f"at {moment.isoformat()}")
        if epc in (0xE2, 0xE4):
            day, values = enc.decode_history1(edt)
            return f"day {day}: " + " ".join(_energy_text(v) for v in values)
        if epc in (0xEC, 0xEE):
            moment, pairs = enc.decode_history_pairs(edt)
            body = " ".join(f"{_energy_text(f)}/{_energy_text(r)}" for f, r in pairs)
            return f"from {moment.isoformat()} back: {body}"
        if epc in (0xED, 0xEF):
            moment, count = enc.decode_history_time(edt)
            return f"{'unset' if moment is None else moment.isoformat()}, {count} points"
        if epc in (0x97,):
            return f"{edt[0]:02d}:{edt[1]:02d}"
        if epc in (0x98,):
            return f"{int.from_bytes(edt[:2], 'big'):04d}-{edt[2]:02d}-{edt[3]:02d}"
    except (FrameError, IndexError, ValueError):
        pass
    return edt.hex().upper()
