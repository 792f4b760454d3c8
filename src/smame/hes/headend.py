"""The head-end: receives pushes, pulls what did not arrive, runs commands (SPEC S1–S3, S8,
S9, S14).

* **Pushes.** Each closed interval comes as an encrypted data notification over UDP. The
  head-end authenticates and deciphers it with the meter's keys, refuses replays (the
  meter's invocation counter must rise), and turns it into reading-batch rows. Last Gasp
  and restoration pushes become outage and restore events at once.
* **Pulls.** After each interval closes (plus a grace period), meters whose push did not
  arrive are read by range from their load profile; :meth:`HeadEnd.fill_gaps` re-reads
  longer gaps as far back as the meters keep data.
* **5-minute groups.** The real-time group is read every 5 minutes, the historical group
  once a day (S3); membership is :class:`FiveMinuteGroups`, changeable at run time (S16).
* **Commands** go through a :class:`CommandQueue` that shares the head-end's throttle.

Readings leave only through the sink, as reading batches; invocation counters are
committed with each flush, so a restart neither reuses nor re-accepts them.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smame.clock import JST_OFFSET_S, Clock
from smame.dlms import axdr, obis
from smame.dlms.push import (
    Notification,
    decipher_push,
    fast_interval,
    parse_interval_push,
    parse_last_gasp_push,
)
from smame.dlms.security import MeterKeys, SecurityError, meter_id_of, parse_ciphered
from smame.hes import operations as ops
from smame.hes.commands import CommandError, CommandKind, CommandQueue, TransientError
from smame.hes.gaps import find_gaps
from smame.hes.groups import FiveMinuteGroups
from smame.hes.keystore import KeyStore, KeyStoreError
from smame.hes.registry import Registry
from smame.hes.session import (
    DlmsSession,
    Endpoint,
    TcpTransport,
    Transport,
    learn_counter,
    open_session,
)
from smame.hes.sinks import ReadingSink
from smame.hes.throttle import Priority, Throttle
from smame.meter.events import EventKind
from smame.readings import Period, Quantity, Source, channel_code, make_batch
from smame.registers import REGISTER_MODULUS

__all__ = ["HeadEnd", "HesConfig", "HesEvent"]

WRAPPER_VERSION = 1
PUSH_RECEIVE_BUFFER = 16 * 2**20


@dataclass(frozen=True)
class HesConfig:
    client_title: bytes = b"SMMHES01"
    push_grace_seconds: float = 120.0  # wait this long after an interval before pulling
    realtime_delay_seconds: float = 60.0
    """Read the real-time 5-minute group this long after each 5-minute boundary (S3: within
    10 minutes), whatever the push grace of the 30-minute data."""
    pull_rounds: int = 1
    """Pulls of an interval's missing meters within the hour: the first
    ``push_grace_seconds`` after it closes, each further one ``pull_backoff_seconds``
    later while some are still missing (back-off on loss, S1)."""
    pull_backoff_seconds: float = 600.0
    session_timeout: float = 10.0
    per_cell: int = 8
    cell_sessions: tuple[tuple[str, int], ...] = ()
    """Sessions at a time for cells whose name starts with a prefix (e.g.
    ``(("concentrator-", 4), ("cell-", 16))``: a mesh concentrator and a 1:N cell);
    other cells take ``per_cell``."""
    total_sessions: int = 128
    retries: int = 2
    flush_rows: int = 200_000
    retention_minutes: dict[int, int] = field(
        default_factory=lambda: {1: 60, 5: 14 * 1440, 15: 45 * 1440, 30: 45 * 1440})


@dataclass(frozen=True)
class HesEvent:
    """Something the head-end saw: an outage, a restoration, a rejected push, a failure."""

    time: float  # head-end clock, POSIX s
    meter_id: int | None
    kind: str
    detail: str = ""
    meter_time: int | None = None  # when it happened at the meter


class _Rows:
    """Columns of readings waiting for the next flush."""

    def __init__(self) -> None:
        self.columns: tuple[list[int], ...] = ([], [], [], [], [], [])

    def add(self, meter_id: int, end: int, channel: int, value: int, quality: int,
            source: int) -> None:
        for column, item in zip(self.columns, (meter_id, end, channel, value, quality, source),
                                strict=True):
            column.append(item)

    def __len__(self) -> int:
        return len(self.columns[0])

    def take(self):
        columns, self.columns = self.columns, ([], [], [], [], [], [])
        return columns


class HeadEnd:
    def __init__(
        self,
        registry: Registry,
        keystore: KeyStore,
        sink: ReadingSink,
        clock: Clock,
        config: HesConfig | None = None,
        groups: FiveMinuteGroups | None = None,
        on_event: Callable[[HesEvent], None] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.registry = registry
        self.transport = transport or TcpTransport()
        self.keystore = keystore
        self.sink = sink
        self.clock = clock
        self.config = config or HesConfig()
        self.groups = groups or FiveMinuteGroups.select(registry.meter_ids())
        self.events: list[HesEvent] = []
        self._on_event = on_event
        self.throttle = Throttle(registry.cell_of, self._sessions_in,
                                 self.config.total_sessions)
        self.commands = CommandQueue(self._execute, clock, retries=self.config.retries)
        self.soft_switch: dict[int, int] = dict.fromkeys(registry.meter_ids(), 30)
        self._rows = _Rows()
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # (period, interval end s) -> meter ids delivered, and how
        self.delivered: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)
        self.push_latency: list[float] = []
        self.pull_latency: list[float] = []
        self.pushes = 0
        self.duplicates = 0
        self._channels: dict[tuple[int, Quantity, Period], int] = {}
        self.expected: dict[tuple[int, int], set[int]] = {}  # fixed when an interval is collected
        self._five_minute_done: dict[str, int] = {}

    def _sessions_in(self, cell: str) -> int:
        return next((n for prefix, n in self.config.cell_sessions if cell.startswith(prefix)),
                    self.config.per_cell)

    # ------------------------------------------------------------------ events, flushing

    def _event(self, meter_id: int | None, kind: str, detail: str = "",
               meter_time: int | None = None) -> None:
        event = HesEvent(self.clock.time(), meter_id, kind, detail, meter_time)
        self.events.append(event)
        if self._on_event:
            self._on_event(event)

    def flush(self) -> int:
        """Hand the collected readings to the sink; commit the accepted counters."""
        if not len(self._rows):
            self.keystore.flush()
            return 0
        meter, end, channel, value, quality, source = self._rows.take()
        batch = make_batch(np.array(meter, np.int64), np.array(end, np.int64),
                           np.array(channel, np.uint16), np.array(value, np.int64),
                           np.array(quality, np.uint16), np.array(source, np.uint8))
        self.sink(batch)
        self.keystore.flush()
        return batch.num_rows

    def _channel(self, meter_id: int, quantity: Quantity, period: Period) -> int:
        key = (self.registry.get(meter_id).unit_exponent, quantity, period)
        code = self._channels.get(key)
        if code is None:
            code = self._channels[key] = channel_code(quantity, period, key[0])
        return code

    def _add_interval(self, meter_id: int, period: int, end: int, imp_reg: int, exp_reg: int,
                      imp_iv: int | None, exp_iv: int | None, quality: int, source: int,
                      how: str) -> None:
        if meter_id in self.delivered.get((period, end), ()):
            self.duplicates += 1  # a late push after a pull, or a second pull
            return
        p = Period.MIN15 if period == 15 else Period.MIN30
        add = self._rows.add
        add(meter_id, end, self._channel(meter_id, Quantity.ACTIVE_IMPORT, Period.REGISTER),
            imp_reg, quality, source)
        add(meter_id, end, self._channel(meter_id, Quantity.ACTIVE_EXPORT, Period.REGISTER),
            exp_reg, quality, source)
        if imp_iv is not None and exp_iv is not None:
            add(meter_id, end, self._channel(meter_id, Quantity.ACTIVE_IMPORT, p), imp_iv,
                quality, source)
            add(meter_id, end, self._channel(meter_id, Quantity.ACTIVE_EXPORT, p), exp_iv,
                quality, source)
            self.delivered[(period, end)][meter_id] = how
        if len(self._rows) >= self.config.flush_rows:
            self.flush()

    # ------------------------------------------------------------------ pushes

    def receive_push(self, datagram: bytes) -> None:
        """One UDP datagram from a meter. Never raises: what cannot be used is recorded."""
        if len(datagram) < 8 or datagram[:2] != b"\x00\x01" or (
                int.from_bytes(datagram[6:8], "big") != len(datagram) - 8):
            self._event(None, "push_garbage", f"{len(datagram)} octets, not a wrapper frame")
            return
        apdu = datagram[8:]
        try:
            ciphered = parse_ciphered(apdu)
            meter_id = meter_id_of(ciphered.system_title or b"")
            if meter_id not in self.registry:
                self._event(meter_id, "push_unknown_meter")
                return
            push = decipher_push(apdu, self.keystore.get(meter_id))
        except (SecurityError, KeyStoreError) as exc:
            self._event(None, "push_rejected", f"{type(exc).__name__}: {exc}")
            return
        except (axdr.AxdrError, ValueError, IndexError) as exc:
            self._event(None, "push_garbage", str(exc))
            return
        if not self.keystore.accept_received(meter_id, push.invocation_counter):
            self._event(meter_id, "push_replayed",
                        f"invocation counter {push.invocation_counter}")
            return
        self.pushes += 1
        now = self.clock.time()
        try:
            interval = fast_interval(push.body)
            if interval is not None:
                self.push_latency.append(now - interval.end)
                self._add_interval(meter_id, interval.period, interval.end,
                                   interval.import_register, interval.export_register,
                                   interval.import_interval, interval.export_interval,
                                   interval.status, Source.PUSH, "push")
                return
            notification = Notification(push.system_title, push.invocation_counter,
                                        push.long_invoke_id, push.time, axdr.decode(push.body))
            setup = axdr.as_octets(axdr.as_structure(notification.body, 3)[0])
            if setup == obis.INTERVAL_PUSH:
                interval = parse_interval_push(notification).interval
                self.push_latency.append(now - interval.end)
                self._add_interval(meter_id, interval.period, interval.end,
                                   interval.import_register, interval.export_register,
                                   interval.import_interval, interval.export_interval,
                                   interval.status, Source.PUSH, "push")
            elif setup == obis.LAST_GASP_PUSH:
                power = parse_last_gasp_push(notification)
                kind = {int(EventKind.LAST_GASP): "outage",
                        int(EventKind.POWER_RESTORED): "restore"}.get(power.event_code,
                                                                      "power_event")
                self._event(meter_id, kind, f"{now - power.time:.1f} s after the meter",
                            meter_time=power.time)
            else:
                self._event(meter_id, "push_unknown_setup", obis.ln_str(setup))
        except (axdr.AxdrError, ValueError) as exc:
            self._event(meter_id, "push_garbage", str(exc))

    async def listen(self, host: str, port: int) -> asyncio.DatagramTransport:
        """Receive pushes on UDP ``host:port`` (port 0: any free port)."""
        headend = self

        class _Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr) -> None:
                headend.receive_push(data)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            _Protocol, local_addr=(host, port))
        sock = transport.get_extra_info("socket")
        # Meters push together at each boundary: give the burst room (capped by the kernel).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PUSH_RECEIVE_BUFFER)
        return transport

    # ------------------------------------------------------------------ sessions

    async def session_with(self, meter_id: int, work,
                           priority: Priority = Priority.SETTLEMENT):
        """Run ``work(session)`` in an association with one meter, one at a time per meter;
        sessions waiting for a place in the throttle go by ``priority``."""
        endpoint = self.registry.get(meter_id)
        async with self._locks[meter_id], self.throttle.slot(meter_id, priority):
            keys = self.keystore.get(meter_id)
            first = self.keystore.begin_session(meter_id)
            session: DlmsSession | None = None
            try:
                try:
                    session = await self._open(endpoint, keys, first)
                except CommandError as refusal:
                    first = await self._resume_counter(endpoint, first, refusal)
                    session = await self._open(endpoint, keys, first)
                result = await work(session)
                await session.release()
                return result
            finally:
                self.keystore.end_session(
                    meter_id, session.next_counter if session else first + 2)
                if session is not None:
                    await session.close()

    async def _open(self, endpoint: Endpoint, keys: MeterKeys, first: int) -> DlmsSession:
        return await open_session(endpoint, keys, self.config.client_title, first,
                                  self.config.session_timeout, self.transport)

    async def _resume_counter(self, endpoint: Endpoint, refused_at: int,
                              refusal: CommandError) -> int:
        """After a refused association: learn the meter's counter on the public association
        and return the counter to retry with. Raises the refusal when the counter was not
        behind (wrong keys, or a meter that does not tell)."""
        meter_id = endpoint.meter_id
        try:
            learned = await learn_counter(endpoint, self.config.client_title,
                                          self.config.session_timeout, self.transport)
        except (CommandError, TransientError):
            learned = -1
        if learned <= refused_at:
            raise refusal
        self.keystore.end_session(meter_id, learned)
        resumed = self.keystore.begin_session(meter_id)
        self._event(meter_id, "counter_learned",
                    f"send counter {refused_at} was behind the meter; resumed at {resumed}")
        return resumed

    async def _pull(self, meter_id: int, period: int, first_end: int, last_end: int,
                    priority: Priority = Priority.SETTLEMENT) -> int:
        """Read intervals ending in [first_end, last_end] (s) from the meter's profile."""
        step = period * 60
        rows = await self.session_with(
            meter_id, lambda s: ops.read_profile(s, period, first_end - step, last_end),
            priority)
        now = self.clock.time()
        added = 0
        for before, row in itertools.pairwise(rows):
            if row.end - before.end != step or row.end < first_end:
                continue
            if period == 5:
                self._add_five_minute(meter_id, before, row)
            else:
                self._add_interval(meter_id, period, row.end, row.imp, row.exp,
                                   (row.imp - before.imp) % REGISTER_MODULUS,
                                   (row.exp - before.exp) % REGISTER_MODULUS,
                                   row.status, Source.PULL, "pull")
                self.pull_latency.append(now - row.end)
            added += 1
        return added

    def _add_five_minute(self, meter_id: int, before: ops.ProfileRow, row: ops.ProfileRow):
        if meter_id in self.delivered.get((5, row.end), ()):
            self.duplicates += 1
            return
        add = self._rows.add
        values = ((Quantity.ACTIVE_IMPORT, (row.imp - before.imp) % REGISTER_MODULUS),
                  (Quantity.ACTIVE_EXPORT, (row.exp - before.exp) % REGISTER_MODULUS),
                  (Quantity.REACTIVE_IMPORT, (row.rea - before.rea) % REGISTER_MODULUS))
        for quantity, value in values:
            add(meter_id, row.end, self._channel(meter_id, quantity, Period.MIN5), value,
                row.status, Source.PULL)
        if row.decivolts is not None:
            add(meter_id, row.end, channel_code(Quantity.VOLTAGE, Period.MIN5), row.decivolts,
                row.status, Source.PULL)
        self.delivered[(5, row.end)][meter_id] = "pull"

    async def _pull_many(self, jobs: list[tuple[int, int, int, int]], what: str,
                         priority: Priority = Priority.SETTLEMENT) -> int:
        async def one(job) -> int:
            meter_id = job[0]
            try:
                return await self._pull(*job, priority)
            except (TransientError, CommandError, KeyStoreError) as exc:
                self._event(meter_id, "pull_failed", f"{what}: {exc}")
                return 0

        counts = await asyncio.gather(*(one(job) for job in jobs))
        self.flush()
        return sum(counts)

    # ------------------------------------------------------------------ collection

    def missing(self, end: int, period: int = 30) -> list[int]:
        """Meters on ``period`` whose interval ending at ``end`` (s) has not arrived."""
        have = self.delivered.get((period, end), {})
        expected = self.expected.setdefault(
            (period, end), {m for m, p in self.soft_switch.items() if p == period})
        return sorted(expected - have.keys())

    async def collect(self, end: int, period: int = 30) -> int:
        """Pull the intervals ending at ``end`` that no push delivered (S1)."""
        self.flush()
        jobs = [(m, period, end, end) for m in self.missing(end, period)]
        return await self._pull_many(jobs, f"interval ending {end}")

    async def fill_gaps(self, start: int, end: int, period: int = 30) -> int:
        """Re-read every interval missing in (start, end] (s), within the meters' retention."""
        self.flush()
        received = [(m, e // 60) for (p, e), who in self.delivered.items() if p == period
                    for m in who]
        meters = np.array([m for m, p in self.soft_switch.items() if p == period], np.int64)
        got = np.array(received, np.int64).reshape(-1, 2)
        gaps = find_gaps(meters, got[:, 0], got[:, 1], start // 60, end // 60, period,
                         int(self.clock.time()) // 60, self.config.retention_minutes[period])
        jobs = []
        for gap in gaps:
            if not gap.recoverable:
                self._event(gap.meter_id, "gap_unrecoverable",
                            f"{gap.count} intervals from {gap.first * 60} are no longer kept")
                continue
            jobs.append((gap.meter_id, period, gap.first * 60, gap.last * 60))
        return await self._pull_many(jobs, "gap fill")

    async def collect_five_minute(self, meter_ids: list[int], start: int, end: int,
                                  priority: Priority = Priority.REALTIME) -> int:
        """5-minute active, reactive and voltage values in (start, end] (s) (S3)."""
        jobs = [(m, 5, start + 300, end) for m in meter_ids]
        return await self._pull_many(jobs, "5-minute group", priority)

    async def read_instantaneous(self, meter_id: int) -> dict[str, float]:
        """Instantaneous values on demand (S2, M5); they also leave as a reading batch."""
        values = await self.session_with(meter_id, ops.read_instantaneous)
        moment = int(self.clock.time())
        add = self._rows.add
        for quantity, value in (
                (Quantity.ACTIVE_POWER, round(values["power_w"])),
                (Quantity.REACTIVE_POWER, round(values["reactive_var"])),
                (Quantity.VOLTAGE, round(values["voltage_v"] * 10)),
                (Quantity.CURRENT_L1, round(values["current_l1_a"] * 10)),
                (Quantity.CURRENT_L2, round(values["current_l2_a"] * 10))):
            add(meter_id, moment, channel_code(quantity, Period.INSTANT), value, 0, Source.PULL)
        return values

    async def run_schedule(self, until: float, since: float | None = None) -> None:
        """Collect on schedule from ``since`` (default now) until ``until`` (POSIX s):

        * each 15- and 30-minute interval, ``push_grace_seconds`` after it closes, from the
          meters on that soft switch whose push did not arrive (S1, S10), and again
          ``pull_backoff_seconds`` apart up to ``pull_rounds`` times while some are missing;
        * the real-time 5-minute group ``realtime_delay_seconds`` after every 5-minute
          boundary (within 10 minutes, S3), whichever meters it holds then (S16);
        * the historical 5-minute group once a day, for the day before (S3).

        The three run side by side; their sessions wait for the throttle's places by
        :class:`Priority`: settlement pulls, then the real-time group, then history.
        """
        first = int(self.clock.time() - self.config.push_grace_seconds if since is None
                    else since)
        next_tick = (first // 300 + 1) * 300
        self._five_minute_done.setdefault("realtime", next_tick - 300)
        await asyncio.gather(self._settlement_rounds(next_tick, until),
                             self._realtime_rounds(next_tick, until))

    async def _at_boundaries(self, first_tick: int, step: int, delay: float, until: float,
                             work: Callable[[int], Any]) -> None:
        """``work(boundary)`` ``delay`` s after every ``step``-s boundary from ``first_tick``
        on, while that moment is within ``until``. When ``work`` returns a coroutine it is
        awaited, and boundaries that passed meanwhile are skipped to the latest one: such
        work (a group read) covers everything since its last run."""
        boundary = (first_tick + step - 1) // step * step
        while boundary + delay <= until:
            await self.clock.sleep(boundary + delay - self.clock.time())
            result = work(boundary)
            boundary += step
            if asyncio.iscoroutine(result):
                await result
                passed = int(self.clock.time() - delay) // step * step
                boundary = max(boundary, min(passed, int(until - delay) // step * step))

    async def _settlement_rounds(self, first_tick: int, until: float) -> None:
        pending: list[asyncio.Task] = []

        def start(boundary: int) -> None:  # a slow boundary must not hold up the next one
            pending[:] = [t for t in pending if not t.done()]
            pending.append(asyncio.ensure_future(self._settle_boundary(boundary, until)))

        try:
            await self._at_boundaries(first_tick, 900, self.config.push_grace_seconds, until,
                                      start)
            await asyncio.gather(*pending)
        finally:
            for task in pending:
                task.cancel()

    async def _settle_boundary(self, boundary: int, until: float) -> None:
        periods = (15, 30) if boundary % 1800 == 0 else (15,)
        for period in periods:
            await self.collect(boundary, period)
        if (boundary + JST_OFFSET_S) % 86400 == 0:  # 00:00 JST: yesterday's history
            await self._collect_group("historical", sorted(self.groups.historical),
                                      boundary, 86400, Priority.HISTORICAL)
        first_pull = boundary + self.config.push_grace_seconds
        for round_ in range(1, self.config.pull_rounds):
            moment = first_pull + round_ * self.config.pull_backoff_seconds
            if moment > until:
                return
            await self.clock.sleep(moment - self.clock.time())
            for period in periods:
                if self.missing(boundary, period):
                    await self.collect(boundary, period)

    async def _realtime_rounds(self, first_tick: int, until: float) -> None:
        await self._at_boundaries(
            first_tick, 300, self.config.realtime_delay_seconds, until,
            lambda boundary: self._collect_group("realtime", sorted(self.groups.realtime),
                                                 boundary, 300, Priority.REALTIME))

    async def _collect_group(self, name: str, meters: list[int], end: int, span: int,
                             priority: Priority) -> None:
        start = self._five_minute_done.get(name, end - span)
        self._five_minute_done[name] = max(end, start)
        if meters and end > start:
            await self.collect_five_minute(meters, start, end, priority)

    # ------------------------------------------------------------------ commands

    async def _execute(self, kind: CommandKind, meter_id: int, params: dict[str, Any]) -> Any:
        if kind is CommandKind.READ_INSTANTANEOUS:
            return await self.read_instantaneous(meter_id)

        async def work(session: DlmsSession) -> Any:
            if kind is CommandKind.SET_LIMIT:
                return await ops.set_limit(session, params["amps"])
            if kind is CommandKind.RESERVE_LIMIT:
                return await ops.reserve_limit(session, params["at"], params["amps"])
            if kind is CommandKind.LIST_RESERVATIONS:
                return await ops.list_reservations(session)
            if kind is CommandKind.CANCEL_RESERVATION:
                return await ops.cancel_reservation(session, params["reservation_id"])
            if kind is CommandKind.DISCONNECT:
                return await ops.disconnect(session)
            if kind is CommandKind.RECONNECT:
                return await ops.reconnect(session)
            if kind is CommandKind.RESET_BREAKER:
                return await ops.reset_breaker(session)
            if kind is CommandKind.SOFT_SWITCH:
                await ops.set_soft_switch(session, params["minutes"])
                self.soft_switch[meter_id] = params["minutes"]
                return None
            if kind is CommandKind.CLOCK_SYNC:
                return {"error_s": await ops.clock_sync(session, int(self.clock.time()))}
            raise CommandError(f"no executor for {kind}")

        return await self.session_with(meter_id, work)

    # ------------------------------------------------------------------ reports

    def collection_report(self, period: int = 30) -> list[dict[str, Any]]:
        """Per interval end: meters expected, delivered by push, by pull, missing.

        Expected are the meters on ``period`` when the interval was collected; meters that
        switched period later may still deliver it, and count as delivered, not as extra.
        """
        current = {m for m, p in self.soft_switch.items() if p == period}
        report = []
        for (p, end), who in sorted(self.delivered.items()):
            if p != period:
                continue
            expected = self.expected.get((p, end), current)
            got = expected & who.keys()
            pushed = sum(1 for m in got if who[m] == "push")
            report.append({"end": end, "expected": len(expected), "push": pushed,
                           "pull": len(got) - pushed, "missing": len(expected) - len(got),
                           "rate": len(got) / len(expected) if expected else 1.0})
        return report

    @staticmethod
    def latency_summary(samples: list[float]) -> dict[str, float]:
        if not samples:
            return {}
        ordered = sorted(samples)
        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        return {"count": len(ordered), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99),
                "max": ordered[-1], "mean": statistics.fmean(ordered)}
