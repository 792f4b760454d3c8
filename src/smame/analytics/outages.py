"""Outage management on meter data (SPEC S8, M6): who lost supply, when, and where in the
grid the fault is.

Evidence of a meter losing supply, strongest first: its Last Gasp alarm, the power-down
record in its own log (read later), and intervals with no energy either way (read later,
after restoration; a lost Last Gasp or a meter with Last Gasp switched off still shows
these). Evidence of restoration: the restore notification, else the first interval with
energy again (restoration inferred from reads, so a lost notification never leaves an
outage open), else an on-demand read that finds voltage.

A meter's off spans are grouped over the topology: when enough meters of one transformer
are off at overlapping times the transformer is out, and when enough transformers of one
feeder are, the feeder is. Times are POSIX seconds; durations minutes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from smame.meter.events import EventKind

__all__ = [
    "Evidence",
    "Incident",
    "Level",
    "OffSpan",
    "OutageRules",
    "Topology",
    "TransformerOutage",
    "by_transformer",
    "confirm_open",
    "locate",
    "off_spans",
    "place",
]


class Evidence(StrEnum):
    LAST_GASP = "last_gasp"
    METER_LOG = "meter_log"
    DEAD_READS = "dead_reads"
    RESTORE_NOTICE = "restore_notice"
    LIVE_READS = "live_reads"
    ON_DEMAND_READ = "on_demand_read"
    PRESUMED = "presumed"
    """A meter with no evidence of its own, behind a transformer or feeder that is out."""


class Level(StrEnum):
    PREMISE = "premise"
    TRANSFORMER = "transformer"
    FEEDER = "feeder"


@dataclass(frozen=True, slots=True)
class OutageRules:
    """The stated rules (docs/analytics.md)."""

    momentary_s: int = 300
    """IEEE 1366: an interruption of at most 5 minutes is momentary (MAIFI), not sustained."""
    same_event_s: int = 120
    """A Last Gasp and a power-down record this close are one loss of supply."""
    transformer_share: float = 0.5
    """A transformer is out when at least this share of its meters (and two) are off at once."""
    feeder_share: float = 0.5
    """A feeder is out when at least this share of its transformers (and two) are out at once."""
    min_dead_run_s: int = 1800
    """Intervals without energy are evidence only over at least this long a run: a quiet home
    reads zero in a 5-minute interval (under 10 Wh is 0 at 0.01 kWh), seldom for 30 minutes."""
    lone_dead_run_s: int = 3600
    """A premise outage seen in its reads alone (no alarm, no log, no neighbour) must be at
    least this long and over; shorter ones are left to confirmation."""


@dataclass(frozen=True, slots=True)
class Topology:
    """Which transformer and feeder every meter hangs on."""

    meter_id: np.ndarray
    transformer: np.ndarray
    feeder: np.ndarray

    @classmethod
    def from_table(cls, table: pa.Table) -> Topology:
        """From columns ``meter_id``, ``transformer``, ``feeder`` (``meters_table(fleet)``)."""
        order = np.argsort(table.column("meter_id").to_numpy())
        return cls(*(table.column(name).to_numpy()[order].astype(np.int64)
                     for name in ("meter_id", "transformer", "feeder")))

    def meters_of_transformer(self, transformer: int) -> np.ndarray:
        return self.meter_id[self.transformer == transformer]

    def transformers_of_feeder(self, feeder: int) -> np.ndarray:
        return np.unique(self.transformer[self.feeder == feeder])

    def knows(self, meter_id: int) -> bool:
        at = int(np.searchsorted(self.meter_id, meter_id))
        return at < self.meter_id.size and int(self.meter_id[at]) == meter_id

    def transformer_of(self, meter_id: int) -> int:
        return int(self.transformer[np.searchsorted(self.meter_id, meter_id)])

    def feeder_of_transformer(self, transformer: int) -> int:
        return int(self.feeder[np.flatnonzero(self.transformer == transformer)[0]])


@dataclass(frozen=True, slots=True)
class OffSpan:
    """One meter without supply from ``start`` to ``end`` (None: not known to be back)."""

    meter_id: int
    start: int
    end: int | None
    start_by: Evidence
    end_by: Evidence | None = None

    def overlaps(self, other: OffSpan) -> bool:
        return self.start <= _end(other) and other.start <= _end(self)


def _end(span: OffSpan) -> float:
    return math.inf if span.end is None else span.end


@dataclass(frozen=True, slots=True)
class Incident:
    """Customers off supply together, located at a premise, transformer or feeder."""

    level: Level
    element: int
    """The meter id, transformer id or feeder id."""
    spans: tuple[OffSpan, ...]
    momentary: bool
    confirmed: bool | None = None
    """After on-demand reads: True, none found voltage (the outage goes on); False, one did
    (restoration confirmed at that read); None, not asked."""

    @property
    def start(self) -> int:
        return min(span.start for span in self.spans)

    @property
    def end(self) -> int | None:
        return _group_end(self.spans)

    @property
    def customers(self) -> int:
        return len({span.meter_id for span in self.spans})

    def customer_minutes(self, now: int | None = None) -> float:
        """Σ over customers of their own time off supply, in minutes; an open span counts
        to ``now`` (0 if ``now`` is None)."""
        total = 0.0
        for span in self.spans:
            end = span.end if span.end is not None else (now if now is not None else span.start)
            total += max(0, end - span.start) / 60
        return total

    @property
    def evidence(self) -> dict[str, int]:
        """How many customers' loss of supply each kind of evidence told (or presumed)."""
        counts: dict[str, int] = {}
        for span in self.spans:
            counts[span.start_by] = counts.get(span.start_by, 0) + 1
        return counts

    @property
    def restored_by(self) -> dict[str, int]:
        """How many customers' restoration each kind of evidence told; ``open``: not yet."""
        counts: dict[str, int] = {}
        for span in self.spans:
            key = "open" if span.end_by is None else str(span.end_by)
            counts[key] = counts.get(key, 0) + 1
        return counts


# ---------------------------------------------------------------- off spans per meter

_DOWN = {int(EventKind.LAST_GASP): Evidence.LAST_GASP,
         int(EventKind.POWER_DOWN): Evidence.METER_LOG}
_OPENS = {int(EventKind.DISCONNECTED), int(EventKind.BREAKER_TRIP),
          int(EventKind.BREAKER_LOCKOUT)}
_CLOSES = {int(EventKind.RECONNECTED), int(EventKind.BREAKER_RECLOSE),
           int(EventKind.BREAKER_RESET)}


def _seconds(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("s", tz="UTC")).cast(pa.int64())
    return column.to_numpy().astype(np.int64)


@dataclass
class _MeterEvidence:
    downs: list[tuple[int, Evidence]] = field(default_factory=list)
    restores: list[int] = field(default_factory=list)
    open_breaker: list[tuple[int, float]] = field(default_factory=list)
    dead: list[tuple[int, int]] = field(default_factory=list)
    live: list[tuple[int, int]] = field(default_factory=list)


def _breaker_spans(times: list[tuple[int, int]]) -> list[tuple[int, float]]:
    """Spans the meter's own switch or breaker was open: zero energy with supply present."""
    spans, opened = [], None
    for time, kind in sorted(times):
        if kind in _OPENS and opened is None:
            opened = time
        elif kind in _CLOSES and opened is not None:
            spans.append((opened, float(time)))
            opened = None
    if opened is not None:
        spans.append((opened, math.inf))
    return spans


def off_spans(events: pa.Table, energy: pa.Table | None = None,
              rules: OutageRules | None = None) -> list[OffSpan]:
    """Every meter's spans without supply (SPEC S8, M6).

    ``events``: meter events (``EVENT_SCHEMA``: meter_id, time, kind, ...). ``energy``:
    interval energy per meter with columns ``meter_id``, ``interval_start``,
    ``interval_end`` (POSIX s or timestamps) and ``energy`` (import plus export in any unit:
    only zero or not matters). An interval with no energy while the meter's own switch or
    breaker is open is not evidence (the supply is there).
    """
    rules = rules or OutageRules()
    evidence: dict[int, _MeterEvidence] = {}
    meters = events.column("meter_id").to_numpy()
    times = _seconds(events.column("time"))
    kinds = events.column("kind").to_numpy()
    switch_events: dict[int, list[tuple[int, int]]] = {}
    for meter, time, kind in zip(meters.tolist(), times.tolist(), kinds.tolist(), strict=True):
        if kind in _DOWN:
            evidence.setdefault(meter, _MeterEvidence()).downs.append((time, _DOWN[kind]))
        elif kind == EventKind.POWER_RESTORED:
            evidence.setdefault(meter, _MeterEvidence()).restores.append(time)
        elif kind in _OPENS or kind in _CLOSES:
            switch_events.setdefault(meter, []).append((time, kind))
    for meter, switch in switch_events.items():
        evidence.setdefault(meter, _MeterEvidence()).open_breaker = _breaker_spans(switch)
    if energy is not None and energy.num_rows:
        _add_reads(evidence, energy)
    spans: list[OffSpan] = []
    for meter in sorted(evidence):
        spans.extend(_meter_spans(meter, evidence[meter], rules))
    return spans


def _add_reads(evidence: dict[int, _MeterEvidence], energy: pa.Table) -> None:
    meter = energy.column("meter_id").to_numpy()
    start = _seconds(energy.column("interval_start"))
    end = _seconds(energy.column("interval_end"))
    dead = energy.column("energy").to_numpy() == 0
    coarse = end - start >= 900  # a finer zero alone is no evidence (see _dead_runs)
    for m in np.unique(meter[dead & coarse]).tolist():
        evidence.setdefault(m, _MeterEvidence())
    # Live intervals matter only for meters that have some evidence of being off.
    wanted = np.isin(meter, np.fromiter(evidence, np.int64, len(evidence)))
    for m, s, e, d in zip(meter[wanted].tolist(), start[wanted].tolist(), end[wanted].tolist(),
                          dead[wanted].tolist(), strict=True):
        target = evidence[m]
        (target.dead if d else target.live).append((s, e))


def _in_open_breaker(evidence: _MeterEvidence, start: int, end: int) -> bool:
    return any(opened <= start and end <= closed for opened, closed in evidence.open_breaker)


def _dead_runs(evidence: _MeterEvidence, min_run_s: int) -> list[tuple[int, int]]:
    """Runs of adjacent dead intervals, at least ``min_run_s`` long. An interval is dead when
    no interval of the meter overlapping it has energy (six 5-minute zeros can sum to one unit
    of a 30-minute value) and the meter's own switch was not open."""
    live = sorted(evidence.live)
    live_starts = [start for start, _ in live]
    runs: list[list[int]] = []
    for start, end in sorted(evidence.dead):
        if _in_open_breaker(evidence, start, end) or _overlaps_live(live, live_starts, start,
                                                                     end):
            continue
        if runs and start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    return [(s, e) for s, e in runs if e - s >= min_run_s]


_LONGEST_INTERVAL_S = 1800


def _overlaps_live(live: list[tuple[int, int]], starts: list[int], start: int,
                   end: int) -> bool:
    """Whether a live interval overlaps [start, end); intervals are at most 30 minutes."""
    first = bisect.bisect_left(starts, start - _LONGEST_INTERVAL_S)
    for live_start, live_end in live[first:]:
        if live_start >= end:
            return False
        if live_end > start:
            return True
    return False


_STRENGTH = {Evidence.LAST_GASP: 0, Evidence.METER_LOG: 1, Evidence.DEAD_READS: 2}


def _strongest(downs: list[tuple[int, Evidence]], index: int,
               same_event_s: int) -> tuple[int, Evidence]:
    """Of the losses of supply within ``same_event_s`` of ``downs[index]``, the one told by
    the strongest evidence (an alarm's time beats an interval boundary)."""
    first = downs[index][0]
    near = [d for d in downs[index:] if d[0] - first <= same_event_s]
    return min(near, key=lambda d: (_STRENGTH[d[1]], d[0]))


def _meter_spans(meter: int, evidence: _MeterEvidence, rules: OutageRules) -> list[OffSpan]:
    runs = _dead_runs(evidence, rules.min_dead_run_s)
    dead = sorted(evidence.dead)
    downs = sorted(evidence.downs + [(start, Evidence.DEAD_READS) for start, _ in runs])
    restores = sorted(evidence.restores)
    live = sorted(evidence.live)
    spans: list[OffSpan] = []
    index = 0
    while index < len(downs):
        start, start_by = _strongest(downs, index, rules.same_event_s)
        end, end_by = _restoration(start, restores, live, dead)
        spans.append(OffSpan(meter, start, end, start_by, end_by))
        if end is None:
            break
        index += 1
        while index < len(downs) and (downs[index][0] < end or
                                      downs[index][0] - start <= rules.same_event_s):
            index += 1
    return spans


def _restoration(start: int, restores: list[int], live: list[tuple[int, int]],
                 dead: list[tuple[int, int]]) -> tuple[int | None, Evidence | None]:
    """When supply came back after ``start``: the restore notification, unless an interval
    with energy ended before it (the notice is then another outage's); else the start of the
    first interval with energy, moved past the finer intervals without energy that follow on
    from its start (a 5-minute channel places it within the 30 minutes); else unknown."""
    notice = next((t for t in restores if t >= start), None)
    first = next(((s, e) for s, e in live if s >= start), None)
    if notice is not None and (first is None or notice <= first[1]):
        return notice, Evidence.RESTORE_NOTICE
    if first is None:
        return None, None
    back = first[0]
    for dead_start, dead_end in dead:
        if dead_start <= back < dead_end and dead_end <= first[1]:
            back = dead_end
    return back, Evidence.LIVE_READS


# ---------------------------------------------------------------- incidents


def _overlap_groups(spans: Sequence[OffSpan]) -> list[list[OffSpan]]:
    """Spans in groups that overlap in time (transitively), by start."""
    groups: list[list[OffSpan]] = []
    reach = -math.inf
    for span in sorted(spans, key=lambda s: (s.start, s.meter_id)):
        if groups and span.start <= reach:
            groups[-1].append(span)
            reach = max(reach, _end(span))
        else:
            groups.append([span])
            reach = _end(span)
    return groups


def _enough(count: int, of: int, share: float) -> bool:
    return count >= 2 and count >= share * of


def _is_momentary(spans: Sequence[OffSpan], rules: OutageRules) -> bool:
    return all(s.end is not None and s.end - s.start <= rules.momentary_s for s in spans)


def _presumed(group: list[OffSpan], meters: np.ndarray) -> list[OffSpan]:
    """Every meter of an element that is out, those without evidence of their own taking the
    element's start and end."""
    have = {span.meter_id for span in group}
    start = min(span.start for span in group)
    end = _group_end(group)
    extra = [OffSpan(int(m), start, end, Evidence.PRESUMED,
                     None if end is None else Evidence.PRESUMED)
             for m in meters.tolist() if m not in have]
    return group + extra


def _lone_reads_too_short(group: list[OffSpan], rules: OutageRules) -> bool:
    return all(s.start_by is Evidence.DEAD_READS and
               (s.end is None or s.end - s.start < rules.lone_dead_run_s) for s in group)


def locate(spans: Sequence[OffSpan], topology: Topology,
           rules: OutageRules | None = None) -> list[Incident]:
    """Group off spans into incidents at the premise, transformer or feeder (SPEC S8).

    A transformer is out when at least ``transformer_share`` of its meters, and at least
    two, are off at overlapping times; its other meters are presumed off with it. A feeder
    is out likewise when enough of its transformers are. Spans of a meter no longer on the
    topology are premise incidents."""
    rules = rules or OutageRules()
    by_transformer: dict[int, list[OffSpan]] = {}
    premises: list[list[OffSpan]] = []
    known = set(topology.meter_id.tolist())
    for span in spans:
        if span.meter_id in known:
            by_transformer.setdefault(topology.transformer_of(span.meter_id), []).append(span)
        else:
            premises.append([span])
    transformer_groups: list[tuple[int, list[OffSpan]]] = []
    for transformer, members in sorted(by_transformer.items()):
        meters = topology.meters_of_transformer(transformer)
        for group in _overlap_groups(members):
            if _enough(len({s.meter_id for s in group}), len(meters), rules.transformer_share):
                transformer_groups.append((transformer, _presumed(group, meters)))
            else:
                premises.extend([span] for span in group)
    incidents = [Incident(Level.PREMISE, group[0].meter_id, tuple(group),
                          _is_momentary(group, rules)) for group in premises
                 if not _lone_reads_too_short(group, rules)]
    incidents += _feeders(transformer_groups, topology, rules)
    return sorted(incidents, key=lambda i: (i.start, i.level, i.element))


def _feeders(transformer_groups: list[tuple[int, list[OffSpan]]], topology: Topology,
             rules: OutageRules) -> list[Incident]:
    by_feeder: dict[int, list[tuple[int, list[OffSpan]]]] = {}
    for transformer, group in transformer_groups:
        by_feeder.setdefault(topology.feeder_of_transformer(transformer), []).append(
            (transformer, group))
    incidents: list[Incident] = []
    for feeder, groups in sorted(by_feeder.items()):
        transformers = topology.transformers_of_feeder(feeder)
        # Transformer outages that overlap in time are candidates for one feeder outage; a
        # transformer may be out more than once a day, so each outage keeps its own index.
        windows = _overlap_groups([OffSpan(k, min(s.start for s in g), _group_end(g),
                                           Evidence.PRESUMED) for k, (_, g) in enumerate(groups)])
        for window in windows:
            members_of = [groups[w.meter_id] for w in window]  # (transformer, spans)
            out = {t for t, _ in members_of}
            if _enough(len(out), len(transformers), rules.feeder_share):
                members = [s for _, g in members_of for s in g]
                for t in transformers.tolist():
                    if t not in out:
                        members = _presumed(members, topology.meters_of_transformer(t))
                incidents.append(Incident(Level.FEEDER, feeder, tuple(members),
                                          _is_momentary(members, rules)))
            else:
                incidents += [Incident(Level.TRANSFORMER, t, tuple(g), _is_momentary(g, rules))
                              for t, g in members_of]
    return incidents


def _group_end(group: Sequence[OffSpan]) -> int | None:
    """When the last of ``group`` came back; None while any is still off."""
    ends = [span.end for span in group]
    return None if any(e is None for e in ends) else max(ends)  # type: ignore[type-var]


# ---------------------------------------------------------------- where incidents are


def place(incident: Incident, topology: Topology) -> tuple[int | None, int | None]:
    """The transformer and feeder an incident is at: a feeder incident has no one
    transformer; a premise no longer on the topology has neither."""
    if incident.level is Level.FEEDER:
        return None, incident.element
    if incident.level is Level.TRANSFORMER:
        return incident.element, topology.feeder_of_transformer(incident.element)
    if not topology.knows(incident.element):
        return None, None
    transformer = topology.transformer_of(incident.element)
    return transformer, topology.feeder_of_transformer(transformer)


@dataclass(frozen=True, slots=True)
class TransformerOutage:
    """One transformer's share of an incident: the incidents seen per transformer."""

    transformer: int
    feeder: int
    level: Level
    """The level of the incident it is part of."""
    start: int
    end: int | None
    customers: int
    """Meters on the transformer."""
    meter_ids: tuple[int, ...]
    """Its meters off supply in the incident, by their own evidence or presumed."""
    last_gasp: int
    """Of those, the meters whose Last Gasp told it."""
    momentary: bool


def by_transformer(incidents: Sequence[Incident], topology: Topology) -> list[TransformerOutage]:
    """Every incident split by the transformers its customers hang on, by start: a feeder
    incident is one row per transformer, a premise one row of one meter. Spans of meters no
    longer on the topology are left out."""
    rows: list[TransformerOutage] = []
    for incident in incidents:
        parts: dict[int, list[OffSpan]] = {}
        for span in incident.spans:
            if topology.knows(span.meter_id):
                parts.setdefault(topology.transformer_of(span.meter_id), []).append(span)
        for transformer, spans in parts.items():
            gasps = {s.meter_id for s in spans if s.start_by is Evidence.LAST_GASP}
            rows.append(TransformerOutage(
                transformer, topology.feeder_of_transformer(transformer), incident.level,
                min(s.start for s in spans), _group_end(spans),
                int(topology.meters_of_transformer(transformer).size),
                tuple(sorted({s.meter_id for s in spans})), len(gasps), incident.momentary))
    return sorted(rows, key=lambda r: (r.start, r.transformer))


# ---------------------------------------------------------------- confirmation

Ask = Callable[[Sequence[int]], Awaitable[Mapping[int, bool]]]
"""Reads meters on demand through the HES; True where the meter answered with voltage."""


async def confirm_open(incidents: Sequence[Incident], ask: Ask, now: int,
                       sample: int = 3) -> list[Incident]:
    """Confirm incidents not known to be over by reading up to ``sample`` of their meters on
    demand (SPEC S8): if one answers with voltage, supply is back and the incident ends at
    ``now``; if none does, the outage is confirmed. Ended incidents are returned as they are.
    One request carries every sampled meter, so the HES throttles them together."""
    open_ones = [i for i in incidents if i.end is None]
    sampled = {id(i): [s.meter_id for s in i.spans if s.end is None][:sample]
               for i in open_ones}
    wanted = sorted({m for meters in sampled.values() for m in meters})
    answers = await ask(wanted) if wanted else {}
    confirmed: list[Incident] = []
    for incident in incidents:
        if incident.end is not None:
            confirmed.append(incident)
            continue
        if any(answers.get(m, False) for m in sampled[id(incident)]):
            spans = tuple(s if s.end is not None else replace(
                s, end=now, end_by=Evidence.ON_DEMAND_READ) for s in incident.spans)
            confirmed.append(replace(incident, spans=spans, confirmed=False))
        else:
            confirmed.append(replace(incident, confirmed=True))
    return confirmed
