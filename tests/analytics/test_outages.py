"""Outage location on scripted topologies (SPEC S8, M6) and IEEE 1366 indices."""

from __future__ import annotations

import asyncio

import numpy as np
import pyarrow as pa
import pytest

from smame.analytics.outages import (
    Evidence,
    Level,
    OutageRules,
    Topology,
    by_transformer,
    confirm_open,
    locate,
    off_spans,
    place,
)
from smame.analytics.reliability import reliability, reliability_by_feeder
from smame.meter.events import EventKind, MeterEvent, events_table

T = 1_782_864_000  # 2026-07-01 10:00 JST
FEEDERS = {1: (10, 11, 12), 2: (20, 21)}


def _topology() -> Topology:
    rows = [(t * 10 + k, t, f) for f, ts in FEEDERS.items() for t in ts for k in range(4)]
    meter, transformer, feeder = (np.array(c) for c in zip(*rows, strict=True))
    return Topology.from_table(pa.table({"meter_id": meter, "transformer": transformer,
                                         "feeder": feeder}))


def _events(*items: tuple[int, int, EventKind]) -> pa.Table:
    return events_table(MeterEvent(m, t, k) for m, t, k in items)


def _energy(rows: list[tuple[int, int, int, int]]) -> pa.Table:
    meter, start, end, energy = (np.array(c, np.int64) for c in zip(*rows, strict=True))
    return pa.table({"meter_id": meter, "interval_start": start, "interval_end": end,
                     "energy": energy})


def _half_hours(meter: int, first: int, count: int, dead: set[int]) -> list:
    return [(meter, first + 1800 * i, first + 1800 * (i + 1), 0 if i in dead else 120)
            for i in range(count)]


def test_one_meter_is_a_premise_outage() -> None:
    spans = off_spans(_events((100, T, EventKind.LAST_GASP),
                              (100, T + 3600, EventKind.POWER_RESTORED)))
    [incident] = locate(spans, _topology())
    assert (incident.level, incident.element, incident.customers) == (Level.PREMISE, 100, 1)
    assert incident.customer_minutes() == 60
    assert not incident.momentary


def test_a_transformer_outage_includes_the_meter_with_last_gasp_off() -> None:
    items = [(m, T + j, EventKind.LAST_GASP) for j, m in enumerate((110, 111, 112))]
    items += [(m, T + 2400, EventKind.POWER_RESTORED) for m in (110, 111, 112)]
    [incident] = locate(off_spans(_events(*items)), _topology())
    assert (incident.level, incident.element, incident.customers) == (Level.TRANSFORMER, 11, 4)
    assert incident.evidence == {Evidence.LAST_GASP: 3, Evidence.PRESUMED: 1}
    assert (incident.start, incident.end) == (T, T + 2400)
    assert incident.customer_minutes() == pytest.approx(3 * (40 - 1 / 60) + 40, abs=0.05)


def test_a_feeder_outage_takes_every_transformer_on_it() -> None:
    items = [(m, T, EventKind.LAST_GASP) for m in (100, 101, 110, 111, 120, 121)]
    items += [(m, T + 1800, EventKind.POWER_RESTORED) for m in (100, 101, 110, 111, 120, 121)]
    [incident] = locate(off_spans(_events(*items)), _topology())
    assert (incident.level, incident.element, incident.customers) == (Level.FEEDER, 1, 12)
    assert incident.customer_minutes() == 12 * 30


def test_two_transformers_of_three_out_at_different_times_are_two_incidents() -> None:
    items = [(m, T, EventKind.LAST_GASP) for m in (100, 101)]
    items += [(m, T + 600, EventKind.POWER_RESTORED) for m in (100, 101)]
    items += [(m, T + 7200, EventKind.LAST_GASP) for m in (200, 201)]
    items += [(m, T + 9000, EventKind.POWER_RESTORED) for m in (200, 201)]
    incidents = locate(off_spans(_events(*items)), _topology())
    assert [(i.level, i.element) for i in incidents] == [
        (Level.TRANSFORMER, 10), (Level.TRANSFORMER, 20)]


def test_a_lost_restore_notification_ends_at_the_first_interval_with_energy() -> None:
    events = _events((100, T + 300, EventKind.LAST_GASP))
    energy = _energy(_half_hours(100, T, 4, dead={1, 2}))  # dead 10:30–11:30, back 11:30
    [span] = off_spans(events, energy)
    assert (span.start, span.end, span.end_by) == (T + 300, T + 5400, Evidence.LIVE_READS)


def test_finer_intervals_place_the_inferred_restoration_more_closely() -> None:
    events = _events((100, T, EventKind.LAST_GASP))
    rows = _half_hours(100, T, 2, dead={0})
    rows += [(100, T + 1800 + 300 * i, T + 2100 + 300 * i, 0 if i < 2 else 9) for i in range(6)]
    [span] = off_spans(events, _energy(rows))
    assert span.end == T + 1800 + 600  # the 5-minute values show energy from 10:40


def test_with_last_gasp_off_dead_reads_locate_a_transformer_outage() -> None:
    rows = [row for m in (200, 201, 202, 203) for row in _half_hours(m, T, 4, dead={1})]
    incidents = locate(off_spans(_events(), _energy(rows)), _topology())
    [incident] = incidents
    assert (incident.level, incident.element, incident.customers) == (Level.TRANSFORMER, 20, 4)
    assert incident.evidence == {Evidence.DEAD_READS: 4}
    assert (incident.start, incident.end) == (T + 1800, T + 3600)


def test_a_disconnected_meter_reads_zero_but_is_not_out() -> None:
    events = _events((100, T, EventKind.DISCONNECTED), (100, T + 7200, EventKind.RECONNECTED))
    energy = _energy(_half_hours(100, T, 6, dead={0, 1, 2, 3}))
    assert off_spans(events, energy) == []


def test_a_momentary_interruption_is_not_sustained() -> None:
    items = [(m, T, EventKind.LAST_GASP) for m in (110, 111, 112, 113)]
    items += [(m, T + 40, EventKind.POWER_RESTORED) for m in (110, 111, 112, 113)]
    [incident] = locate(off_spans(_events(*items)), _topology())
    assert incident.momentary
    index = reliability([incident], customers=20)
    assert (index.saifi, index.saidi, index.maifi) == (0, 0, 4 / 20)


def test_a_last_gasp_and_the_power_down_record_are_one_loss() -> None:
    spans = off_spans(_events((100, T, EventKind.LAST_GASP), (100, T + 1, EventKind.POWER_DOWN),
                              (100, T + 900, EventKind.POWER_RESTORED)))
    assert [(s.start, s.end, s.start_by) for s in spans] == [(T, T + 900, Evidence.LAST_GASP)]


def test_ieee_1366_indices_against_a_hand_computed_case() -> None:
    items = [(m, T, EventKind.LAST_GASP) for m in (110, 111, 112, 113)]
    items += [(m, T + 2400, EventKind.POWER_RESTORED) for m in (110, 111, 112, 113)]
    items += [(200, T, EventKind.LAST_GASP), (200, T + 3600, EventKind.POWER_RESTORED)]
    items += [(m, T + 9000, EventKind.LAST_GASP) for m in (120, 121, 122, 123)]
    items += [(m, T + 9060, EventKind.POWER_RESTORED) for m in (120, 121, 122, 123)]
    topology = _topology()
    incidents = locate(off_spans(_events(*items)), topology)
    index = reliability(incidents, customers=20)
    # 4 customers × 40 min + 1 × 60 min sustained; 4 momentary.
    assert index.saifi == pytest.approx(5 / 20)
    assert index.saidi == pytest.approx(220 / 20)
    assert index.caidi == pytest.approx(44)
    assert index.maifi == pytest.approx(4 / 20)
    feeders = reliability_by_feeder(incidents, topology)
    assert feeders[1].customers == 12
    assert feeders[1].saidi == pytest.approx(160 / 12)
    assert feeders[2].saidi == pytest.approx(60 / 8)


def test_an_open_outage_is_confirmed_or_closed_by_on_demand_reads() -> None:
    incidents = locate(off_spans(_events((100, T, EventKind.LAST_GASP))), _topology())
    asked: list[list[int]] = []

    def reader(answer: bool):
        async def ask(meters):
            asked.append(list(meters))
            return dict.fromkeys(meters, answer)
        return ask

    [still_off] = asyncio.run(confirm_open(incidents, reader(False), now=T + 600))
    assert still_off.confirmed is True
    assert still_off.end is None
    [back] = asyncio.run(confirm_open(incidents, reader(True), now=T + 600))
    assert back.confirmed is False
    assert (back.end, back.spans[0].end_by) == (T + 600, Evidence.ON_DEMAND_READ)
    assert asked == [[100], [100]]


def test_rules_change_what_counts_as_a_transformer_outage() -> None:
    items = [(m, T, EventKind.LAST_GASP) for m in (100, 101)]
    items += [(m, T + 900, EventKind.POWER_RESTORED) for m in (100, 101)]
    strict = OutageRules(transformer_share=0.75)
    assert [i.level for i in locate(off_spans(_events(*items)), _topology(), strict)] == [
        Level.PREMISE, Level.PREMISE]
    assert [i.level for i in locate(off_spans(_events(*items)), _topology())] == [
        Level.TRANSFORMER]


def test_a_transformer_out_twice_a_day_is_two_incidents() -> None:
    items = [(m, T, EventKind.LAST_GASP) for m in (100, 101)]
    items += [(m, T + 600, EventKind.POWER_RESTORED) for m in (100, 101)]
    items += [(m, T + 7200, EventKind.LAST_GASP) for m in (100, 101)]
    items += [(m, T + 7800, EventKind.POWER_RESTORED) for m in (100, 101)]
    incidents = locate(off_spans(_events(*items)), _topology())
    assert [(i.level, i.element, i.start) for i in incidents] == [
        (Level.TRANSFORMER, 10, T), (Level.TRANSFORMER, 10, T + 7200)]


def test_incidents_per_transformer_and_their_place() -> None:
    """The per-transformer view (``/v1/fleet/outages``) is the located incidents split by
    transformer: a feeder incident is one row per transformer, with its presumed meters."""
    topology = _topology()
    items = [(m, T, EventKind.LAST_GASP) for m in (100, 101, 110, 111, 120, 121)]
    items += [(m, T + 1800, EventKind.POWER_RESTORED) for m in (100, 101, 110, 111, 120)]
    items += [(200, T + 3600, EventKind.LAST_GASP), (200, T + 7200, EventKind.POWER_RESTORED)]
    feeder, premise = locate(off_spans(_events(*items)), topology)
    assert place(feeder, topology) == (None, 1)
    assert place(premise, topology) == (20, 2)
    rows = by_transformer([feeder, premise], topology)
    assert [(r.transformer, r.level, r.customers, r.last_gasp) for r in rows] == [
        (10, Level.FEEDER, 4, 2), (11, Level.FEEDER, 4, 2), (12, Level.FEEDER, 4, 2),
        (20, Level.PREMISE, 4, 1)]
    assert rows[0].meter_ids == (100, 101, 102, 103)
    assert rows[2].end is None  # meter 121 sent no restore and has no reads: still off
    assert (rows[0].start, rows[0].end) == (T, T + 1800)
    assert sum(len(r.meter_ids) for r in rows) == feeder.customers + premise.customers
    assert feeder.restored_by == {Evidence.RESTORE_NOTICE: 5, Evidence.PRESUMED: 4, "open": 3}


def test_a_meter_gone_silent_is_a_communication_fault_not_an_outage() -> None:
    """False-alarm suppression: intervals that never arrived are no evidence of supply loss."""
    arrived = [row for row in _half_hours(100, T, 8, dead=set())
               if not 2 <= (row[1] - T) // 1800 < 6]
    assert len(arrived) == 4
    assert off_spans(_events(), _energy(arrived)) == []
    assert locate(off_spans(_events(), _energy(arrived)), _topology()) == []


def test_a_lone_meter_reading_zero_is_an_outage_only_when_long_enough() -> None:
    """Reads alone (no alarm, no log, no neighbour) locate a premise outage of at least an
    hour; a shorter run of zeros is left to confirmation by an on-demand read."""
    short = _energy(_half_hours(100, T, 6, dead={2}))
    [span] = off_spans(_events(), short)
    assert (span.start, span.end, span.start_by) == (T + 3600, T + 5400, Evidence.DEAD_READS)
    assert locate([span], _topology()) == []
    long = _energy(_half_hours(100, T, 6, dead={2, 3}))
    [incident] = locate(off_spans(_events(), long), _topology())
    assert (incident.level, incident.element) == (Level.PREMISE, 100)
    assert (incident.start, incident.end) == (T + 3600, T + 7200)
