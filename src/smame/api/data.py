"""What the API reads, and from where: the MDMS, its registry, and a live head-end
(SPEC S1–S4, S7, S8, S12, S13).

:class:`DataService` is the one object the routes ask for data. It never decides who may
see what (that is :mod:`smame.api.policy`); it answers "this meter's values of this
channel in this range", "the events of these meters", "the settlement of this day", fast
where it can (:mod:`smame.api.readcache`) and from the MDMS otherwise. Calls that may
block say so; the routes run them in worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from smame.analytics.grid import DayOutages, span_outages
from smame.analytics.outages import TransformerOutage, by_transformer
from smame.api.readcache import (
    FAMILIES,
    DayBlock,
    ReadCache,
    family_codes,
    retail_block,
    settlement_day,
)
from smame.api.registry_view import MeterInfo, RegistryView
from smame.api.series import (
    Series,
    empty_series,
    five_minute_registers,
    retail_intervals,
    retail_registers,
)
from smame.clock import Clock
from smame.mdms import Mdms
from smame.mdms.collection import day_figures, due_slots, slot_arrivals
from smame.meter.events import EventKind
from smame.readings import Period, Quality, Quantity, Source, channel_code
from smame.store.layout import IMD, day_start
from smame.store.measurements import ts_seconds

__all__ = ["EVENT_CATEGORIES", "DataService", "event_category"]

_PERIODS = {5: Period.MIN5, 15: Period.MIN15, 30: Period.MIN30}
_HES_KINDS = {"outage": int(EventKind.LAST_GASP), "restore": int(EventKind.POWER_RESTORED)}

EVENT_CATEGORIES: dict[str, str] = {
    "breaker_trip": "breaker", "breaker_reclose": "breaker", "breaker_lockout": "breaker",
    "breaker_reset": "breaker", "limit_changed": "limit", "reservation_set": "limit",
    "reservation_executed": "limit", "reservation_cancelled": "limit",
    "disconnected": "switch", "reconnected": "switch", "power_down": "outage",
    "last_gasp": "outage", "power_restored": "restore", "soft_switch_changed": "config",
    "last_gasp_setting_changed": "config", "clock_set": "config",
    "security_replay_rejected": "security", "security_auth_failed": "security",
    "push_rejected": "security", "push_replayed": "security",
    "push_unknown_meter": "security", "push_garbage": "collection",
    "pull_failed": "collection", "gap_unrecoverable": "collection",
    "push_unknown_setup": "collection", "power_event": "outage",
}
"""Event name → category: outage, restore, breaker, limit, switch, config, security,
collection."""


_SAME_SECOND_ORDER = {"breaker_trip": -1, "breaker_lockout": 1}
"""Events of one second in the order they happen at the meter (the store sorts by name)."""


def event_category(name: str) -> str:
    return EVENT_CATEGORIES.get(name, "other")


@dataclass(frozen=True)
class Event:
    meter_id: int
    time: int  # when it happened at the meter (POSIX s)
    name: str
    value: int = 0
    reference: int = 0
    source: str = "meter"  # meter: the meter's event log via the MDMS; hes: seen live
    received: float | None = None  # when the head-end received it (live events)

    @property
    def category(self) -> str:
        return event_category(self.name)


class DataService:
    """Reads for the API. ``headend`` is the live head-end, if the API runs beside one."""

    def __init__(self, mdms: Mdms, clock: Clock, cache_blocks: int = 16, headend=None,
                 registry_refresh_s: float = 300.0) -> None:
        self.mdms = mdms
        self.registry_refresh_s = registry_refresh_s
        self._registry_loaded = time.monotonic()
        self.clock = clock
        self.headend = headend
        self._registry_lock = threading.Lock()
        self._mdms_lock = threading.Lock()
        self.view = self._load_view()
        self.cache = ReadCache(self._load_block, cache_blocks)
        self._retail: dict[tuple, tuple[DayBlock, DayBlock]] = {}
        self.seen = mdms.last_version()
        self._memo: dict[tuple, tuple[int, Any]] = {}

    # ------------------------------------------------------------------ freshness

    def _load_view(self) -> RegistryView:
        with self._registry_lock:
            return RegistryView.load(self.mdms.registry)

    def reload_registry(self) -> None:
        """Take a new registry snapshot (after meters, contracts or joint meters changed)."""
        self.view = self._load_view()
        self._registry_loaded = time.monotonic()

    def refresh(self) -> int:
        """Catch the read model up with the MDMS (blocking); returns the version seen.

        The registry snapshot is retaken every ``registry_refresh_s`` seconds (registry
        changes carry no version number to follow)."""
        if time.monotonic() - self._registry_loaded > self.registry_refresh_s:
            self.reload_registry()
        latest = self.mdms.last_version()
        if latest > self.seen:
            self.cache.catch_up(latest, lambda since, codes: self.mdms.changes_since(
                since, codes))
            self.seen = latest
        return latest

    def _load_block(self, day: date, family) -> tuple[int, pa.Table]:
        seen = self.mdms.last_version()
        start = day_start(day)
        lo = start if family[1] is Period.REGISTER else start + 1
        table = self.mdms.readings(None, lo, start + 86400, family_codes(family))
        return seen, table

    def _memoised(self, key: tuple, compute):
        version = self.seen
        hit = self._memo.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute()
        if len(self._memo) > 256:
            self._memo.clear()
        self._memo[key] = (version, value)
        return value

    # ------------------------------------------------------------------ channels

    @staticmethod
    def channel(meter: MeterInfo, quantity: Quantity, period: Period) -> int:
        if quantity in (Quantity.VOLTAGE, Quantity.ACTIVE_POWER, Quantity.REACTIVE_POWER,
                        Quantity.CURRENT_L1, Quantity.CURRENT_L2, Quantity.GAS_VOLUME,
                        Quantity.WATER_VOLUME):
            return channel_code(quantity, period)
        return channel_code(quantity, period, meter.unit_exponent)

    # ------------------------------------------------------------------ stored values

    @staticmethod
    def _days(lo: int, hi: int, register: bool) -> list[date]:
        first = settlement_day(lo if register else lo + 1)
        last = settlement_day(hi)
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    def _from_blocks(self, meter: MeterInfo, family, lo: int, hi: int, load: bool
                     ) -> Series | None:
        register = family[1] is Period.REGISTER
        if hi < lo:
            return empty_series(self.channel(meter, *family))
        days = self._days(lo, hi, register)
        if len(days) > 2:
            return None
        parts = []
        for day in days:
            block = self.cache.load(day, family) if load else self.cache.get(day, family)
            if block is None:
                return None
            part = block.series(meter.meter_id, lo, hi)
            if part is not None and len(part):
                parts.append(part)
        code = self.channel(meter, *family)
        if not parts:
            return empty_series(code)
        if len(parts) == 1:
            return parts[0]
        t = np.concatenate([p.t for p in parts])
        first = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
        return Series(parts[0].channel, t[first],
                      np.concatenate([p.value for p in parts])[first],
                      np.concatenate([p.quality for p in parts])[first],
                      np.concatenate([p.version for p in parts])[first])

    def values(self, meter: MeterInfo, quantity: Quantity, period: Period, lo: int, hi: int,
               history: bool = False, load: bool = True) -> Series | None:
        """Stored values of one meter's channel: interval ends in ``(lo, hi]``, register
        and instantaneous readings in ``[lo, hi]``. With ``history`` every version of each
        value, superseded ones included. With ``load=False`` only what is in memory (None
        when the MDMS would have to be asked)."""
        family = (quantity, period)
        interval = period.minutes > 0
        if not history and family in FAMILIES:
            series = self._from_blocks(meter, family, lo, hi, load)
            if series is not None or not load:
                return series
        elif not load:
            return None
        code = self.channel(meter, quantity, period)
        table = self.mdms.readings(meter.meter_id, lo + 1 if interval else lo, hi, [code],
                                   current=not history)
        return _series(table, code)

    def _retail_day(self, meter: MeterInfo, quantity: Quantity, lo: int, load: bool
                    ) -> Series | None:
        """A whole day's 6-digit 30-minute values from the day's derived retail block."""
        day = settlement_day(lo + 1)
        family = (quantity, Period.REGISTER)
        block = self.cache.load(day, family) if load else self.cache.get(day, family)
        if block is None:
            return None
        held = self._retail.get((day, quantity))
        if held is None or held[0] is not block:
            held = (block, retail_block(block))
            if len(self._retail) > 64:
                self._retail.clear()
            self._retail[(day, quantity)] = held
        series = held[1].series(meter.meter_id, lo + 1, lo + 86400)
        return series if series is not None else empty_series(
            self.channel(meter, quantity, Period.MIN30), 6)

    def retail_values(self, meter: MeterInfo, quantity: Quantity, period: Period, lo: int,
                      hi: int, load: bool = True) -> Series | None:
        """6-digit retail values (S4): registers in ``[lo, hi]`` or intervals ending in
        ``(lo, hi]``, derived from the stored 8-digit registers."""
        if period is Period.MIN30 and hi - lo == 86400 and lo == day_start(settlement_day(lo + 1)):
            return self._retail_day(meter, quantity, lo, load)
        registers = self.values(meter, quantity, Period.REGISTER, _floor(lo, 1800), hi,
                                load=load)
        if registers is None:
            return None
        if period is Period.REGISTER:
            keep = np.flatnonzero((registers.t >= lo) & (registers.t <= hi))
            return retail_registers(registers.take(keep))
        interval_code = self.channel(meter, quantity, period)
        if period is Period.MIN5:
            fives = self.values(meter, quantity, Period.MIN5, _floor(lo, 1800), hi, load=load)
            if fives is None:
                return None
            registers = five_minute_registers(registers, fives)
        return retail_intervals(registers, interval_code, period.minutes * 60, lo, hi)

    # ------------------------------------------------------------------ events

    def events(self, meter_ids: Sequence[int] | None, lo: int | None, hi: int | None
               ) -> list[Event]:
        """Meter events from the MDMS and, live, the head-end's events; time-ordered."""
        table = self.mdms.events(meter_ids, lo, hi)
        found: dict[tuple[int, str, int], Event] = {}
        for meter, t, kind, value, ref in zip(*(table.column(n).to_pylist() for n in (
                "meter_id", "time", "kind", "value", "reference")), strict=True):
            try:
                name = EventKind(kind).name.lower()
            except ValueError:
                name = f"kind_{kind}"
            found[(meter, name, t)] = Event(meter, t, name, value, ref)
        wanted = None if meter_ids is None else set(meter_ids)
        for event in list(getattr(self.headend, "events", ()) or ()):
            if event.meter_id is None or (wanted is not None and event.meter_id not in wanted):
                continue
            moment = int(event.meter_time if event.meter_time is not None else event.time)
            if (lo is not None and moment < lo) or (hi is not None and moment > hi):
                continue
            name = {"outage": "last_gasp", "restore": "power_restored"}.get(event.kind,
                                                                           event.kind)
            key = (event.meter_id, name, moment)
            if key in found:
                found[key] = Event(**{**found[key].__dict__, "received": event.time})
            else:
                found[key] = Event(event.meter_id, moment, name, source="hes",
                                   received=event.time)
        return sorted(found.values(), key=lambda e: (e.time, e.meter_id, e.name))

    def meter_state(self, meter: MeterInfo, now: int) -> dict[str, Any]:
        """Breaker, switch, supply and limit of a meter as its events tell them."""
        sp = self.view.service_points.get(meter.sp_id or "")
        state: dict[str, Any] = {"breaker": "closed", "switch": "closed", "supply": "on",
                                 "limit_a": sp.contract_amps if sp else None,
                                 "soft_switch_minutes": 30, "as_of": now}
        # A trip and the lockout it causes share a second: the trip comes first
        in_order = sorted(self.events([meter.meter_id], None, now),
                          key=lambda e: (e.time, _SAME_SECOND_ORDER.get(e.name, 0)))
        for event in in_order:
            name = event.name
            if name == "breaker_trip":
                state["breaker"] = "tripped"
            elif name == "breaker_lockout":
                state["breaker"] = "locked_out"
            elif name in ("breaker_reclose", "breaker_reset"):
                state["breaker"] = "closed"
            elif name == "disconnected":
                state["switch"] = "open"
            elif name == "reconnected":
                state["switch"] = "closed"
            elif name in ("power_down", "last_gasp"):
                state["supply"] = "off"
            elif name == "power_restored":
                state["supply"] = "on"
            elif name in ("limit_changed", "reservation_executed"):
                state["limit_a"] = event.value
            elif name == "soft_switch_changed":
                state["soft_switch_minutes"] = event.value
        return state

    # ------------------------------------------------------------------ reports

    def settlement(self, day: date, minutes: int = 30):
        def compute():
            with self._registry_lock:
                return self.mdms.settle(day, minutes)
        return self._memoised(("settle", day, minutes), compute)

    def joint(self, company_id: str, lo: int, hi: int) -> pa.Table:
        with self._registry_lock:
            return self.mdms.joint_readings(company_id, lo, hi)

    def differential(self, meter_id: int, lo: int, hi: int) -> pa.Table:
        with self._registry_lock:
            return self.mdms.differential(lo, hi, [meter_id])

    def collection(self, day: date) -> dict[str, Any]:
        """Collection per 30-minute slot of ``day`` (S1): expected, on time (within 60
        minutes of the slot's end), late, awaited, not collected, estimated; the one
        definition is :mod:`smame.mdms.collection`."""
        now = self.clock.time()
        key = ("collection", day, due_slots(day_start(day), now),
               min(48, max(0, int(now - day_start(day)) // 1800)))
        return self._memoised(key, lambda: self._collection(day, now))

    def expected_meters(self, day: date) -> np.ndarray:
        """Meters whose 30-minute values of ``day`` are due (S1): communicating, installed
        by then, not opted out; sorted."""
        view = self.view
        return np.array(sorted(
            m.meter_id for m in view.meters.values() if m.communicating
            and (m.installed is None or m.installed <= day)
            and not view.service_points.get(m.sp_id or "", _NO_SP).opted_out), np.int64)

    def _collection(self, day: date, now: float) -> dict[str, Any]:
        start = day_start(day)
        expected_ids = self.expected_meters(day)
        periods = {code: (1800 if period is Period.MIN30 else 900)
                   for period in (Period.MIN30, Period.MIN15)
                   for code in family_codes((Quantity.ACTIVE_IMPORT, period))}
        raw = self.mdms.readings(None, start + 1, start + 86400, sorted(periods),
                                 current=False, kind=IMD)
        meter = raw.column("meter_id").to_numpy()
        t = ts_seconds(raw.column("interval_end"))
        version = raw.column("version").to_numpy()
        channel = raw.column("channel").to_numpy()
        source = raw.column("source").to_numpy()
        keep = ~np.isin(source, [int(Source.ESTIMATION), int(Source.MANUAL)]) & np.isin(
            meter, expected_ids)
        meter, t, version, channel = meter[keep], t[keep], version[keep], channel[keep]
        order = np.lexsort((version, t, meter))
        meter, t, version, channel = meter[order], t[order], version[order], channel[order]
        first = np.r_[True, (meter[1:] != meter[:-1]) | (t[1:] != t[:-1])] if meter.size else (
            np.zeros(0, np.bool_))
        meter, t, version, channel = meter[first], t[first], version[first], channel[first]
        times = self.mdms.version_times(version)
        arrived = np.array([times.get(int(v), np.inf) for v in version.tolist()], np.float64)
        period = np.array([periods[int(c)] for c in channel.tolist()], np.int64)
        _, slot_end, slot_arrived = slot_arrivals(meter, t, period, arrived)
        current = self.mdms.readings(None, start + 1, start + 86400,
                                     family_codes((Quantity.ACTIVE_IMPORT, Period.MIN30)))
        estimated_t = ts_seconds(current.column("interval_end"))[
            (current.column("quality").to_numpy() & int(Quality.ESTIMATED)) > 0]
        figures = day_figures(int(expected_ids.size), slot_end, slot_arrived, start, now,
                              estimated_t)
        return {"date": day.isoformat(), **figures}

    def grid_outages(self, lo: int, hi: int) -> DayOutages:
        """Incidents located in ``[lo, hi]`` with their IEEE 1366 indices (S8): the one
        computation, :func:`smame.analytics.grid.span_outages`, for each MDMS version."""
        def compute():
            with self._registry_lock:
                return span_outages(self.mdms, lo, hi)
        return self._memoised(("outages", lo, hi), compute)

    def outages(self, lo: int, hi: int) -> list[TransformerOutage]:
        """The incidents of :meth:`grid_outages` per transformer they reach (S8)."""
        located = self.grid_outages(lo, hi)
        return by_transformer(located.incidents, located.topology)


class _NoSp:
    opted_out = False


_NO_SP = _NoSp()


def _floor(t: int, step: int) -> int:
    return t - t % step


def _series(table: pa.Table, code: int) -> Series:
    if not table.num_rows:
        return empty_series(code)
    return Series(code, ts_seconds(table.column("interval_end")),
                  table.column("value").to_numpy().astype(np.int64),
                  table.column("quality").to_numpy().astype(np.uint16),
                  table.column("version").to_numpy().astype(np.int64))


def period_of(minutes: int) -> Period:
    return _PERIODS[minutes]
