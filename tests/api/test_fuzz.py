"""Schemathesis against the OpenAPI document: malformed and random requests get a 4xx with
a clear message, never a server error (SPEC S7, S14)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.support import DAY1, Api, FakeHeadEnd

EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_api(dataset, tmp_path_factory) -> Iterator[Api]:
    api = Api(dataset, tmp_path_factory.mktemp("fuzz"))
    api.state.attach_headend(FakeHeadEnd(dataset.meters, api.state.data_clock))
    api.state.consents.grant(dataset.sp(dataset.meters[0]), "AGG1", ["energy"], "fuzzing",
                             DAY1)
    api.tokens = {role: api.token(role, party) for role, party in (
        ("distribution", None), ("data_association", "ASSOC"), ("admin", None),
        ("retailer", "R02"), ("aggregator", "AGG1"))}
    yield api
    api.close()


_TOKEN_BY_TAG = {"administration": "admin", "consents": "data_association"}


def _exercise(api: Api, operation, mode: GenerationMode, failures: list[str],
              **fixed) -> int:
    tags = operation.tags or []
    role = next((_TOKEN_BY_TAG[t] for t in tags if t in _TOKEN_BY_TAG), "distribution")
    headers = {} if operation.path.endswith("/oauth/token") else {
        "Authorization": f"Bearer {api.tokens[role]}"}
    calls = 0

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def run(case) -> None:
        nonlocal calls
        calls += 1
        if "path_parameters" in fixed:
            case.path_parameters = {**(case.path_parameters or {}), **fixed["path_parameters"]}
        if "query" in fixed:
            query = {k: v for k, v in (case.query or {}).items() if k not in ("start", "end")}
            case.query = {**query, **fixed["query"]}
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except AssertionError as exc:
            failures.append(f"{operation.label} [{mode.value}, {fixed}]: {str(exc)[:400]}")
        except BaseExceptionGroup as exc:  # several checks failed
            failures.append(f"{operation.label} [{mode.value}, {fixed}]: "
                            f"{type(exc).__name__}: {str(exc)[:400]}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
        assert mode is GenerationMode.NEGATIVE
    return calls


def test_no_server_errors(fuzz_api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", fuzz_api.app)
    failures: list[str] = []
    calls = operations = 0
    meter = fuzz_api.dataset.meters[0]
    known = {"meter_id": meter, "sp_id": fuzz_api.dataset.sp(meter)}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            calls += _exercise(fuzz_api, operation, mode, failures)
        # deeper: a real meter and service point, and a day with data
        names = {p.name for p in operation.iter_parameters()}
        fixed = {}
        path = {k: v for k, v in known.items() if k in names}
        if path:
            fixed["path_parameters"] = path
        if "date" in names:
            fixed["query"] = {"date": "2026-07-02"}
        if fixed:
            calls += _exercise(fuzz_api, operation, GenerationMode.POSITIVE, failures, **fixed)
    assert operations >= 30
    assert calls >= operations * EXAMPLES
    print(f"{operations} operations, {calls} requests")
    assert not failures, "\n".join(failures[:20])


def test_the_openapi_document_describes_the_api(fuzz_api: Api) -> None:
    document = fuzz_api.client.get("/v1/openapi.json").json()
    paths = document["paths"]
    for path in ("/v1/oauth/token", "/v1/meters/{meter_id}/readings", "/v1/export",
                 "/v1/service-points/{sp_id}/greenbutton", "/v1/commands",
                 "/v1/commands/{command_id}/approve", "/v1/consents", "/v1/audit/verify",
                 "/v1/meters/{meter_id}/instantaneous", "/v1/fleet/collection",
                 "/v1/fleet/outages", "/v1/settlement", "/v1/joint-readings",
                 "/v1/meters/{meter_id}/differential", "/v1/meters/{meter_id}/registers",
                 "/v1/statistics/consumption", "/v1/grid/outages", "/v1/grid/voltage"):
        assert path in paths, path
    assert document["info"]["version"] == "1.0.0"
