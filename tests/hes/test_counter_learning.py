"""The head-end learns a meter's invocation counter on the public association when its
own send counter is behind (a key store restored from a backup, another head-end that
used the meter), and resumes above it; with wrong keys it does not loop (SPEC S14)."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smame.clock import SimulatedClock
from smame.dlms import DEMO_KEYS, axdr
from smame.dlms.security import MeterKeys
from smame.hes import operations as ops
from smame.hes.commands import CommandError
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.keystore import KeyStore, MasterKey
from smame.hes.registry import Registry
from smame.hes.session import counter_value, learn_counter, open_session
from smame.hes.sinks import MemorySink
from smame.meter import EventKind
from tests.hes.support import CLIENT_TITLE, make_fleet, served

AHEAD = 5_000_000


def head_end(tmp_path, endpoint, keys: MeterKeys = DEMO_KEYS) -> HeadEnd:
    keystore = KeyStore(tmp_path / "keys.db", MasterKey(bytes(32)))  # counters from 0
    keystore.put(endpoint.meter_id, keys)
    return HeadEnd(Registry([endpoint]), keystore, MemorySink(), SimulatedClock(0),
                   HesConfig(session_timeout=5))


async def use_counter(endpoint, counter: int) -> None:
    """Another management client associates with ``counter``: the meter's counter moves."""
    session = await open_session(endpoint, DEMO_KEYS, b"OTHERHES", counter)
    await session.release()
    await session.close()


def test_a_head_end_behind_the_meter_learns_the_counter_and_reads(tmp_path):
    fleet = make_fleet(meters=1)
    meter = fleet.meter(0)

    async def scenario():
        async with served(fleet) as (endpoint,):
            before = await learn_counter(endpoint, CLIENT_TITLE)
            await use_counter(endpoint, AHEAD)
            learned = await learn_counter(endpoint, CLIENT_TITLE)
            headend = head_end(tmp_path, endpoint)
            values = await headend.session_with(endpoint.meter_id, ops.read_instantaneous)
            again = await headend.session_with(endpoint.meter_id, ops.read_instantaneous)
            return before, learned, headend, values, again

    before, learned, headend, values, again = asyncio.run(scenario())
    assert before == 0
    assert learned > AHEAD
    assert values["voltage_v"] > 90
    assert again["voltage_v"] > 90
    learning = [e for e in headend.events if e.kind == "counter_learned"]
    assert len(learning) == 1  # the second session starts above the learned counter
    assert f"resumed at {learned}" in learning[0].detail
    kinds = [e.kind for e in meter.events()]
    assert kinds.count(EventKind.SECURITY_REPLAY_REJECTED) == 1  # the one stale attempt


def test_wrong_keys_are_refused_once_more_and_not_retried_in_a_loop(tmp_path):
    fleet = make_fleet(meters=1)
    meter = fleet.meter(0)

    async def scenario():
        async with served(fleet) as (endpoint,):
            await use_counter(endpoint, AHEAD)
            headend = head_end(tmp_path, endpoint, MeterKeys(bytes(16), bytes(16)))
            try:
                await headend.session_with(endpoint.meter_id, ops.read_instantaneous)
            except CommandError as exc:
                return headend, str(exc)
            return headend, ""

    headend, refusal = asyncio.run(scenario())
    assert "association refused" in refusal
    assert [e.kind for e in meter.events()].count(EventKind.SECURITY_AUTH_FAILED) == 2
    assert [e.kind for e in headend.events] == ["counter_learned"]


def test_a_counter_not_behind_is_not_retried(tmp_path):
    """Wrong keys with the counter already ahead of the meter: one attempt only."""
    fleet = make_fleet(meters=1)
    meter = fleet.meter(0)

    async def scenario():
        async with served(fleet) as (endpoint,):
            headend = head_end(tmp_path, endpoint, MeterKeys(bytes(16), bytes(16)))
            headend.keystore.end_session(endpoint.meter_id, AHEAD)
            try:
                await headend.session_with(endpoint.meter_id, ops.read_instantaneous)
            except CommandError:
                return headend
            raise AssertionError("wrong keys associated")

    headend = asyncio.run(scenario())
    assert [e.kind for e in meter.events()].count(EventKind.SECURITY_AUTH_FAILED) == 1
    assert headend.events == []


answers = st.one_of(
    st.binary(max_size=40),
    st.integers(0, 0xFFFFFFFF).map(axdr.double_long_unsigned),
    st.integers(-(2**63), 2**63 - 1).map(axdr.long64),
    st.integers(-(2**31), 2**31 - 1).map(axdr.double_long),
    st.binary(max_size=8).map(axdr.octet_string),
)


@given(answers)
def test_any_counter_answer_is_a_counter_or_one_clear_error(raw):
    try:
        expected = axdr.as_int(axdr.decode(raw), 0, 0xFFFFFFFF)
    except axdr.AxdrError:
        with pytest.raises(CommandError, match="unreadable invocation counter"):
            counter_value(raw)
    else:
        assert counter_value(raw) == expected


@given(st.integers(0, 0xFFFFFFFF))
def test_counter_values_round_trip(counter):
    assert counter_value(axdr.double_long_unsigned(counter)) == counter


def test_counters_outside_32_bits_or_of_another_type_are_refused():
    for raw in (axdr.long64(2**32), axdr.double_long(-1), axdr.octet_string(b"\x00" * 4),
                b"\x06\x00\x00"):
        with pytest.raises(CommandError, match="unreadable invocation counter"):
            counter_value(raw)
