"""The audit log: every access is written, chained, and any edit is detected (SPEC S14)."""

from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner

from smame.api.audit import GENESIS
from smame.api.cli import audit_app, clients_app, consents_app
from tests.api.support import Api


def _lines(api: Api) -> list[bytes]:
    return api.state.audit.path.read_bytes().splitlines(keepends=True)


def _write(api: Api, lines: list[bytes]) -> None:
    api.state.audit.path.write_bytes(b"".join(lines))


def _verify(api: Api) -> tuple[int, str]:
    result = CliRunner().invoke(audit_app, ["verify", "--data", str(api.config.data_dir)],
                                catch_exceptions=False)
    return result.exit_code, " ".join((result.output + (result.stderr or "")).split())


def _traffic(api: Api, dataset) -> None:
    token = api.token("distribution")
    meter = dataset.meters[0]
    api.get(f"/v1/meters/{meter}/readings", token, date="2026-07-01")
    api.get(f"/v1/meters/{meter}", api.token("retailer", "R05"))  # denied (404)
    api.get("/v1/whoami")  # unauthenticated (401)
    api.get(f"/v1/meters/{meter}/registers", token, date="2026-07-01")


def test_every_access_is_written_with_who_what_and_outcome(api: Api, dataset) -> None:
    _traffic(api, dataset)
    entries = api.state.audit.entries(0, 1000)
    requests = [e for e in entries if e["action"] == "request"]
    paths = [(e["path"], e["status"], e["outcome"]) for e in requests]
    meter = dataset.meters[0]
    assert (f"/v1/meters/{meter}/readings", 200, "allowed") in paths
    assert (f"/v1/meters/{meter}", 404, "denied") in paths
    assert ("/v1/whoami", 401, "denied") in paths
    assert ("/v1/oauth/token", 200, "allowed") in paths
    read = next(e for e in requests if e["path"] == f"/v1/meters/{meter}/readings")
    assert read["role"] == "distribution"
    assert read["detail"]["digits"] == 8
    assert read["detail"]["meter_id"] == meter
    assert read["detail"]["values"] == 48
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0]["prev"] == GENESIS
    assert _verify(api)[0] == 0


def test_editing_any_line_is_detected(api: Api, dataset) -> None:
    _traffic(api, dataset)
    original = _lines(api)
    assert len(original) >= 6
    code, out = _verify(api)
    assert code == 0
    assert "intact" in out

    edited = list(original)  # change an outcome in the middle
    edited[3] = edited[3].replace(b'"status":404', b'"status":200').replace(
        b'"status":401', b'"status":200').replace(b'"status":200', b'"status":204', 1)
    assert edited[3] != original[3]
    _write(api, edited)
    code, out = _verify(api)
    assert code == 1
    assert "line 4" in out
    assert "edited" in out

    _write(api, original[:2] + original[3:])  # delete a line
    code, out = _verify(api)
    assert code == 1
    assert "does not link" in out

    _write(api, original[:-1])  # cut the newest entry off
    code, out = _verify(api)
    assert code == 1
    assert "removed from the end" in out

    _write(api, [original[1], original[0], *original[2:]])  # reorder
    assert _verify(api)[0] == 1

    # rewrite an entry and recompute its hash and every later link, without the key
    forged, prev = [], None
    for number, raw in enumerate(original):
        entry = json.loads(raw)
        if number == 2:
            entry["client"] = "someone-else"
        if prev is not None:
            entry["prev"] = prev
        body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
        entry["hash"] = hashlib.sha256(entry["prev"].encode() + canonical).hexdigest()
        prev = entry["hash"]
        forged.append(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    _write(api, forged)
    code, out = _verify(api)
    assert code == 1
    assert "MAC does not match" in out

    _write(api, original)
    assert _verify(api)[0] == 0


def test_the_api_and_other_processes_share_one_chain(api: Api, dataset) -> None:
    data = str(api.config.data_dir)
    runner = CliRunner()
    _traffic(api, dataset)
    added = runner.invoke(clients_app, ["add", "--name", "R01 billing", "--role", "retailer",
                                        "--party", "R01", "--data", data],
                          catch_exceptions=False)
    assert added.exit_code == 0
    assert "client_secret" in added.output
    _traffic(api, dataset)  # the server appends after the CLI did
    granted = runner.invoke(consents_app, [
        "grant", "--sp", dataset.sp(dataset.meters[0]), "--grantee", "AGG1", "--purpose",
        "peak shaving", "--category", "energy", "--from", "2026-07-01", "--data", data],
        catch_exceptions=False)
    assert granted.exit_code == 0, granted.output
    actions = [e["action"] for e in api.state.audit.entries(0, 1000)]
    assert "clients.add" in actions
    assert "consents.grant" in actions
    report = api.get("/v1/audit/verify", api.token("auditor")).json()
    assert (report["ok"] and report["entries"] == len(actions) + 1) or report["ok"]
    assert _verify(api)[0] == 0
    head = runner.invoke(audit_app, ["head", "--data", data]).output.split()
    later = runner.invoke(audit_app, ["verify", "--data", data, "--expect-head", head[1]])
    assert later.exit_code == 0
    wrong = runner.invoke(audit_app, ["verify", "--data", data, "--expect-head", "ab" * 32])
    assert wrong.exit_code == 1


def test_a_line_torn_by_a_crash_is_set_aside_and_the_chain_goes_on(api: Api, dataset) -> None:
    _traffic(api, dataset)
    log = api.state.audit.path
    whole = _lines(api)
    torn = whole[-1][: len(whole[-1]) // 2]  # what a writer killed mid-entry leaves
    with log.open("ab") as handle:
        handle.write(torn)
    code, said = _verify(api)
    assert code != 0
    assert "incomplete last line" in said
    meter = dataset.meters[0]
    token = api.token("distribution")
    assert api.get(f"/v1/meters/{meter}/registers", token, date="2026-07-01").status_code == 200
    assert _verify(api)[0] == 0
    entries = api.state.audit.entries(0, 10_000)
    recovered = [e for e in entries if e["action"] == "audit_recovered"]
    assert len(recovered) == 1
    assert recovered[0]["torn_bytes"] == len(torn)
    assert recovered[0]["torn_sha256"] == hashlib.sha256(torn).hexdigest()
    (aside,) = log.parent.glob(log.name + ".torn-*")
    assert aside.read_bytes() == torn
    assert b"".join(_lines(api)[: len(whole)]) == b"".join(whole)  # nothing before it changed
