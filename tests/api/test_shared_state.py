"""Several API processes on one PostgreSQL state enforce the same rate limits and the same
two-person rule, and read the registry from it (SPEC S9, S14)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smame.api import ApiConfig, ApiState, create_app
from smame.api.state import open_access
from smame.cli import app as smame_app
from smame.mdms import Mdms
from smame.servers.postgres import LocalPostgres, PostgresMissingError
from smame.store.registry import service_point_id
from tests.api.support import Api, FakeHeadEnd

START_DAY = "2026-07-01"
LIVE_METERS = 5
MASS = 2  # more meters than this need a second operator


def wait_for(condition, what: str, deadline_s: float = 120.0, process=None):
    """Poll ``condition`` until it returns something true, or fail naming ``what``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the API process exited ({process.returncode}) before {what}")
        found = condition()
        if found:
            return found
        time.sleep(0.05)  # a poll interval, not a synchronisation
    pytest.fail(f"no {what} within {deadline_s:g} s")


@dataclass
class ApiProcess:
    """``smame api serve --live-meters`` in its own process, on the shared state."""

    process: subprocess.Popen
    data: Path

    def login(self, name: str) -> dict:
        path = self.data / "api" / "logins" / f"{name}.json"
        return json.loads(path.read_text())

    @property
    def url(self) -> str:
        return self.login("retailer-R01")["token_url"].removesuffix("/v1/oauth/token")

    def token(self, name: str) -> str:
        login = self.login(name)
        answer = httpx.post(login["token_url"], data={
            "grant_type": "client_credentials", "client_id": login["client_id"],
            "client_secret": login["client_secret"]}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def get(self, path: str, token: str) -> httpx.Response:
        return httpx.get(f"{self.url}/v1{path}", headers={"Authorization": f"Bearer {token}"},
                         timeout=30)

    def post(self, path: str, token: str, body: dict | None = None) -> httpx.Response:
        return httpx.post(f"{self.url}/v1{path}", json=body,
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _start(data: Path, state_url: str) -> ApiProcess:
    log = (data.parent / f"{data.name}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "api", "serve", "--data", str(data), "--port", "0",
         "--live-meters", str(LIVE_METERS), "--seed", "0", "--start", START_DAY,
         "--mass-threshold", str(MASS), "--read-rate", "0.01", "--state", state_url],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    log.close()
    return ApiProcess(process, data)


@pytest.fixture
def two_apis(tmp_path: Path, postgres_db: str) -> Iterator[tuple[ApiProcess, ApiProcess]]:
    """Two API processes (each with its live fleet and head-end) on one PostgreSQL state;
    reads allowed once per client per 100 s."""
    apis = [_start(tmp_path / name, postgres_db) for name in ("a", "b")]
    try:
        for api in apis:
            wait_for(lambda api=api: (api.data / "api" / "logins" / "retailer-R01.json"
                                      ).exists(), "login files", process=api.process)
        yield apis[0], apis[1]
    finally:
        for api in apis:
            api.process.terminate()
        for api in apis:
            try:
                api.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                api.process.kill()
                api.process.wait(timeout=30)


def test_two_api_processes_share_rate_limits_and_the_two_person_rule(two_apis) -> None:
    a, b = two_apis
    assert a.url != b.url
    # rate limits: the retailer's one read, spent on A, is gone on B too
    retailer = a.token("retailer-R01")
    assert a.get("/meters", retailer).status_code == 200
    refused = b.get("/meters", retailer)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert b.get("/meters", b.token("retailer-R01")).status_code == 200  # another client
    # the two-person rule: submitted on A, its submitter cannot approve it on either
    first, second = a.token("operator-1"), a.token("operator-2")
    meters = [m["meter_id"] for m in a.get("/meters", first).json()["items"]]
    assert len(meters) == LIVE_METERS > MASS
    submitted = a.post("/commands", first, {"kind": "list_reservations",
                                          "meter_ids": meters})
    assert submitted.status_code == 202, submitted.text
    command = submitted.json()
    assert command["status"] == "pending_approval"
    approve = f"/commands/{command['correlation_id']}/approve"
    for api in (a, b):
        own = api.post(approve, first)
        assert own.status_code == 403, own.text
        assert own.json()["error"] == "two_person_rule"
    approved = b.post(approve, second)  # a second operator, on the other process
    assert approved.status_code == 200, approved.text
    assert approved.json()["approval"]["decided_by"] == a.login("operator-2")["client_id"]
    assert approved.json()["status"] != "pending_approval"
    again = a.post(approve, second)
    assert again.status_code == 409  # decided already, in the shared book
    seen = a.get(f"/commands/{command['correlation_id']}", second).json()
    assert seen["approval"]["decided_by"] == a.login("operator-2")["client_id"]


def test_state_init_copies_the_registry_that_the_api_then_reads(tmp_path: Path,
                                                                  postgres_db: str) -> None:
    sp = service_point_id(3, 77)
    with Mdms(tmp_path / "data") as mdms:
        mdms.registry.load("service_points", {"sp_id": [sp], "transformer_id": [1],
                                              "voltage": [100], "contract_amps": [30]})
        mdms.registry.load("meters", {"meter_id": [77], "sp_id": [sp],
                                      "kind": ["conventional"], "unit_exponent": [-2],
                                      "installed": [None]})
    runner = CliRunner()
    args = ["api", "state-init", "--data", str(tmp_path / "data"), "--state", postgres_db]
    first = runner.invoke(smame_app, args)
    assert first.exit_code == 0, first.output
    assert "1 meters, 1 service points" in " ".join(first.output.split())
    again = runner.invoke(smame_app, args)
    assert again.exit_code == 0, again.output
    assert "already holds 1 meters" in " ".join(again.output.split())
    added = runner.invoke(smame_app, ["clients", "add", "--name", "operator", "--role",
                                      "distribution", "--data", str(tmp_path / "data")],
                          env={"SMAME_STATE": postgres_db})
    assert added.exit_code == 0, added.output
    client_id = re.search(r"client_id\s+(\S+)", added.output).group(1)
    secret = re.search(r"client_secret\s+(\S+)", added.output).group(1)
    state = ApiState.open(ApiConfig(tmp_path / "data", state_url=postgres_db))
    try:
        with TestClient(create_app(state=state, refresh=False)) as http:
            token = http.post("/v1/oauth/token", data={
                "grant_type": "client_credentials", "client_id": client_id,
                "client_secret": secret}).json()["access_token"]
            listed = http.get("/v1/meters", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        assert [m["meter_id"] for m in listed.json()["items"]] == [77]
        assert listed.json()["items"][0]["sp_id"] == sp
    finally:
        state.close()


def test_a_bad_or_unreachable_state_is_one_line(tmp_path: Path) -> None:
    Mdms(tmp_path / "data").close()
    runner = CliRunner()
    for state, said in (("sqlite:///x.db", "is not a PostgreSQL URL"),
                        ("postgresql://smame@127.0.0.1:1/none",
                         "cannot reach the PostgreSQL state database")):
        result = runner.invoke(smame_app, ["clients", "list", "--data", str(tmp_path / "data"),
                                           "--state", state])
        assert result.exit_code == 2, result.output
        assert said in " ".join(result.output.split())
        assert len(result.output.strip().splitlines()) == 1


def test_the_api_answers_again_once_its_postgresql_is_back(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="smame-pg-restart-"))
    root.chmod(0o755)  # as root the server runs as `postgres`, which must reach it
    try:
        server = LocalPostgres(root / "pg")
    except PostgresMissingError as exc:
        pytest.skip(f"PostgreSQL server missing: {exc}")
    Mdms(tmp_path / "data").close()
    try:
        with server:
            url = server.create_database("state")
            state = ApiState.open(ApiConfig(tmp_path / "data", state_url=url,
                                            secret_cost=2**4))
            try:
                client, secret = state.clients.add("operator", "distribution")
                form = {"grant_type": "client_credentials", "client_id": client.client_id,
                        "client_secret": secret}
                with TestClient(create_app(state=state, refresh=False),
                                raise_server_exceptions=False) as http:
                    assert http.post("/v1/oauth/token", data=form).status_code == 200
                    server.kill()
                    assert http.post("/v1/oauth/token", data=form).status_code == 500
                    server.start()
                    assert http.post("/v1/oauth/token", data=form).status_code == 200
            finally:
                state.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def two_on_one_state(dataset, tmp_path: Path, postgres_db: str
                     ) -> Iterator[tuple[Api, Api, FakeHeadEnd, FakeHeadEnd]]:
    """Two API instances, each with its head-end, on one PostgreSQL state."""
    apis = [Api(dataset, tmp_path / name, state_url=postgres_db, mass_command_meters=10,
                operator_window_meters=10) for name in ("a", "b")]
    ends = [FakeHeadEnd(dataset.meters, api.state.data_clock) for api in apis]
    for api, hes in zip(apis, ends, strict=True):
        api.state.attach_headend(hes)
    try:
        yield apis[0], apis[1], ends[0], ends[1]
    finally:
        for api in apis:
            api.close()


def _at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_approvals_at_once_on_two_instances_dispatch_the_command_once(
        two_on_one_state) -> None:
    a, b, hes_a, hes_b = two_on_one_state
    submitter = a.token_for(*a.new_client("distribution", name="operator-1"))
    second = a.token_for(*a.new_client("distribution", name="operator-2"))
    third = a.token_for(*a.new_client("distribution", name="operator-3"))
    meters = a.dataset.meters[:12]
    command = a.post("/v1/commands", submitter, {"kind": "list_reservations",
                                                 "meter_ids": meters}).json()
    assert command["status"] == "pending_approval"
    approve = f"/v1/commands/{command['correlation_id']}/approve"
    answers = _at_once(lambda: a.post(approve, second), lambda: b.post(approve, third))
    assert sorted(r.status_code for r in answers) == [200, 409]
    a.run(hes_a.commands.drain)
    b.run(hes_b.commands.drain)
    assert sorted(m for _k, m, _p in hes_a.executed + hes_b.executed) == sorted(meters)


def test_small_commands_at_once_on_two_instances_do_not_slip_under_the_window(
        two_on_one_state) -> None:
    a, b, hes_a, hes_b = two_on_one_state
    login = a.new_client("distribution", name="operator-1")
    token_a, token_b = a.token_for(*login), b.token_for(*login)
    meters = a.dataset.meters
    answers = _at_once(
        lambda: a.post("/v1/commands", token_a, {"kind": "disconnect",
                                                 "meter_ids": meters[:6]}),
        lambda: b.post("/v1/commands", token_b, {"kind": "disconnect",
                                                 "meter_ids": meters[6:12]}))
    assert [r.status_code for r in answers] == [202, 202]
    # 12 meter-commands against a window of 10: the later of the two waits for approval
    assert sorted(r.json()["status"] == "pending_approval" for r in answers) == [False, True]
    a.run(hes_a.commands.drain)
    b.run(hes_b.commands.drain)
    assert len(hes_a.executed + hes_b.executed) == 6


def test_api_serve_on_a_shared_state_says_so_and_knows_its_clients(tmp_path: Path,
                                                                   postgres_db: str) -> None:
    Mdms(tmp_path / "data").close()
    db, clients, _ = open_access(tmp_path / "elsewhere", state_url=postgres_db,
                                 secret_cost=2**4)
    try:
        client, secret = clients.add("billing", "retailer", "R01")
    finally:
        db.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "api", "serve", "--data", str(tmp_path / "data"),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "300", "SMAME_STATE": postgres_db})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the port is taken
        url = re.search(r"smame API on (http://127\.0\.0\.1:\d+)/v1", line)
        assert url, line
        where = postgres_db.replace("smame@", "")
        assert f"shared state {where}" in line
        answer = httpx.post(f"{url.group(1)}/v1/oauth/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": client.client_id,
            "client_secret": secret})
        assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        process.wait(timeout=30)
