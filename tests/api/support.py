"""A small simulated MDMS data directory and an API client for the API tests."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smame.api import ApiConfig, ApiState, RateLimit, create_app
from smame.clock import JST, SimulatedClock
from smame.mdms import Mdms, ingest_simulation
from smame.meter import FleetConfig, OutputConfig
from smame.meter.simulate import simulate
from smame.store.layout import day_start
from smame.store.registry import service_point_id

DAY1, DAY2 = date(2026, 7, 1), date(2026, 7, 2)
START = day_start(DAY1)
METERS = 40
OPTED_OUT_METER = 900_000_001
OPTED_OUT_SP = service_point_id(3, OPTED_OUT_METER)
GENEROUS = {"read": RateLimit(10_000, 10_000), "export": RateLimit(100, 100),
            "instantaneous": RateLimit(100, 100), "command": RateLimit(100, 100),
            "dangerous": RateLimit(100, 100), "token": RateLimit(1000, 1000)}
BOTH_STATES = pytest.mark.parametrize("state_url", ["sqlite", "postgresql"], indirect=True)
"""Run a test module's tests on either access state (``pytestmark = BOTH_STATES``)."""


@dataclass
class Dataset:
    """A 40-meter fleet's two simulated days in an MDMS, with a retailer switch, an
    opted-out service point and a sub-meter feed."""

    root: Path
    mdms: Mdms
    switched_meter: int  # its service point moves to R01 on DAY2
    switched_from: str
    sub_main_meter: int | None
    meters: list[int] = field(default_factory=list)

    def sp(self, meter_id: int) -> str:
        return service_point_id(3, meter_id)

    def retailer(self, meter_id: int) -> str:
        return ("R01", "R02", "R03", "R04", "R05")[meter_id % 5]


def build_dataset(root: Path) -> Dataset:
    config = FleetConfig(meters=METERS, start=datetime(2026, 7, 1, tzinfo=JST), seed=3,
                         transformer_outages_per_year=60.0,
                         output=OutputConfig(five_minute_share=0.3))
    simulate(config, 2, root / "fleet")
    mdms = Mdms(root / "data", clock=SimulatedClock(START + 3 * 86400))
    ingest_simulation(mdms, root / "fleet")
    registry = mdms.registry
    meters = sorted(int(m) for m in registry.table("meters").column("meter_id").to_pylist())
    switched = next(m for m in meters if m % 5 == 2)  # supplied by R03 …
    registry.set_retailer(service_point_id(3, switched), "R01", DAY2)  # … then by R01
    registry.load("service_points", {"sp_id": [OPTED_OUT_SP], "transformer_id": [0],
                                     "voltage": [100], "contract_amps": [30]})
    registry.load("meters", {"meter_id": [OPTED_OUT_METER], "sp_id": [OPTED_OUT_SP],
                             "kind": ["conventional"], "unit_exponent": [-2],
                             "installed": [DAY1]})
    registry.load("supply_contracts", {"sp_id": [OPTED_OUT_SP], "retailer_id": ["R01"],
                                       "valid_from": [DAY1], "valid_to": [None]})
    subs = registry.sub_meters().to_pylist()
    main = None
    if subs:
        main = int(subs[0]["main_meter_id"])
        feed = root / "feed.csv"
        with feed.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sub_meter_id", "interval_end", "energy_wh"])
            for k in range(1, 49):
                end = datetime.fromtimestamp(START + k * 1800, JST).isoformat()
                writer.writerow([subs[0]["sub_meter_id"], end, 40])
        mdms.ingest_sub_meter_feed(feed)
    return Dataset(root, mdms, switched, "R03", main, meters)


class Api:
    """An app over a dataset, a TestClient, and tokens by role."""

    def __init__(self, dataset: Dataset, work: Path, **config) -> None:
        limits = config.pop("rate_limits", GENEROUS)
        self.clock = SimulatedClock(datetime(2026, 11, 1, tzinfo=JST))
        # data_dir only places the API's state (work/api): the MDMS is the dataset's
        self.config = ApiConfig(work, secret_cost=2**4, rate_limits=limits, **config)
        self.dataset = dataset
        self.state = ApiState.open(self.config, dataset.mdms, self.clock)
        self.app = create_app(state=self.state, refresh=False)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.client.__enter__()  # a running event loop (the portal) for command tasks
        self._tokens: dict[tuple[str, str | None], str] = {}
        self.secrets: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.state.close()

    def run(self, coroutine_function, *args):
        """Run an async function on the app's event loop and wait for it."""
        return self.client.portal.call(coroutine_function, *args)

    def new_client(self, role: str, party: str | None = None, name: str | None = None
                   ) -> tuple[str, str]:
        client, secret = self.state.clients.add(name or f"{role}-{party}", role, party)
        return client.client_id, secret

    def token_for(self, client_id: str, secret: str, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials", "client_id": client_id,
                "client_secret": secret}
        if scope:
            data["scope"] = scope
        answer = self.client.post("/v1/oauth/token", data=data)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def token(self, role: str, party: str | None = None) -> str:
        key = (role, party)
        if key not in self._tokens:
            client_id, secret = self.new_client(role, party)
            self.secrets[f"{role}:{party}"] = (client_id, secret)
            self._tokens[key] = self.token_for(client_id, secret)
        return self._tokens[key]

    def get(self, path: str, token: str | None = None, **params):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, params=params, headers=headers)

    def post(self, path: str, token: str | None, json=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(path, json=json, headers=headers)

    def delete(self, path: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.delete(path, headers=headers)


class FakeHeadEnd:
    """A head-end stand-in: the real command queue, with meters that answer at once."""

    def __init__(self, meter_ids: list[int], clock, fail: set[int] | None = None) -> None:
        from smame.hes.commands import CommandError, CommandQueue

        self.events: list = []
        self.executed: list[tuple[str, int, dict]] = []
        self._fail = fail or set()
        self._ids = list(meter_ids)
        self._error = CommandError

        class _Registry:
            def meter_ids(registry) -> list[int]:  # noqa: N805
                return list(self._ids)

        self.registry = _Registry()
        self._reservations = 0

        async def execute(kind, meter_id, params):
            self.executed.append((str(kind), meter_id, dict(params)))
            if meter_id in self._fail:
                raise self._error("the meter refused")
            if str(kind) == "reserve_limit":
                self._reservations += 1
                return {"id": self._reservations, "time": params["at"], "amps": params["amps"]}
            if str(kind) == "read_instantaneous":
                return {"power_w": 512.0, "reactive_var": 40.0, "voltage_v": 101.2,
                        "current_l1_a": 3.1, "current_l2_a": 2.0}
            if str(kind) == "list_reservations":
                return []
            return None

        self.commands = CommandQueue(execute, clock, retries=0)
