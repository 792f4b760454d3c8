"""Fixtures of the DLMS tests."""

from __future__ import annotations

import pytest

from smame.dlms import DEMO_KEYS, MeterEndpoint
from tests.dlms.support import make_fleet


@pytest.fixture
def fleet():
    return make_fleet()


@pytest.fixture
def meter(fleet):
    return fleet.meter(1)


@pytest.fixture
def endpoint(meter):
    return MeterEndpoint(meter, DEMO_KEYS, random=lambda n: bytes(range(n)))
