"""The API beside a live system, as the demo leaves it: the collected day, and commands that
reach real meters over DLMS (SPEC S2, S9)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import httpx
from rich.console import Console
from typer.testing import CliRunner

from smame.api.config import ApiConfig
from smame.api.live import LiveApi, serve_system
from smame.cli import app as smame_app
from smame.hes.headend import HesConfig
from smame.mdms import Mdms, MdmsSink, seed_registry
from smame.meter import Fleet, FleetConfig
from smame.meter.simulate import meters_table
from smame.system import running_a_route
from tests.api.support import JST

DAY = date(2026, 7, 1)


def _at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 7, 1, hour, minute, tzinfo=JST).timestamp()


async def _demo_then_console(work: Path, out: io.StringIO) -> dict:
    fleet = Fleet(FleetConfig(meters=12, start=datetime(2026, 7, 1, tzinfo=JST), seed=2))
    mdms = Mdms(work / "mdms")
    seed_registry(mdms.registry, meters_table(fleet), fleet.joint_meters(), DAY)
    found: dict = {}
    async with running_a_route(fleet, 3600, MdmsSink(mdms), work,
                               HesConfig(push_grace_seconds=300)) as (system, drive):
        await asyncio.gather(drive(_at(2)), system.headend.run_schedule(_at(2, 5)))
        system.headend.flush()
        stop = asyncio.Event()
        started: asyncio.Future[LiveApi] = asyncio.get_running_loop().create_future()
        console = Console(file=out, width=200)
        serving = asyncio.create_task(serve_system(
            system, drive, mdms, ApiConfig(work / "mdms"), port=0, console=console, stop=stop,
            ready=started.set_result))
        live = await started
        found["logins"] = dict(live.logins)
        client_id, secret = live.logins["operator-1"]
        async with httpx.AsyncClient(base_url=live.url) as http:
            token = (await http.post("/v1/oauth/token", data={
                "grant_type": "client_credentials", "client_id": client_id,
                "client_secret": secret})).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            found["collection"] = (await http.get("/v1/fleet/collection",
                                                  params={"date": DAY.isoformat()},
                                                  headers=auth)).json()
            meter = int(fleet.meter_ids[0])
            curve = (await http.get(f"/v1/meters/{meter}/readings",
                                    params={"date": DAY.isoformat()}, headers=auth)).json()
            found["values"] = len(curve["MeterReadings"][0]["IntervalBlocks"][0][
                "IntervalReadings"])
            sent = (await http.post("/v1/commands", json={
                "kind": "set_limit", "meter_ids": [meter], "amps": 30}, headers=auth)).json()
            await system.headend.commands.drain()  # the meters answered over DLMS
            found["command"] = (await http.get(f"/v1/commands/{sent['correlation_id']}",
                                               headers=auth)).json()
            asked = (await http.post(f"/v1/meters/{meter}/instantaneous",
                                     headers=auth)).json()
            await system.headend.commands.drain()
            found["instant"] = (await http.get(asked["href"], headers=auth)).json()
            found["limit"] = int(fleet.limit_a[0])
        stop.set()
        await serving
    mdms.close()
    return found


def test_the_api_on_a_collected_day_serves_it_and_commands_reach_meters(tmp_path) -> None:
    out = io.StringIO()
    found = asyncio.run(_demo_then_console(tmp_path, out))
    printed = " ".join(out.getvalue().split())
    assert "Operator console: http://127.0.0.1:" in printed
    assert "operator-1 client id smc_" in printed
    assert "operator-2" in printed
    for name, (client_id, secret) in found["logins"].items():
        assert secret not in printed  # never two operators' secrets on one console
        path = tmp_path / "mdms" / "api" / "logins" / f"{name}.json"
        assert f"{name} client id {client_id} login file {path} (mode 0600)" in printed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text())["client_secret"] == secret
    closed = [s for s in found["collection"]["slots"] if s["received"]]
    assert len(closed) >= 4
    assert all(s["rate"] == 1.0 for s in closed)
    assert found["values"] >= 4
    assert found["command"]["status"] == "succeeded"
    assert found["limit"] == 30  # the meter's breaker limit really changed
    assert found["instant"]["done"]
    assert 80 < found["instant"]["values"]["voltage_v"] < 120


def test_api_serve_on_a_free_port_says_where_and_answers(tmp_path) -> None:
    Mdms(tmp_path / "d").close()  # an empty MDMS data directory
    process = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "api", "serve", "--data", str(tmp_path / "d"),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the port is taken
        url = re.search(r"smame API on (http://127\.0\.0\.1:(\d+))/v1", line)
        assert url, line
        assert int(url.group(2)) > 0
        answer = httpx.get(f"{url.group(1)}/v1/openapi.json", timeout=30)
        assert answer.status_code == 200
        assert answer.json()["info"]["title"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_api_serve_on_a_taken_port_is_one_line(tmp_path) -> None:
    Mdms(tmp_path / "d").close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(smame_app, ["api", "serve", "--data",
                                                str(tmp_path / "d"), "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in " ".join(result.output.split())


def test_api_serve_refuses_bad_options(tmp_path) -> None:
    runner = CliRunner()
    for args, said in ((["--live-meters", "99999"], "--live-meters must be within 1–5000"),
                       (["--port", "70000"], "--port must be within 0–65535"),
                       (["--live-meters", "3", "--speed", "0"], "--speed must be within"),
                       (["--live-meters", "3", "--start", "July"], "is not a date")):
        result = runner.invoke(smame_app, ["api", "serve", "--data", str(tmp_path), *args])
        assert result.exit_code == 2, (args, result.output)
        assert said in result.output
    missing = runner.invoke(smame_app, ["api", "serve", "--data", str(tmp_path / "nothing")])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
