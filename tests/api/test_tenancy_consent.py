"""A consent belongs to the customer of one tenancy, confirmed by the data association
(認定協会), and never reaches another occupant's data (SPEC S6)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api.support import BOTH_STATES, DAY1, DAY2, Api


def _values(api: Api, token: str, meter: int, day) -> int | None:
    answer = api.get(f"/v1/meters/{meter}/readings", token, date=day.isoformat())
    if answer.status_code != 200:
        return answer.status_code
    return sum(len(b["IntervalReadings"]) for b in answer.json()["MeterReadings"][0][
        "IntervalBlocks"])


@pytest.fixture
def moved(api: Api, dataset) -> Iterator[tuple[Api, int, str]]:
    """A meter whose service point changes hands: the registry is put back afterwards."""
    meter = dataset.meters[12]
    sp = dataset.sp(meter)
    yield api, meter, sp
    dataset.mdms.registry.backend.execute("DELETE FROM tenancies WHERE sp_id = ?", [sp])


def _consent(api: Api, sp: str, **changes):
    body = {"sp_id": sp, "grantee": "AGG1", "categories": ["energy"],
            "purpose": "demand response programme", "data_from": DAY1.isoformat(), **changes}
    return api.post("/v1/consents", api.token("data_association", "ASSOC"), body)


@BOTH_STATES
def test_a_back_dated_consent_is_refused(moved) -> None:
    api, _meter, sp = moved
    answer = _consent(api, sp, data_from="2000-01-01")
    assert answer.status_code == 422
    assert "before this customer's tenancy began (2026-07-01)" in answer.json()["detail"]


@BOTH_STATES
def test_the_association_confirms_a_consent_for_one_customer_purpose_and_recipient(
        moved) -> None:
    api, _meter, sp = moved
    consent = _consent(api, sp).json()
    assert consent["confirmed_by"] == "ASSOC"
    assert consent["recipient"] == "AGG1"
    assert consent["purpose"] == "demand response programme"
    assert consent["tenancy"]["move_in"] == DAY1.isoformat()
    assert consent["customer_id"] == consent["tenancy"]["customer_id"]
    wrong = _consent(api, sp, customer_id="someone-else")
    assert wrong.status_code == 409
    assert wrong.json()["error"] == "not_the_customer"


@BOTH_STATES
def test_a_consent_ends_with_its_customers_tenancy(moved, dataset) -> None:
    api, meter, sp = moved
    aggregator = api.token("aggregator", "AGG1")
    old = _consent(api, sp).json()
    assert _values(api, aggregator, meter, DAY1) >= 47  # (no 00:00 reading on the first day)

    dataset.mdms.registry.move_in(sp, "C-NEW", DAY2)  # the customer moves out, another in
    api.state.data.reload_registry()
    assert _values(api, aggregator, meter, DAY1) == 404  # the old consent no longer holds
    listed = api.get(f"/v1/consents/{old['consent_id']}", aggregator).json()
    assert not listed["effective"]
    assert listed["tenancy"]["move_out"] == DAY2.isoformat()

    # the newcomer consents to their own data only ...
    assert _consent(api, sp).status_code == 422  # data from DAY1 is the previous occupant's
    new = _consent(api, sp, data_from=DAY2.isoformat(), customer_id="C-NEW")
    assert new.status_code == 201, new.text
    assert new.json()["customer_id"] == "C-NEW"
    assert _values(api, aggregator, meter, DAY2) == 48
    assert _values(api, aggregator, meter, DAY1) == 0
    # ... and even a consent recorded without the check (the command line) is clipped to
    # the tenancy when it is used
    api.state.consents.grant(sp, "EMS7", ["energy"], "home energy report",
                             DAY1.replace(year=2000), granted_by="cli")
    ems = api.token("energy_management", "EMS7")
    assert _values(api, ems, meter, DAY1) == 0
    assert _values(api, ems, meter, DAY2) == 48


def test_tenancies_implied_by_supply_contracts() -> None:
    from datetime import date

    from smame.api.registry_view import Contract, derived_tenancies

    sp = "0300000000000000000001"
    contracts = [Contract(sp, "R01", date(2026, 1, 1), date(2026, 3, 1)),
                 Contract(sp, "R02", date(2026, 3, 1), date(2026, 5, 1)),  # a switch
                 Contract(sp, "R02", date(2026, 6, 1), None)]  # after a month without supply
    tenancies = derived_tenancies(sp, contracts)
    assert [(t.move_in, t.move_out) for t in tenancies] == [
        (date(2026, 1, 1), date(2026, 5, 1)), (date(2026, 6, 1), None)]
    assert tenancies[0].customer_id != tenancies[1].customer_id
    assert all(t.derived for t in tenancies)


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 30), st.booleans()),
                min_size=1, max_size=8))
def test_derived_tenancies_cover_the_supply_without_overlap(periods) -> None:
    from datetime import date, timedelta

    from smame.api.registry_view import Contract, derived_tenancies

    sp, base = "0300000000000000000001", date(2026, 1, 1)
    contracts = sorted((Contract(sp, "R01", base + timedelta(a), None if open_
                                 else base + timedelta(a + n)) for a, n, open_ in periods),
                       key=lambda c: c.valid_from)
    tenancies = derived_tenancies(sp, contracts)
    for day in (base + timedelta(k) for k in range(100)):
        supplied = any(c.covers(day) for c in contracts)
        holders = [t for t in tenancies if t.covers(day)]
        assert len(holders) == (1 if supplied else 0), day
