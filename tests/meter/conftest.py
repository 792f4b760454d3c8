"""Fleets for meter tests."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from smame.meter import Fleet, FleetConfig, OutputConfig
from smame.readings import Period, Quantity, channel_code
from tests.conftest import jst

SUMMER_DAY = jst(2026, 7, 1)


def make_fleet(meters: int = 40, start: datetime = SUMMER_DAY, seed: int = 3, **kwargs) -> Fleet:
    kwargs.setdefault("transformer_outages_per_year", 0.0)
    kwargs.setdefault("feeder_outages_per_year", 0.0)
    return Fleet(FleetConfig(meters=meters, start=start, seed=seed, **kwargs))


def rows_of(table: pa.Table, quantity: Quantity, period: Period) -> dict[str, np.ndarray]:
    """Rows of one channel, sorted by meter then time, as numpy columns."""
    mask = pc.equal(table.column("channel"), channel_code(quantity, period))
    part = table.filter(mask).sort_by([("meter_id", "ascending"), ("interval_end", "ascending")])
    return {
        "meter_id": part.column("meter_id").to_numpy(),
        "end": part.column("interval_end").cast(pa.int64()).to_numpy(),
        "value": part.column("value").to_numpy(),
        "quality": part.column("quality").to_numpy(),
    }


def per_meter(rows: dict[str, np.ndarray], meters: int) -> np.ndarray:
    """Values reshaped to (meters, intervals); every meter must have the same count."""
    return rows["value"].reshape(meters, -1)


@pytest.fixture(scope="module")
def one_minute_day():
    """40 meters for a summer day with every 1-minute value emitted."""
    fleet = make_fleet(output=OutputConfig(one_minute=True, five_minute_share=1.0))
    for row in range(0, 40, 4):
        fleet.set_soft_switch(row, 15)
    table = pa.concat_tables(fleet.advance(1440))
    return fleet, table
