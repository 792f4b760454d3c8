"""The authorization matrix: every role against every resource, allowed and denied
(SPEC S4, S6, S13, S14)."""

from __future__ import annotations

import pytest

from smame.api.roles import Role
from tests.api.support import BOTH_STATES, DAY1, OPTED_OUT_METER, Api, FakeHeadEnd

pytestmark = BOTH_STATES

ROLES = ["distribution", "retailer", "retailer_other", "aggregator", "energy_management",
         "gas", "water", "data_association", "auditor", "admin"]
ALL_403 = dict.fromkeys(ROLES, 403)


def row(default: int = 403, **overrides: int) -> dict[str, int]:
    return {**dict.fromkeys(ROLES, default), **overrides}


# resource -> expected status per role. M is a meter supplied by "retailer"; the
# aggregator holds a consent for M's service point covering energy and events.
MATRIX: dict[str, dict[str, int]] = {
    "GET /v1/whoami": row(200),
    "GET /v1/meters": row(200, auditor=403, admin=403),
    "GET /v1/meters/{M}": row(404, distribution=200, retailer=200, aggregator=200,
                              auditor=403, admin=403),
    "GET /v1/meters/{M}/readings?date={D}": row(
        404, distribution=200, retailer=200, aggregator=200, auditor=403, admin=403),
    "GET /v1/meters/{M}/readings?date={D}&period=5&quantity=voltage": row(
        404, distribution=200, retailer=403, aggregator=403, auditor=403, admin=403),
    "GET /v1/meters/{M}/registers?date={D}": row(
        404, distribution=200, retailer=200, aggregator=403, auditor=403, admin=403),
    "GET /v1/meters/{M}/events?date={D}": row(
        404, distribution=200, retailer=200, aggregator=200, gas=403, water=403,
        auditor=403, admin=403),
    "GET /v1/meters/{M}/state": row(
        404, distribution=200, retailer=200, aggregator=403, gas=403, water=403,
        auditor=403, admin=403),
    "GET /v1/meters/{M}/differential?date={D}": row(403, distribution=200),
    "GET /v1/service-points/{SP}": row(404, distribution=200, retailer=200, aggregator=200,
                                       auditor=403, admin=403),
    "GET /v1/service-points/{SP}/greenbutton?date={D}": row(
        404, distribution=200, retailer=200, aggregator=200, auditor=403, admin=403),
    "GET /v1/export?date={D}&format=csv": row(
        200, gas=403, water=403, auditor=403, admin=403),
    "GET /v1/settlement?date={D}": row(403, distribution=200, retailer=200,
                                      retailer_other=200),
    "GET /v1/joint-readings?date={D}": row(403, distribution=400, gas=200, water=200),
    "GET /v1/meters/{GAS}/registers?date={D}": row(404, distribution=200, gas=200,
                                                   auditor=403, admin=403),
    "GET /v1/meters/{GAS}/readings?date={D}": row(404, distribution=403, gas=403,
                                                  auditor=403, admin=403),
    # the opted-out service point is supplied by "retailer_other" (R01)
    "GET /v1/meters/{OPT}/readings?date={D}": row(404, distribution=409, retailer_other=409,
                                                  auditor=403, admin=403),
    "GET /v1/statistics/consumption?date={D}": row(
        200, gas=403, water=403, auditor=403, admin=403),  # no consent: nobody singled out
    "GET /v1/fleet/summary": row(403, distribution=200),
    "GET /v1/fleet/collection?date={D}": row(403, distribution=200),
    "GET /v1/fleet/outages?date={D}": row(403, distribution=200),
    "GET /v1/grid/outages?date={D}": row(403, distribution=200),
    "GET /v1/grid/voltage?date={D}": row(403, distribution=200),
    "GET /v1/events?date={D}": row(403, distribution=200),
    "POST /v1/commands": row(403, distribution=202),
    "GET /v1/commands": row(403, distribution=200, auditor=200),
    "POST /v1/meters/{M}/instantaneous": row(
        404, distribution=202, retailer=202, aggregator=403, gas=403, water=403,
        auditor=403, admin=403),
    "GET /v1/meters/{M}/reservations": row(403, distribution=200, auditor=403),
    "GET /v1/consents": row(403, aggregator=200, energy_management=200,
                            data_association=200, auditor=200),
    "POST /v1/consents": row(403, data_association=201),
    "GET /v1/audit?limit=5": row(403, auditor=200, admin=200),
    "GET /v1/audit/verify": row(403, auditor=200, admin=200),
    "GET /v1/clients": row(403, admin=200),
}


@pytest.fixture
def world(api: Api, dataset):
    meter = dataset.meters[0]
    retailer = dataset.retailer(meter)
    other = "R01"  # supplies the opted-out service point
    assert retailer != other
    gas_meter = next(j["meter_id"] for j in dataset.mdms.registry.joint_meters("GAS01")
                     .to_pylist())
    api.state.attach_headend(FakeHeadEnd(dataset.meters, api.state.data_clock))
    api.state.consents.grant(dataset.sp(meter), "AGG1", ["energy", "events"], "demand "
                             "response", DAY1, granted_by="test")
    parties = {"distribution": ("distribution", None), "retailer": ("retailer", retailer),
               "retailer_other": ("retailer", other), "aggregator": ("aggregator", "AGG1"),
               "energy_management": ("energy_management", "EMS1"),
               "gas": ("gas", "GAS01"), "water": ("water", "WATER01"),
               "data_association": ("data_association", "ASSOC"),
               "auditor": ("auditor", None), "admin": ("admin", None)}
    tokens = {name: api.token(*parties[name]) for name in ROLES}
    names = {"{M}": str(meter), "{SP}": dataset.sp(meter), "{D}": DAY1.isoformat(),
             "{GAS}": str(gas_meter), "{OPT}": str(OPTED_OUT_METER)}
    return api, tokens, names, meter


def _call(api: Api, token: str, resource: str, names: dict[str, str], meter: int):
    method, path = resource.split(" ", 1)
    for key, value in names.items():
        path = path.replace(key, value)
    headers = {"Authorization": f"Bearer {token}"}
    if method == "GET":
        return api.client.get(path, headers=headers)
    body = None
    if path == "/v1/commands":
        body = {"kind": "set_limit", "meter_ids": [meter], "amps": 30}
    elif path == "/v1/consents":
        body = {"sp_id": names["{SP}"], "grantee": "EMS1", "categories": ["energy"],
                "purpose": "home energy advice", "data_from": "2026-07-01"}
    return api.client.post(path, json=body, headers=headers)


def test_every_role_against_every_resource(world) -> None:
    api, tokens, names, meter = world
    assert {r.value for r in Role} <= set(ROLES)
    failures = []
    for resource, expected in MATRIX.items():
        for role in ROLES:
            answer = _call(api, tokens[role], resource, names, meter)
            if answer.status_code != expected[role]:
                failures.append(f"{role:18} {resource}: {answer.status_code} "
                                f"(expected {expected[role]}) {answer.text[:120]}")
            if answer.status_code >= 400:
                body = answer.json()
                assert body["error"], resource
                assert body["detail"], resource
    assert not failures, "\n".join(failures)


def test_no_token_wrong_token_expired_token_are_401(world) -> None:
    api, tokens, _names, meter = world
    path = f"/v1/meters/{meter}/readings?date=2026-07-01"
    assert api.client.get(path).status_code == 401
    assert api.client.get(path, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert api.client.get(path, headers={"Authorization": "Basic abc"}).status_code == 401
    forged = tokens["retailer"][:-4] + ("AAAA" if not tokens["retailer"].endswith("AAAA")
                                        else "BBBB")
    assert api.client.get(path, headers={"Authorization": f"Bearer {forged}"}
                          ).status_code == 401
    answer = api.client.get(path, headers={"Authorization": f"Bearer {tokens['retailer']}"})
    assert answer.status_code == 200
    api.clock.advance(api.config.token_ttl_s + 1)
    answer = api.client.get(path, headers={"Authorization": f"Bearer {tokens['retailer']}"})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_client_loses_its_tokens_at_once(world) -> None:
    api, tokens, names, _meter = world
    client_id, secret = api.secrets["retailer:" + api.state.policy.view.contracts[
        names["{SP}"]][0].retailer_id]
    headers = {"Authorization": f"Bearer {tokens['retailer']}"}
    assert api.client.get("/v1/whoami", headers=headers).status_code == 200
    api.state.clients.revoke(client_id)
    assert api.client.get("/v1/whoami", headers=headers).status_code == 401
    answer = api.client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert answer.status_code == 401


def test_enumerating_another_retailers_meters_reveals_nothing(world, dataset) -> None:
    api, tokens, _names, meter = world
    headers = {"Authorization": f"Bearer {tokens['retailer_other']}"}
    missing = max(dataset.meters) + 12345
    for path in ("/v1/meters/{}", "/v1/meters/{}/readings?date=2026-07-01",
                 "/v1/meters/{}/registers?date=2026-07-01", "/v1/meters/{}/events?date=2026-07-01"):
        theirs = api.client.get(path.format(meter), headers=headers)
        nobody = api.client.get(path.format(missing), headers=headers)
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json()["detail"].replace(str(meter), "X") == nobody.json()[
            "detail"].replace(str(missing), "X")
        assert set(theirs.headers) - {"x-request-id", "content-length"} == set(
            nobody.headers) - {"x-request-id", "content-length"}
    listing = api.client.get("/v1/meters?limit=1000", headers=headers).json()
    assert meter not in {item["meter_id"] for item in listing["items"]}


def test_scope_narrowing(world) -> None:
    api, _tokens, _names, meter = world
    client_id, secret = api.new_client("distribution")
    token = api.token_for(client_id, secret, scope="meters:read")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get(f"/v1/meters/{meter}", headers=headers).status_code == 200
    answer = api.client.get(f"/v1/meters/{meter}/readings?date=2026-07-01", headers=headers)
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"
    refused = api.client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        "scope": "clients:admin"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
