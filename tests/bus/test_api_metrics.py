"""`/metrics` on the API: Prometheus text with request latency by route template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import Api, Dataset, build_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    data = build_dataset(tmp_path_factory.mktemp("api-data"))
    yield data
    data.mdms.close()


@pytest.fixture
def api(dataset: Dataset, tmp_path: Path) -> Iterator[Api]:
    instance = Api(dataset, tmp_path)
    yield instance
    instance.close()


def request_count(api: Api, route: str, status: str) -> float:
    answer = api.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return sum(sample.value for family in text_string_to_metric_families(answer.text)
               for sample in family.samples
               if sample.name == "smame_api_request_seconds_count"
               and sample.labels == {"method": "GET", "route": route, "status": status})


def test_requests_are_timed_by_route_template(api: Api, dataset: Dataset):
    meter = dataset.meters[0]
    token = api.token("distribution")
    before = request_count(api, "/v1/meters/{meter_id}", "200")
    for _ in range(3):
        assert api.client.get(f"/v1/meters/{meter}",
                              headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert request_count(api, "/v1/meters/{meter_id}", "200") - before == 3
    refused = request_count(api, "/v1/meters/{meter_id}", "401")
    assert api.client.get(f"/v1/meters/{meter}").status_code == 401
    assert request_count(api, "/v1/meters/{meter_id}", "401") - refused == 1


def test_metrics_are_not_in_the_api_document_nor_audited(api: Api):
    assert "/metrics" not in api.client.get("/v1/openapi.json").json()["paths"]
    entries = len(api.state.audit.entries(0, 1000))
    assert api.client.get("/metrics").status_code == 200
    assert len(api.state.audit.entries(0, 1000)) == entries
