"""The fast lane answers exactly what the FastAPI route answers (SPEC S7)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from smame.api import create_app
from tests.api.support import Api


def test_fast_lane_and_route_give_the_same_answers(api: Api, dataset) -> None:
    slow = TestClient(create_app(state=api.state, refresh=False, fast_lane=False),
                      raise_server_exceptions=False)
    meter = dataset.meters[0]
    operator = api.token("distribution")
    retailer = api.token("retailer", dataset.retailer(meter))
    other = api.token("retailer", "R05" if dataset.retailer(meter) != "R05" else "R04")
    gas = api.token("gas", "GAS01")
    cases = [
        (operator, f"/v1/meters/{meter}/readings?date=2026-07-02"),
        (operator, f"/v1/meters/{meter}/readings?date=2026-07-01&period=5&quantity=voltage"),
        (operator, f"/v1/meters/{meter}/readings?date=2026-07-02&quantity=import&quantity=export"),
        (retailer, f"/v1/meters/{meter}/readings?date=2026-07-02&period=30&quantity=import"),
        (retailer, f"/v1/meters/{meter}/readings?date=2026-07-02&period=15"),
        (retailer, f"/v1/meters/{meter}/readings?date=2026-07-02&quantity=voltage&period=5"),
        (other, f"/v1/meters/{meter}/readings?date=2026-07-02"),
        (gas, f"/v1/meters/{meter}/readings?date=2026-07-02"),
        (None, f"/v1/meters/{meter}/readings?date=2026-07-02"),
        ("forged", f"/v1/meters/{meter}/readings?date=2026-07-02"),
        (operator, "/v1/meters/999999999/readings?date=2026-07-02"),
        (operator, f"/v1/meters/{meter}/readings?date=2026-02-30"),  # not a date: FastAPI
    ]
    for token, path in cases:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        fast = api.client.get(path, headers=headers)
        route = slow.get(path, headers=headers)
        assert fast.status_code == route.status_code, path
        assert json.loads(fast.content) == json.loads(route.content), path
        assert fast.headers.get("www-authenticate") == route.headers.get("www-authenticate")
    slow.close()
