"""The change feed: what changed since a cursor (issue 11.9)."""

from __future__ import annotations

import pytest

from smame.mdms import Mdms
from smame.readings import make_batch
from tests.mdms.helpers import DAY, day_batch, flat_day, slot_end
from tests.mdms.test_estimation import drop_slots


def test_a_data_user_sees_new_values_then_only_what_changed(mdms: Mdms) -> None:
    mdms.ingest(drop_slots(day_batch(flat_day(20, meters=2), with_registers=False), [10]))
    first = mdms.change_feed(0)
    assert first.changes.num_rows == 2 * 47
    assert set(first.changes.column("change").to_pylist()) == {"new"}
    mdms.close_day(DAY)  # two estimates
    second = mdms.change_feed(first.cursor)
    assert second.changes.num_rows == 2
    assert set(second.changes.column("change").to_pylist()) == {"new"}
    mdms.ingest(make_batch(1, [slot_end(10), slot_end(11)], 140, [23, 24]))
    third = mdms.change_feed(second.cursor)
    changes = {(r["interval_end"].timestamp(), r["change"], r["previous_kind"])
               for r in third.changes.to_pylist()}
    assert changes == {(slot_end(10), "estimate_replaced", "estimate"),
                       (slot_end(11), "revised", "ingest")}
    assert mdms.change_feed(third.cursor).changes.num_rows == 0


def test_values_that_lose_by_precedence_are_not_changes(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20), with_registers=False))
    cursor = mdms.change_feed(0).cursor
    mdms.ingest(make_batch(1, slot_end(5), 140, -3))  # fails: the validated 20 stays
    assert mdms.change_feed(cursor).changes.num_rows == 0


def test_edits_filters_and_until(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20, meters=2), with_registers=False))
    cursor = mdms.last_version()
    version = mdms.edit(2, 140, slot_end(5), 25, user="sato", reason="FIELD_READ")
    mdms.ingest(make_batch(1, slot_end(6), 140, 21))
    feed = mdms.change_feed(cursor, meter_ids=[2])
    assert [(r["meter_id"], r["change"]) for r in feed.changes.to_pylist()] == [(2, "edited")]
    assert mdms.change_feed(cursor, until=version).changes.num_rows == 1
    assert mdms.change_feed(cursor, until=version).cursor == version
    assert mdms.change_feed(cursor, channels=[240]).changes.num_rows == 0
    with pytest.raises(ValueError, match="cursor"):
        mdms.change_feed(-1)
