"""The real head-end over the per-packet model of one area (SPEC S1, S3, S11).

:class:`FieldTransport` is a ``hes.session.Transport``: ``connect`` gives the head-end a
stream pair whose bytes travel as frames through a :class:`FieldArea` to the meter's own
sans-I/O DLMS server and back. A request or answer lost on the way is noticed as the
meter closing the connection ``answer_timeout_s`` simulated seconds later; the head-end's
own session timeout runs on the same clock (``FieldTransport.clock``).
Interval pushes leave the meters through the same area and reach
``HeadEnd.receive_push``. Everything runs on one :class:`EventClock`, much faster than
real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smame.dlms import DEMO_KEYS, MeterEndpoint, PushScheduler
from smame.dlms.push import push_frame
from smame.fan.events import EventClock, FrameClock
from smame.fan.mesh import FieldArea
from smame.fan.radio import Medium
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.keystore import KeyStore, MasterKey
from smame.hes.registry import Registry
from smame.hes.session import Endpoint
from smame.hes.sinks import MemorySink
from smame.mdms.collection import day_figures, slot_arrivals
from smame.meter import Fleet
from smame.readings import CHANNELS, Period, Quantity

__all__ = ["ArrivalSink", "FieldDay", "FieldTransport", "field_areas", "field_day", "push_through"]

_IMPORT_PERIOD_S = {code: 1800 if info.period is Period.MIN30 else 900
                    for code, info in CHANNELS.items() if info.quantity is Quantity.ACTIVE_IMPORT
                    and info.period in (Period.MIN30, Period.MIN15)}


class ArrivalSink(MemorySink):
    """The head-end's batches, each stamped with the simulated moment it was handed over:
    the moment an MDMS behind it would commit them (S1's arrival)."""

    def __init__(self, clock: EventClock) -> None:
        super().__init__()
        self.clock = clock
        self.handed_at: list[float] = []

    def __call__(self, batch) -> None:
        super().__call__(batch)
        self.handed_at.append(self.clock.time())

    def s1_figures(self, meters: int, day_start: int) -> dict:
        """The S1 figures of the JST day from ``day_start`` (POSIX s) for ``meters``
        expected meters, by :func:`smame.mdms.collection.day_figures` (the one definition)
        over the first arrival of each 30-minute import value (or both 15-minute ones)."""
        meter, end, period, arrived = [], [], [], []
        for batch, at in zip(self.batches, self.handed_at, strict=True):
            channel = batch.column("channel").to_numpy()
            keep = np.isin(channel, list(_IMPORT_PERIOD_S))
            if not keep.any():
                continue
            meter.append(batch.column("meter_id").to_numpy()[keep])
            end.append(batch.column("interval_end").cast("int64").to_numpy()[keep])
            period.append(np.vectorize(_IMPORT_PERIOD_S.get, otypes=[np.int64])(channel[keep]))
            arrived.append(np.full(int(keep.sum()), at))
        joined = [np.concatenate(c) if c else np.zeros(0) for c in (meter, end, period, arrived)]
        _, slot_end, slot_arrived = slot_arrivals(*joined)
        return day_figures(meters, slot_end, slot_arrived, day_start, self.clock.time())


class _FieldWriter:
    """The head-end's side of a connection: each write is a request through the area."""

    def __init__(self, transport: FieldTransport, meter: int, reader: asyncio.StreamReader):
        self._t = transport
        self._area = transport.area_of[meter]
        self._meter = meter
        self._reader = reader
        self._conn = transport.endpoints[meter].connection()
        self._closed = False
        self._first = True
        self._area.session_opened(meter)

    def write(self, data: bytes) -> None:
        area, clock = self._area, self._area.clock
        answered = False

        def give_up() -> None:
            if not answered and not self._closed:
                self._close()
                self._reader.feed_eof()

        def answer_arrived(ok: bool, out: bytes) -> None:
            nonlocal answered
            if ok and not self._closed:
                answered = True
                self._reader.feed_data(out)

        def request_arrived(ok: bool) -> None:
            if not ok or self._closed:
                return
            self._conn.receive_data(data)
            out = self._conn.data_to_send()
            if out:
                area.transfer(self._meter, len(out), True, lambda ok: answer_arrived(ok, out))

        clock.call_at(clock.time() + self._t.answer_timeout_s, give_up)
        setup = 0.0
        if self._first and area.medium.cellular:  # page the meter, connect; or lose it all
            if area.transaction_lost():
                self._close()
                clock.call_at(clock.time() + self._t.answer_timeout_s, self._reader.feed_eof)
                return
            setup = area.medium.pull_latency_s
        self._first = False
        area.transfer(self._meter, len(data), False, request_arrived, setup)

    def close(self) -> None:
        if not self._closed:
            self._close()

    def _close(self) -> None:
        self._closed = True
        self._conn.close()
        self._area.session_closed()

    async def wait_closed(self) -> None:
        return None


class FieldTransport:
    """``hes.session.ClockedTransport`` through simulated field-network areas (meter id ->
    area): the head-end's sessions over it time out on the areas' clock."""

    def __init__(self, area_of: dict[int, FieldArea], endpoints: dict[int, MeterEndpoint],
                 answer_timeout_s: float = 30.0) -> None:
        self.area_of = area_of
        self.endpoints = endpoints
        self.answer_timeout_s = answer_timeout_s
        clocks = {id(area.clock): area.clock for area in area_of.values()}
        if len(clocks) != 1:
            raise ValueError("the areas of one transport share one clock")
        self.clock = next(iter(clocks.values()))

    async def connect(self, endpoint: Endpoint):
        if endpoint.meter_id not in self.endpoints:
            raise OSError(f"meter {endpoint.meter_id} is not in this area")
        reader = asyncio.StreamReader()
        return reader, _FieldWriter(self, endpoint.meter_id, reader)


@dataclass
class FieldDay:
    """The head-end collecting one area over the per-packet model."""

    fleet: Fleet
    clock: EventClock
    areas: list[FieldArea]
    headend: HeadEnd
    sink: ArrivalSink
    pushes_sent: int = 0
    pushes_arrived: int = 0
    push_latency: list[float] = field(default_factory=list)

    @property
    def area(self) -> FieldArea:
        """The first (for one-concentrator days, the only) area."""
        return self.areas[0]

    async def run(self, until: float, since: float | None = None,
                  chunk_s: float = 600.0) -> None:
        """The head-end's schedule from ``since`` (default: as ``run_schedule``) up to
        ``until`` (POSIX s), and everything it waits on."""
        schedule = asyncio.ensure_future(self.headend.run_schedule(until, since))
        while not schedule.done():
            await self.clock.run_until(self.clock.time() + chunk_s)
        await schedule

    async def settle(self, job) -> object:
        """Run a head-end coroutine (e.g. ``fill_gaps``) to its end on the clock."""
        task = asyncio.ensure_future(job)
        while not task.done():
            await self.clock.run_until(self.clock.time() + 60)
        return await task


def field_areas(clock: FrameClock, medium: Medium, meter_ids: np.ndarray, hops: np.ndarray,
                per: float, rng: np.random.Generator, concentrator: np.ndarray
                ) -> dict[int, FieldArea]:
    """One :class:`FieldArea` per concentrator: meter id -> its area (``meter_ids[i]`` at
    ``hops[i]`` hops behind concentrator ``concentrator[i]``, all at link error rate
    ``per``)."""
    area_of: dict[int, FieldArea] = {}
    for k in np.unique(concentrator):
        rows = np.flatnonzero(concentrator == k)
        area = FieldArea(clock, medium, {int(meter_ids[r]): int(hops[r]) for r in rows}, per,
                         rng)
        area_of.update(dict.fromkeys(area.hops, area))
    return area_of


def push_through(area: FieldArea, meter: int, apdu: bytes,
                 deliver: Callable[[bytes], None]) -> None:
    """Carry one push APDU of ``meter``, wrapped as it leaves the meter, up through
    ``area``; ``deliver(frame)`` when it arrives. A lost push is gone, as over UDP: the
    head-end's pull finds the gap."""
    frame = push_frame(apdu)
    if area.medium.cellular and area.transaction_lost():
        return
    area.transfer(meter, len(frame), True, lambda ok: deliver(frame) if ok else None,
                  area.medium.up_latency_s)


def field_day(fleet: Fleet, work_dir: Path, medium: Medium, hops: np.ndarray, per: float,
              rng: np.random.Generator, push_window: int = 60,
              config: HesConfig | None = None, groups: FiveMinuteGroups | None = None,
              step_s: float = 60.0, concentrator: np.ndarray | None = None) -> FieldDay:
    """Wire ``fleet``'s meters (row i at ``hops[i]`` hops, behind concentrator
    ``concentrator[i]``, default all behind one) to a head-end through their areas.

    Each concentrator is one cell of the head-end's throttle (``HesConfig.per_cell``
    sessions at a time). Meters step with the clock every ``step_s`` and push through their
    area; call :meth:`FieldDay.run` inside a running event loop.
    """
    concentrator = np.zeros(fleet.n, np.int64) if concentrator is None else concentrator
    clock = EventClock(fleet.time)
    keystore = KeyStore(work_dir / "hes-keys.db", MasterKey(bytes(32)))
    keystore.put_many({int(m): DEMO_KEYS for m in fleet.meter_ids})
    endpoints: dict[int, MeterEndpoint] = {}
    registry_entries = []
    for row in range(fleet.n):
        meter = fleet.meter(row)
        endpoints[meter.meter_id] = MeterEndpoint(meter, DEMO_KEYS, push_destination="field:1",
                                                  push_randomisation=push_window)
        registry_entries.append(Endpoint(meter.meter_id, "field", 0,
                                         cell=f"concentrator-{concentrator[row]}",
                                         unit_exponent=meter.unit_exponent))
    area_of = field_areas(clock, medium, fleet.meter_ids, hops, per, rng, concentrator)
    areas = list({id(a): a for a in area_of.values()}.values())
    # a session's timeout is simulated time here: the model's answer timeout comes first
    config = config or HesConfig(session_timeout=3600.0)
    headend = HeadEnd(Registry(registry_entries), keystore, ArrivalSink(clock), clock, config,
                      groups, transport=FieldTransport(area_of, endpoints))
    day = FieldDay(fleet, clock, areas, headend, headend.sink)
    schedulers = [PushScheduler(e) for e in endpoints.values()]

    def step() -> None:
        fleet.run_until(clock.time())
        for scheduler in schedulers:
            meter = scheduler.endpoint.meter.meter_id
            for _destination, apdu in scheduler.due():
                day.pushes_sent += 1
                push_through(area_of[meter], meter, apdu, arrived)
        clock.call_at(clock.time() + step_s, step)

    def arrived(frame: bytes) -> None:
        day.pushes_arrived += 1
        headend.receive_push(frame)

    clock.call_at(clock.time(), step)
    return day
