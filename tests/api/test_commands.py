"""Commands: correlation ids, the two-person rule for mass commands, instantaneous reads
(SPEC S2, S9, S14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import BOTH_STATES, Api, FakeHeadEnd

pytestmark = BOTH_STATES


@pytest.fixture
def ops(dataset, tmp_path: Path, state_url) -> Iterator[tuple[Api, FakeHeadEnd]]:
    api = Api(dataset, tmp_path, state_url=state_url, mass_command_meters=10)
    hes = FakeHeadEnd(dataset.meters, api.state.data_clock, fail={dataset.meters[-1]})
    api.state.attach_headend(hes)
    yield api, hes
    api.close()


def _operator(api: Api, name: str) -> str:
    client_id, secret = api.new_client("distribution", name=name)
    return api.token_for(client_id, secret)


def test_a_small_command_runs_at_once_with_a_correlation_id(ops) -> None:
    api, hes = ops
    token = _operator(api, "operator-1")
    meters = api.dataset.meters[:3]
    answer = api.post("/v1/commands", token, {"kind": "set_limit", "meter_ids": meters,
                                              "amps": 30})
    assert answer.status_code == 202, answer.text
    command = answer.json()
    assert command["status"] in ("queued", "running")
    assert not command["approval"]["required"]
    api.run(hes.commands.drain)
    done = api.get(f"/v1/commands/{command['correlation_id']}", token).json()
    assert done["status"] == "succeeded"
    assert done["summary"]["confirmed"] == 3
    assert sorted(m for _k, m, _p in hes.executed) == sorted(meters)


def test_a_mass_command_waits_for_a_second_operator(ops) -> None:
    api, hes = ops
    first, second = _operator(api, "operator-1"), _operator(api, "operator-2")
    meters = api.dataset.meters  # 40 meters, threshold 10
    at = "2026-07-04T18:00:00+09:00"
    answer = api.post("/v1/commands", first, {"kind": "reserve_limit", "meter_ids": meters,
                                              "amps": 20, "at": at})
    assert answer.status_code == 202
    command_id = answer.json()["correlation_id"]
    assert answer.json()["status"] == "pending_approval"
    api.run(hes.commands.drain)
    assert hes.executed == []  # never sent without approval

    own = api.post(f"/v1/commands/{command_id}/approve", first)
    assert own.status_code == 403
    assert own.json()["error"] == "two_person_rule"
    retailer = api.post(f"/v1/commands/{command_id}/approve", api.token("retailer", "R01"))
    assert retailer.status_code == 403
    assert hes.executed == []

    approved = api.post(f"/v1/commands/{command_id}/approve", second)
    assert approved.status_code == 200, approved.text
    assert approved.json()["approval"]["decided_by"] != approved.json()["submitted_by"]
    api.run(hes.commands.drain)
    done = api.get(f"/v1/commands/{command_id}", first).json()
    assert done["status"] == "partial"  # one meter refuses
    assert done["summary"] == {"confirmed": 39, "failed": 1, "pending": 0}
    assert len(hes.executed) == 40
    again = api.post(f"/v1/commands/{command_id}/approve", second)
    assert again.status_code == 409
    reservations = api.get(f"/v1/meters/{meters[0]}/reservations", first).json()
    assert reservations["reservations"][0]["amps"] == 20


def test_rejected_and_expired_mass_commands_never_run(ops) -> None:
    api, hes = ops
    first, second = _operator(api, "operator-1"), _operator(api, "operator-2")
    body = {"kind": "disconnect", "meter_ids": api.dataset.meters[:20]}
    rejected = api.post("/v1/commands", first, body).json()["correlation_id"]
    assert api.post(f"/v1/commands/{rejected}/reject", second).json()["status"] == "rejected"
    assert api.post(f"/v1/commands/{rejected}/approve", second).status_code == 409
    expired = api.post("/v1/commands", first, body).json()["correlation_id"]
    api.clock.advance(api.config.approval_ttl_s + 1)
    second = _operator(api, "operator-3")
    assert api.post(f"/v1/commands/{expired}/approve", second).status_code == 409
    assert api.get(f"/v1/commands/{expired}", second).json()["status"] == "expired"
    api.run(hes.commands.drain)
    assert hes.executed == []
    pending = api.get("/v1/commands", second, status="pending_approval").json()["items"]
    assert pending == []


def test_bad_commands_are_refused_before_anything_is_sent(ops) -> None:
    api, hes = ops
    token = _operator(api, "operator-1")
    meter = api.dataset.meters[0]
    bad = [
        {"kind": "set_limit", "meter_ids": [meter], "amps": 5},
        {"kind": "set_limit", "meter_ids": [meter]},
        {"kind": "reserve_limit", "meter_ids": [meter], "amps": 20,
         "at": "2026-07-01T10:00:00+09:00"},  # in the past for the meters' clock
        {"kind": "reserve_limit", "meter_ids": [meter], "amps": 20,
         "at": "2026-07-09T10:00:30+09:00"},  # not a whole minute
        {"kind": "reserve_limit", "meter_ids": [meter], "amps": 20, "at": "2026-07-09T10:00"},
        {"kind": "soft_switch", "meter_ids": [meter], "minutes": 10},
        {"kind": "explode", "meter_ids": [meter]},
        {"kind": "disconnect", "meter_ids": []},
        {"kind": "disconnect", "meter_ids": [123]},  # not served by the head-end
        {"kind": "disconnect", "meter_ids": [meter], "surprise": True},
        {"kind": "disconnect", "feeder_ids": [999]},
    ]
    for body in bad:
        answer = api.post("/v1/commands", token, body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
        assert answer.json()["detail"]
    api.run(hes.commands.drain)
    assert hes.executed == []


def test_instantaneous_read_by_correlation_id(ops) -> None:
    api, hes = ops
    meter = api.dataset.meters[0]
    retailer = api.token("retailer", api.dataset.retailer(meter))
    answer = api.post(f"/v1/meters/{meter}/instantaneous", retailer)
    assert answer.status_code == 202
    href = answer.json()["href"]
    api.run(hes.commands.drain)
    result = api.get(href, retailer).json()
    assert result["done"]
    assert result["values"]["voltage_v"] == 101.2
    other = api.token("retailer", "R05" if api.dataset.retailer(meter) != "R05" else "R04")
    assert api.get(href, other).status_code == 404
    assert api.post(f"/v1/meters/{meter}/instantaneous", other).status_code == 404


def test_commands_without_a_head_end_are_refused_clearly(api: Api, dataset) -> None:
    token = api.token("distribution")
    answer = api.post("/v1/commands", token, {"kind": "disconnect",
                                              "meter_ids": [dataset.meters[0]]})
    assert answer.status_code == 503
    assert "head-end" in answer.json()["detail"]


def test_splitting_a_mass_command_does_not_escape_the_two_person_rule(dataset, tmp_path,
                                                                       state_url) -> None:
    api = Api(dataset, tmp_path, state_url=state_url, mass_command_meters=10,
              operator_window_meters=10)
    hes = FakeHeadEnd(dataset.meters, api.state.data_clock)
    api.state.attach_headend(hes)
    try:
        login = api.new_client("distribution", name="operator-1")
        first, second = api.token_for(*login), _operator(api, "operator-2")
        meters = dataset.meters
        one = api.post("/v1/commands", first, {"kind": "set_limit", "meter_ids": meters[:9],
                                               "amps": 30}).json()
        assert one["status"] != "pending_approval"
        two = api.post("/v1/commands", first, {"kind": "disconnect",
                                               "meter_ids": meters[9:18]}).json()
        assert two["status"] == "pending_approval"  # 18 meter-commands within the hour
        assert "9 meter-commands by this operator in the last 3600 s" in two["approval"][
            "reason"]
        # reads do not count, and the window is the operator's own
        assert api.post("/v1/commands", first, {"kind": "clock_sync",
                                                "meter_ids": meters[:9]}).json()[
            "status"] != "pending_approval"
        assert api.post("/v1/commands", second, {"kind": "disconnect",
                                                 "meter_ids": meters[9:18]}).json()[
            "status"] != "pending_approval"
        api.run(hes.commands.drain)
        assert api.post(f"/v1/commands/{two['correlation_id']}/approve",
                        second).status_code == 200
        api.clock.advance(api.config.operator_window_s)  # the window rolls on
        first = api.token_for(*login)
        three = api.post("/v1/commands", first, {"kind": "set_limit",
                                                 "meter_ids": meters[:9], "amps": 40}).json()
        assert three["status"] != "pending_approval"
        assert three["approval"]["reason"] is None
    finally:
        api.close()
