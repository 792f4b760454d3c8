"""Query paths agree; 6-digit retail values across the 8-digit wrap (SPEC S4)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from smame.mdms import Mdms
from smame.readings import make_batch
from smame.registers import RETAIL_MODULUS, retail_register
from tests.mdms.helpers import DAY, START, day_batch, flat_day, slot_end


def test_point_query_matches_scan(mdms: Mdms) -> None:
    mdms.ingest(day_batch(np.arange(1, 49)[None, :].repeat(20, axis=0)))
    mdms.ingest(make_batch(7, slot_end(3), 140, 500))  # a revision: superseded rows
    mdms.compact(DAY)
    everything = mdms.readings()
    for meter in (1, 7, 20):
        point = mdms.readings(meter)
        scanned = everything.filter(pc.equal(everything.column("meter_id"), meter))
        assert point.equals(scanned)
    assert mdms.readings([1, 2, 3], channels=[140]).num_rows == 3 * 48
    assert mdms.readings(999).num_rows == 0


def test_retail_values_sum_across_the_wrap(mdms: Mdms) -> None:
    values = np.random.default_rng(4).integers(0, 400, (2, 48))
    starts = [99_995_000, 12_345]
    mdms.ingest(day_batch(values, register_start=starts))
    retail = mdms.retail(None, START, START + 86400)
    for meter, start in zip((1, 2), starts, strict=True):
        rows = retail.filter(pa.array((retail.column("meter_id").to_numpy() == meter)
                                      & (retail.column("channel").to_numpy() == 100)))
        assert rows.num_rows == 49
        intervals = rows.column("retail_interval").to_numpy(zero_copy_only=False)[1:]
        end = (start + int(values[meter - 1].sum())) % 100_000_000
        expected = (retail_register(end) - retail_register(start)) % RETAIL_MODULUS
        assert int(intervals.sum()) == expected
        registers = rows.column("register").to_numpy()
        assert (rows.column("retail_register").to_numpy() == retail_register(registers)).all()
    wrapped = retail.filter(pc.equal(retail.column("meter_id"), 1)).column("register")
    assert pc.min(wrapped).as_py() < 1000  # the register did wrap in the day


def test_wheeling_side_keeps_eight_digits(mdms: Mdms) -> None:
    mdms.ingest(day_batch(flat_day(20), register_start=99_999_990))
    registers = mdms.readings(1, channels=[100]).column("value").to_pylist()
    assert registers[:3] == [99_999_990, 10, 30]  # stored and served as the 8 digits received
