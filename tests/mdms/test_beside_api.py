"""The MDMS jobs while ``smame api serve`` runs on the same data directory (issue 13, item 1).

Every test starts its own processes: a real API server and real ``smame mdms`` commands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mdms.served import (
    DAY1,
    DAY2,
    Fleet,
    meter_ids,
    serve,
    simulate_fleet,
    smame,
    wait_until,
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return simulate_fleet(tmp_path_factory.mktemp("fleet"))


def _store(fleet: Fleet, data: Path) -> None:
    done = smame("mdms", "ingest", str(fleet.simulation), "--data", str(data))
    assert done.returncode == 0, done.stderr


def test_ingest_while_the_api_serves_lands_and_the_api_shows_it(fleet, tmp_path):
    data = tmp_path / "data"
    _store(fleet, data)
    meter = meter_ids(fleet)[0]
    with serve(data) as api:
        assert api.values(meter, DAY1) == 48
        assert api.values(meter, DAY2) == 0
        done = smame("mdms", "ingest", str(fleet.days[1]), "--data", str(data))
        assert done.returncode == 0, done.stderr
        assert "stored in" in done.stdout
        wait_until(lambda: api.values(meter, DAY2) == 48, 10, "the API to show the new day")
