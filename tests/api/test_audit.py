"""The audit log: every access is written, chained, and any edit is detected (SPEC S14)."""

from __future__ import annotations

import hashlib
import hmac
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


def _forge(lines: list[bytes], number: int, key: bytes | None = None) -> list[bytes]:
    """The log with entry ``number`` (from 0) changed and every hash and link after it
    recomputed — and the MACs too, given the audit key."""
    forged, prev = [], None
    for at, raw in enumerate(lines):
        entry = json.loads(raw)
        if at == number:
            entry["client"] = "someone-else"
        if prev is not None:
            entry["prev"] = prev
        body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
        entry["hash"] = hashlib.sha256(entry["prev"].encode() + canonical).hexdigest()
        if key is not None:
            entry["mac"] = hmac.new(key, entry["hash"].encode(), hashlib.sha256).hexdigest()
        prev = entry["hash"]
        forged.append(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    return forged


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
    _write(api, _forge(original, 2))
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


def _audit_cli(api: Api, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(audit_app, [*args, "--data", str(api.config.data_dir)],
                                catch_exceptions=False)
    return result.exit_code, " ".join((result.output + (result.stderr or "")).split())


def _head_path(api: Api):
    return api.state.audit.head_path


def test_cutting_entries_and_rewriting_the_head_without_the_key_is_detected(
        api: Api, dataset) -> None:
    _traffic(api, dataset)
    original = _lines(api)
    kept = json.loads(original[-3])
    _write(api, original[:-2])
    _head_path(api).write_text(json.dumps({"seq": kept["seq"], "hash": kept["hash"]}))
    code, out = _verify(api)
    assert code == 1
    assert "head file's MAC does not match" in out
    _head_path(api).unlink()  # or remove the head altogether
    code, out = _verify(api)
    assert code == 1
    assert "head file is missing" in out


def test_a_signed_checkpoint_exposes_truncation_and_rewriting_after_it(
        api: Api, dataset, tmp_path) -> None:
    _traffic(api, dataset)
    saved = (_lines(api), _head_path(api).read_bytes())  # what an insider keeps aside
    _traffic(api, dataset)
    anchor = tmp_path / "anchor.json"
    code, out = _audit_cli(api, "checkpoint", "--out", str(anchor))
    assert code == 0, out
    assert "key fingerprint" in out
    document = json.loads(anchor.read_text())
    assert document["seq"] == len(_lines(api)) - 1  # the last entry records the checkpoint
    assert document["seq"] > len(saved[0])
    _traffic(api, dataset)
    code, out = _audit_cli(api, "verify", "--checkpoint", str(anchor))
    assert code == 0
    assert f"holds the signed checkpoint of {document['time']} (seq {document['seq']}" in out

    # an insider cuts the log back to before the checkpoint and puts back the head file
    # saved then: every MAC holds, so the log alone cannot tell ...
    _write(api, saved[0])
    _head_path(api).write_bytes(saved[1])
    assert _verify(api)[0] == 0
    # ... but the checkpoint kept outside can
    code, out = _audit_cli(api, "verify", "--checkpoint", str(anchor))
    assert code == 1
    assert f"records seq {document['seq']}: entries were removed from the end" in out

    # a checkpoint edited to claim less is refused: its signature no longer holds
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**document, "seq": document["seq"] - 5}))
    code, out = _audit_cli(api, "verify", "--checkpoint", str(forged))
    assert code == 2
    assert "signature does not hold" in out
    assert _audit_cli(api, "checkpoint", "--out", str(anchor))[0] == 2  # never overwritten


def test_rewriting_with_the_audit_key_contradicts_a_checkpoint(api: Api, dataset,
                                                               tmp_path) -> None:
    _traffic(api, dataset)
    anchor = tmp_path / "anchor.json"
    assert _audit_cli(api, "checkpoint", "--out", str(anchor))[0] == 0
    key = (api.config.state / "audit.key").read_bytes()
    forged = _forge(_lines(api), 1, key)
    _write(api, forged)
    last = json.loads(forged[-1])
    head = hmac.new(key, f"head:{last['seq']}:{last['hash']}".encode(), hashlib.sha256)
    _head_path(api).write_text(json.dumps({"seq": last["seq"], "hash": last["hash"],
                                           "mac": head.hexdigest()}))
    assert _verify(api)[0] == 0  # whoever holds the key can rewrite the log ...
    code, out = _audit_cli(api, "verify", "--checkpoint", str(anchor))
    assert code == 1  # ... but not the checkpoint kept elsewhere
    assert "differs from the signed checkpoint" in out


def test_the_server_writes_a_signed_checkpoint_every_interval(api: Api, dataset) -> None:
    from smame.api.checkpoint import read_checkpoint

    _traffic(api, dataset)
    folder = api.state.audit.checkpoint_dir
    assert len(list(folder.glob("checkpoint-*.json"))) == 1
    _traffic(api, dataset)
    assert len(list(folder.glob("checkpoint-*.json"))) == 1  # not yet an hour later
    api.clock.advance(api.config.audit_checkpoint_s)
    _traffic(api, dataset)
    files = sorted(folder.glob("checkpoint-*.json"))
    assert len(files) == 2
    anchors = [read_checkpoint(f) for f in files]
    assert anchors[0].seq < anchors[1].seq
    assert api.state.audit.verify(checkpoints=tuple(anchors)).ok
    assert (api.config.state / "checkpoint.pub").read_text().strip() == anchors[0].public_key
