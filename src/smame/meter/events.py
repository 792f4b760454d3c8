"""Typed meter events: every state change of a meter, with its time (SPEC M6–M8)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pyarrow as pa

__all__ = ["EVENT_SCHEMA", "EventKind", "EventLog", "MeterEvent", "events_table"]


class EventKind(IntEnum):
    """What happened. Codes are stable: they travel in event batches and logs."""

    BREAKER_TRIP = 1
    BREAKER_RECLOSE = 2
    BREAKER_LOCKOUT = 3
    BREAKER_RESET = 4
    LIMIT_CHANGED = 10
    RESERVATION_SET = 11
    RESERVATION_EXECUTED = 12
    RESERVATION_CANCELLED = 13
    DISCONNECTED = 20
    RECONNECTED = 21
    POWER_DOWN = 30  # supply lost (logged by every meter)
    LAST_GASP = 31  # the alarm sent on supply loss (M6)
    POWER_RESTORED = 32
    SOFT_SWITCH_CHANGED = 40
    LAST_GASP_SETTING_CHANGED = 41
    CLOCK_SET = 42
    SECURITY_REPLAY_REJECTED = 50  # an authentic APDU with a stale invocation counter (S14)
    SECURITY_AUTH_FAILED = 51  # an APDU or HLS proof that failed authentication (S14)


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """One event. ``time`` is POSIX seconds (UTC); ``value`` and ``reference`` depend on kind:
    amps for limits, the reservation id for reservations, the trip count for lockouts."""

    meter_id: int
    time: int
    kind: EventKind
    value: int = 0
    reference: int = 0


EVENT_SCHEMA = pa.schema(
    [
        pa.field("meter_id", pa.int64(), nullable=False),
        pa.field("time", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("kind", pa.uint8(), nullable=False),
        pa.field("value", pa.int64(), nullable=False),
        pa.field("reference", pa.int64(), nullable=False),
    ],
    metadata={b"smame.schema": b"meter-events/1"},
)


def events_table(events: Iterable[MeterEvent]) -> pa.Table:
    """Events as an Arrow table of :data:`EVENT_SCHEMA`, in the given order."""
    rows = list(events)
    columns = [
        np.fromiter((e.meter_id for e in rows), np.int64, len(rows)),
        np.fromiter((e.time for e in rows), np.int64, len(rows)),
        np.fromiter((int(e.kind) for e in rows), np.uint8, len(rows)),
        np.fromiter((e.value for e in rows), np.int64, len(rows)),
        np.fromiter((e.reference for e in rows), np.int64, len(rows)),
    ]
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, EVENT_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


class EventLog:
    """Events of a fleet: an outbox that sinks drain, and each meter's own bounded log.

    The per-meter log plays the meter's event-log memory: it keeps the newest
    ``per_meter`` events of each meter.
    """

    def __init__(self, per_meter: int = 256) -> None:
        self.per_meter = per_meter
        self._outbox: list[MeterEvent] = []
        self._by_meter: dict[int, deque[MeterEvent]] = {}

    def add(self, event: MeterEvent) -> None:
        self._outbox.append(event)
        log = self._by_meter.get(event.meter_id)
        if log is None:
            log = self._by_meter[event.meter_id] = deque(maxlen=self.per_meter)
        log.append(event)

    def drain(self) -> list[MeterEvent]:
        """Events since the last drain, in order of occurrence."""
        events, self._outbox = self._outbox, []
        events.sort(key=lambda e: e.time)
        return events

    def of_meter(self, meter_id: int, since: int | None = None) -> list[MeterEvent]:
        """A meter's logged events, oldest first, optionally only those at or after ``since``."""
        log = self._by_meter.get(meter_id, ())
        return [e for e in log if since is None or e.time >= since]
