"""The shared rate-limit bucket (one SQL upsert) gives the answers of the in-memory one
(SPEC S14)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smame.api.config import RateLimit
from smame.api.db import PostgresAccessDb
from smame.api.ratelimit import MemoryBuckets, SqlBuckets, refill


@pytest.fixture(scope="module")
def shared_db(postgres_server) -> Iterator[PostgresAccessDb]:
    name = f"b{uuid.uuid4().hex[:12]}"
    db = PostgresAccessDb(postgres_server.create_database(name))
    yield db
    db.close()
    postgres_server.drop_database(name)


def test_refill_adds_rate_per_second_up_to_the_burst() -> None:
    limit = RateLimit(2.0, 5.0)
    assert refill(1.0, 100.0, 101.5, limit) == 4.0
    assert refill(1.0, 100.0, 200.0, limit) == 5.0
    assert refill(1.0, 100.0, 90.0, limit) == 1.0  # a clock behind adds nothing


steps = st.lists(st.tuples(st.floats(-2.0, 30.0), st.sampled_from([0.25, 1.0, 2.0, 7.0])),
                 min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(rate=st.sampled_from([0.1, 1.0, 3.0]), burst=st.sampled_from([1.0, 3.0, 10.0]),
       steps=steps)
def test_the_sql_bucket_answers_like_the_memory_bucket(shared_db, rate, burst, steps) -> None:
    limit = RateLimit(rate, burst)
    memory, shared = MemoryBuckets(), SqlBuckets(shared_db)
    key, now = uuid.uuid4().hex, 1_000_000.0
    for advance, cost in steps:
        now += advance
        expected = memory.take(key, "read", cost, limit, now)
        taken, tokens = shared.take(key, "read", cost, limit, now)
        assert taken == expected[0]
        assert tokens == pytest.approx(expected[1], abs=1e-9)
