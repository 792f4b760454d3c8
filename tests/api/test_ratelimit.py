"""Rate limits per client, with a lower one for dangerous commands (SPEC S14)."""

from __future__ import annotations

from smame.api import RateLimit
from tests.api.support import BOTH_STATES, GENEROUS, Api, FakeHeadEnd

pytestmark = BOTH_STATES


def test_reads_are_limited_per_client(dataset, tmp_path, state_url) -> None:
    api = Api(dataset, tmp_path, state_url=state_url,
              rate_limits={**GENEROUS, "read": RateLimit(1.0, 3.0)})
    try:
        meter = dataset.meters[0]
        first = api.token("distribution")
        path = f"/v1/meters/{meter}"
        assert [api.get(path, first).status_code for _ in range(3)] == [200, 200, 200]
        limited = api.get(path, first)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert api.get(path, api.token("retailer", dataset.retailer(meter))).status_code == 200
        api.clock.advance(1.0)  # one token back
        assert api.get(path, first).status_code == 200
        assert api.get(path, first).status_code == 429
        denied = [e for e in api.state.audit.entries(0, 1000) if e.get("status") == 429]
        assert len(denied) == 2
    finally:
        api.close()


def test_dangerous_commands_have_their_own_lower_limit(dataset, tmp_path, state_url) -> None:
    limits = {**GENEROUS, "command": RateLimit(10.0, 20.0), "dangerous": RateLimit(0.01, 2.0)}
    api = Api(dataset, tmp_path, state_url=state_url, rate_limits=limits)
    try:
        api.state.attach_headend(FakeHeadEnd(dataset.meters, api.state.data_clock))
        token = api.token("distribution")
        meter = dataset.meters[0]
        disconnect = {"kind": "disconnect", "meter_ids": [meter]}
        listing = {"kind": "list_reservations", "meter_ids": [meter]}
        assert api.post("/v1/commands", token, disconnect).status_code == 202
        assert api.post("/v1/commands", token, disconnect).status_code == 202
        refused = api.post("/v1/commands", token, disconnect)
        assert refused.status_code == 429
        assert "dangerous" in refused.json()["detail"]
        assert api.post("/v1/commands", token, listing).status_code == 202  # not dangerous
        client_id, secret = api.new_client("distribution", name="operator-2")
        other = api.token_for(client_id, secret)
        assert api.post("/v1/commands", other, disconnect).status_code == 202
    finally:
        api.close()


def test_token_requests_are_limited(dataset, tmp_path, state_url) -> None:
    api = Api(dataset, tmp_path, state_url=state_url,
              rate_limits={**GENEROUS, "token": RateLimit(0.1, 2.0)})
    try:
        client_id, _secret = api.new_client("distribution")
        form = {"grant_type": "client_credentials", "client_id": client_id,
                "client_secret": "wrong"}
        codes = [api.client.post("/v1/oauth/token", data=form).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
    finally:
        api.close()
