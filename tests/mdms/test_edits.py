"""Manual edits under control: validated, coded, protected, approved (issue 11.4)."""

from __future__ import annotations

import pytest

from smame.mdms import Mdms
from smame.mdms.edit import EDIT_REASONS, EditApprovalRequiredError, EditError
from smame.readings import Source, make_batch
from tests.mdms.helpers import day_batch, flat_day, slot_end
from tests.mdms.test_plausibility import register


@pytest.fixture
def day(mdms: Mdms) -> Mdms:
    mdms.ingest(day_batch(flat_day(20, meters=2)))
    return mdms


def value_at(mdms: Mdms, k: int, meter: int = 1) -> dict:
    return mdms.readings(meter, slot_end(k), slot_end(k), channels=[140]).to_pylist()[0]


@pytest.mark.parametrize(("meter", "t", "value", "match"), [
    (1, slot_end(5), -1_000, "NEGATIVE"),
    (1, slot_end(5) + 7, 25, "TIME_MISALIGNED"),
    (1, slot_end(400), 25, "TIME_FUTURE"),
    (77, slot_end(5), 25, "meter 77"),
])
def test_invalid_edits_are_refused(day: Mdms, meter: int, t: int, value: int, match: str
                                   ) -> None:
    before = day.last_version()
    with pytest.raises(EditError, match=match):
        day.edit(meter, 140, t, value, user="sato", reason="FIELD_READ")
    assert day.last_version() == before
    assert value_at(day, 5)["value"] == 20


def test_an_edit_of_an_unregistered_meter_is_refused(mdms: Mdms) -> None:
    register(mdms, 1)
    mdms.ingest(make_batch(1, slot_end(1), 140, 20))
    with pytest.raises(EditError, match="NOT_REGISTERED"):
        mdms.edit(5, 140, slot_end(1), 10, user="sato", reason="FIELD_READ")
    with pytest.raises(EditError, match="PHYSICAL_LIMIT"):
        mdms.edit(1, 140, slot_end(1), 100_000, user="sato", reason="FIELD_READ")


def test_reasons_come_from_the_catalogue(day: Mdms) -> None:
    with pytest.raises(EditError, match="reason code"):
        day.edit(1, 140, slot_end(5), 25, user="sato", reason="fixed it")
    assert "METER_EXCHANGE" in EDIT_REASONS
    day.edit(1, 140, slot_end(5), 25, user="sato", reason="CUSTOMER_READ", note="photo")
    assert value_at(day, 5)["value"] == 25


def test_an_edit_is_protected_from_a_later_actual(day: Mdms) -> None:
    day.edit(1, 140, slot_end(5), 25, user="sato", reason="FIELD_READ")
    day.ingest(make_batch(1, slot_end(5), 140, 31))
    kept = value_at(day, 5)
    assert (kept["value"], kept["source"]) == (25, Source.MANUAL)
    assert sorted(day.readings(1, slot_end(5), slot_end(5), channels=[140], current=False)
                  .column("value").to_pylist()) == [20, 25, 31]


def test_a_large_edit_needs_a_second_person(day: Mdms) -> None:
    # 48 slots moved from 20 to 200 units: 48 × 180 × 10 Wh = 86,400 Wh > 10,000 Wh
    ends = [slot_end(k) for k in range(1, 49)]
    with pytest.raises(EditApprovalRequiredError) as raised:
        day.edit(2, 140, ends, 200, user="sato", reason="CT_RATIO_CORRECTION")
    request = raised.value.request_id
    assert raised.value.change_wh == 86_400
    assert value_at(day, 3, meter=2)["value"] == 20
    assert day.edit_requests("pending").column("request_id").to_pylist() == [request]
    with pytest.raises(EditError, match="second person"):
        day.approve_edit(request, "sato")
    version = day.approve_edit(request, "tanaka")
    assert value_at(day, 3, meter=2)["value"] == 200
    assert value_at(day, 3, meter=2)["version"] == version
    edits = day.store.con.execute("SELECT user_name, approver FROM edits WHERE version = ?",
                                  [version]).fetchall()
    assert edits == [("sato", "tanaka")]
    with pytest.raises(EditError, match="applied"):
        day.approve_edit(request, "suzuki")


def test_a_rejected_request_changes_nothing(day: Mdms) -> None:
    outcome = day.request_edit(2, 140, [slot_end(k) for k in range(1, 49)], 200, user="sato",
                               reason="CT_RATIO_CORRECTION")
    assert outcome.status == "pending"
    day.reject_edit(outcome.request_id, "tanaka")
    assert value_at(day, 3, meter=2)["value"] == 20
    assert day.edit_requests("rejected").num_rows == 1
