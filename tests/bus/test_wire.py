"""Reading batches on the wire: Arrow IPC round trip, slicing to fit, poison detection."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smame.bus.wire import PoisonMessageError, decode, encode, message_id, split_to_fit
from smame.readings import validate_batch
from tests.bus.support import FIRST_METER, slot_batch

METERS = np.arange(FIRST_METER, FIRST_METER + 500)


def test_a_batch_survives_the_wire():
    batch = slot_batch(METERS, 3, seed=1)
    assert decode(encode(batch)).equals(validate_batch(batch))


def test_message_ids_follow_content_and_shard():
    batch = slot_batch(METERS, 3, seed=1)
    assert message_id(0, batch) == message_id(0, slot_batch(METERS, 3, seed=1))
    assert message_id(0, batch) != message_id(1, batch)
    assert message_id(0, batch) != message_id(0, slot_batch(METERS, 3, seed=2))


def test_slices_fit_the_message_size_and_keep_every_row():
    batch = slot_batch(np.arange(FIRST_METER, FIRST_METER + 20_000), 0, seed=4)
    limit = 100_000
    pieces = split_to_fit(batch, limit)
    assert len(pieces) > 1
    assert all(len(encode(piece)) <= limit for piece in pieces)
    assert pa.concat_tables(pieces).equals(batch)


def test_arrow_of_another_schema_is_poison():
    other = pa.table({"meter_id": pa.array([1, 2], pa.int64()), "kwh": [0.5, 0.7]})
    with pytest.raises(PoisonMessageError, match="not a reading batch") as caught:
        decode(encode(other))
    assert caught.value.reason == "wrong_schema"


def test_bytes_that_are_not_arrow_are_poison():
    with pytest.raises(PoisonMessageError, match="not an Arrow IPC stream") as caught:
        decode(b'{"meter_id": 1, "value": 3}')
    assert caught.value.reason == "not_arrow"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_decode_to_a_batch_or_poison(data: bytes):
    try:
        table = decode(data)
    except PoisonMessageError:
        return
    assert validate_batch(table).num_rows == table.num_rows


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 4000), st.integers(0, 40))
def test_a_damaged_batch_is_poison_or_still_a_batch(cut: int, flip: int):
    data = bytearray(encode(slot_batch(METERS[:20], 1, seed=3)))
    data = data[:max(1, len(data) - cut)]
    if flip:
        data[flip % len(data)] ^= 0xFF
    try:
        table = decode(bytes(data))
    except PoisonMessageError:
        return
    assert validate_batch(table).num_rows == table.num_rows
