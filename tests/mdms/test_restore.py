"""A lost restore notification: later good reads close the outage span (issue 11.1)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from smame.mdms import Mdms, Reason
from smame.meter.events import EventKind, MeterEvent, events_table
from smame.readings import Quality, Source, make_batch
from tests.mdms.helpers import DAY, day_batch, flat_day, slot_end


def _current(mdms: Mdms, meter: int, channel: int = 140) -> pa.Table:
    return mdms.readings(meter, slot_end(1), slot_end(48), channels=[channel])


def test_energy_after_a_lost_restore_closes_the_outage(mdms: Mdms) -> None:
    mdms.ingest_events(events_table([MeterEvent(1, slot_end(9), EventKind.POWER_DOWN)]))
    values = flat_day(25)
    values[0, 9:20] = 0  # off from slot 10 to 20; no POWER_RESTORED ever arrives
    mdms.ingest(day_batch(values))
    table = _current(mdms, 1)
    quality = np.array(table.column("quality").to_pylist())
    reasons = np.array(table.column("reasons").to_pylist())
    assert not (quality[20:] & Quality.SUSPECT).any()
    assert not (reasons[20:] & (Reason.OUTAGE | Reason.ENERGY_WHILE_OFF)).any()
    assert (reasons[9:20] & Reason.OUTAGE).all()
    spans = mdms.outage_spans([1])
    assert spans.to_pylist() == [{"meter_id": 1, "start": slot_end(9), "end": slot_end(20),
                                  "kind": "outage", "closed_by": "inferred_energy"}]
    mdms.close_day(DAY)
    after = _current(mdms, 1)
    assert after.column("value").to_pylist()[20:] == [25] * 28
    assert Source.ESTIMATION not in after.column("source").to_pylist()


def test_a_later_batch_closes_the_span_and_a_restore_event_still_counts(mdms: Mdms) -> None:
    mdms.ingest_events(events_table([
        MeterEvent(1, slot_end(2), EventKind.POWER_DOWN),
        MeterEvent(2, slot_end(2), EventKind.POWER_DOWN),
        MeterEvent(2, slot_end(4), EventKind.POWER_RESTORED),
    ]))
    mdms.ingest(make_batch([1, 1, 2], [slot_end(3), slot_end(4), slot_end(3)], 140, 0))
    assert mdms.outage_spans([1]).column("closed_by").to_pylist() == ["open"]
    mdms.ingest(make_batch(1, [slot_end(7), slot_end(8)], 140, [0, 12]))
    spans = mdms.outage_spans().to_pylist()
    assert [(s["meter_id"], s["end"], s["closed_by"]) for s in spans] == [
        (1, slot_end(7), "inferred_energy"), (2, slot_end(4), "event")]


def test_register_advance_and_instant_reads_are_evidence(mdms: Mdms) -> None:
    mdms.ingest(make_batch([1, 2], slot_end(1), 100, 5000))
    mdms.ingest_events(events_table([MeterEvent(m, slot_end(2), EventKind.POWER_DOWN)
                                     for m in (1, 2, 3)]))
    mdms.ingest(make_batch(1, [slot_end(5), slot_end(6)], 100, [5000, 5003]))
    mdms.ingest(make_batch(2, slot_end(5), 100, 5000))  # stood still: no evidence
    mdms.ingest(make_batch(3, slot_end(6) + 7, 490, 1012))  # voltage read, 101.2 V
    spans = {s["meter_id"]: (s["end"], s["closed_by"]) for s in mdms.outage_spans().to_pylist()}
    assert spans == {1: (slot_end(6), "inferred_register"), 2: (None, "open"),
                     3: (slot_end(6) + 7, "inferred_instant")}


def test_flagged_or_zero_reads_are_not_evidence(mdms: Mdms) -> None:
    mdms.ingest_events(events_table([MeterEvent(1, slot_end(2), EventKind.POWER_DOWN)]))
    mdms.ingest(make_batch(1, [slot_end(4), slot_end(5)], 140, [0, 9],
                           quality=[0, Quality.POWER_OUTAGE]))
    assert mdms.outage_spans([1]).column("closed_by").to_pylist() == ["open"]


def test_day_close_infers_the_restore_from_stored_reads(mdms: Mdms) -> None:
    from tests.mdms.test_estimation import drop_slots

    mdms.ingest(drop_slots(day_batch(flat_day(25), with_registers=False), [20, 21, 22]))
    # The POWER_DOWN arrives after the reads (a queued last gasp); its restore never does.
    mdms.ingest_events(events_table([MeterEvent(1, slot_end(10), EventKind.POWER_DOWN)]))
    mdms.close_day(DAY)
    values = _current(mdms, 1).column("value").to_pylist()
    assert values[19:22] == [25, 25, 25]  # estimated as consumption, not as an outage
    spans = mdms.outage_spans([1]).to_pylist()
    assert [(s["end"], s["closed_by"]) for s in spans] == [(slot_end(10), "inferred_energy")]
