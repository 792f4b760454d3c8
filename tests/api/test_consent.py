"""Third parties see a customer's data only under a consent in force (SPEC S6)."""

from __future__ import annotations

from smame.api.consents import ConsentStore
from smame.api.db import open_access_db
from tests.api.support import BOTH_STATES, DAY1, DAY2, Api

pytestmark = BOTH_STATES


def _readings(api: Api, token: str, meter: int, day) -> tuple[int, int]:
    answer = api.get(f"/v1/meters/{meter}/readings", token, date=day.isoformat())
    if answer.status_code != 200:
        return answer.status_code, 0
    blocks = answer.json()["MeterReadings"][0]["IntervalBlocks"]
    return 200, sum(len(b["IntervalReadings"]) for b in blocks)


def test_grant_use_and_revoke(api: Api, dataset) -> None:
    meter = dataset.meters[3]
    sp = dataset.sp(meter)
    association = api.token("data_association", "ASSOC")
    aggregator = api.token("aggregator", "AGG1")
    assert _readings(api, aggregator, meter, DAY2) == (404, 0)  # no consent yet

    answer = api.post("/v1/consents", association, {
        "sp_id": sp, "grantee": "AGG1", "categories": ["energy"],
        "purpose": "demand response programme", "data_from": DAY2.isoformat(),
        "customer_ref": "contract 42"})
    assert answer.status_code == 201, answer.text
    consent = answer.json()
    assert consent["effective"]
    assert consent["categories"] == ["energy"]

    status, values = _readings(api, aggregator, meter, DAY2)
    assert (status, values) == (200, 48)
    assert _readings(api, aggregator, meter, DAY1) == (200, 0)  # before the consent period
    body = api.get(f"/v1/meters/{meter}/readings", aggregator, date=DAY2.isoformat()).json()
    assert body["digits"] == 6
    assert body["basis"] == "consent"
    # not covered by the consent: registers
    assert api.get(f"/v1/meters/{meter}/registers", aggregator,
                   date=DAY2.isoformat()).status_code == 403
    # another third party sees nothing
    assert _readings(api, api.token("energy_management", "EMS1"), meter, DAY2) == (404, 0)
    # the consent is listed for its grantee and written into the audit of each access
    mine = api.get("/v1/consents", aggregator).json()["items"]
    assert [c["consent_id"] for c in mine] == [consent["consent_id"]]
    used = [e for e in api.state.audit.entries(0, 10_000)
            if (e.get("detail") or {}).get("consents") == [consent["consent_id"]]]
    assert used
    assert all(e["client"] != api.secrets["data_association:ASSOC"][0] for e in used)

    revoked = api.delete(f"/v1/consents/{consent['consent_id']}", association)
    assert revoked.status_code == 200
    assert not revoked.json()["effective"]
    assert _readings(api, aggregator, meter, DAY2) == (404, 0)  # at once


def test_revocation_from_another_process_takes_effect_at_once(api: Api, dataset) -> None:
    meter = dataset.meters[4]
    aggregator = api.token("energy_management", "EMS2")
    consent = api.state.consents.grant(dataset.sp(meter), "EMS2", ["energy", "events"],
                                       "home energy report", DAY1, granted_by="cli")
    assert _readings(api, aggregator, meter, DAY1)[0] == 200
    # what `smame consents revoke` opens
    other = open_access_db(api.config.state, api.config.state_url)
    try:
        ConsentStore(other, api.clock).revoke(consent.consent_id, "cli")
    finally:
        other.close()
    assert _readings(api, aggregator, meter, DAY1) == (404, 0)


def test_expired_consent_and_bad_consents(api: Api, dataset) -> None:
    meter = dataset.meters[5]
    aggregator = api.token("aggregator", "AGG9")
    association = api.token("data_association", "ASSOC")
    api.state.consents.grant(dataset.sp(meter), "AGG9", ["energy"], "a pilot", DAY1,
                             expires_at=api.clock.time() + 60)
    assert _readings(api, aggregator, meter, DAY1)[0] == 200
    api.clock.advance(61)
    aggregator = api.token("aggregator", "AGG10")  # fresh token; the consent is for AGG9
    assert _readings(api, api.token("aggregator", "AGG9"), meter, DAY1)[0] == 404
    base = {"sp_id": dataset.sp(meter), "grantee": "AGG1", "categories": ["energy"],
            "purpose": "x", "data_from": "2026-07-01"}
    for bad in ({**base, "purpose": ""}, {**base, "categories": []},
                {**base, "categories": ["everything"]}, {**base, "sp_id": "12"},
                {**base, "data_to": "2026-06-01"}, {**base, "extra": 1}):
        answer = api.post("/v1/consents", association, bad)
        assert answer.status_code in (400, 404, 422), (bad, answer.text)
    unknown = {**base, "sp_id": "0399999999999999999999"}
    assert api.post("/v1/consents", association, unknown).status_code == 404
    assert api.post("/v1/consents", aggregator, base).status_code == 403
