"""The sans-I/O codec: frames, property maps, EDT encodings (round trips and errors)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smame.echonet import (
    EOJ,
    ESV,
    ArbitraryFrame,
    Frame,
    FrameError,
    Property,
    decode,
    decode_property_map,
    encode,
    encode_property_map,
)
from smame.echonet import edt as enc

from .conftest import JST

eojs = st.builds(EOJ, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
props = st.builds(Property, st.integers(0, 255), st.binary(max_size=255))
blocks = st.lists(props, max_size=6).map(tuple)


@st.composite
def frames(draw) -> Frame:
    esv = draw(st.sampled_from(list(ESV)) | st.integers(0, 255))
    setget = esv in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA)
    return Frame(draw(st.integers(0, 0xFFFF)), draw(eojs), draw(eojs), esv, draw(blocks),
                 draw(blocks) if setget else ())


@given(frames())
def test_frame_round_trip(frame: Frame) -> None:
    assert decode(encode(frame)) == frame


@given(st.integers(0, 0xFFFF), st.binary(max_size=64))
def test_arbitrary_format_round_trip(tid: int, edata: bytes) -> None:
    frame = ArbitraryFrame(tid, edata)
    data = encode(frame)
    assert data[:2] == b"\x10\x82"
    assert decode(data) == frame


def test_known_get_bytes() -> None:
    frame = Frame(1, EOJ(5, 0xFF, 1), EOJ(2, 0x88, 1), ESV.GET, (Property(0xE7),))
    assert encode(frame).hex() == "1081000105ff010288016201e700"


def test_setget_has_two_blocks() -> None:
    frame = Frame(9, EOJ(5, 0xFF, 1), EOJ(2, 0x88, 1), ESV.SETGET,
                  (Property(0xEF, bytes(7)),), (Property(0xEE),))
    data = encode(frame)
    assert data[11] == 1
    assert data[-3:] == b"\x01\xee\x00"
    assert decode(data) == frame


@given(frames(), st.data())
def test_truncated_frames_are_refused(frame: Frame, data) -> None:
    raw = encode(frame)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(FrameError):
        decode(raw[:cut])


@given(frames(), st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(frame: Frame, tail: bytes) -> None:
    with pytest.raises(FrameError):
        decode(encode(frame) + tail)


@pytest.mark.parametrize("raw", [b"", b"\x10", b"\x10\x81\x00", b"\x11\x81\x00\x01" + bytes(8),
                                 b"\x10\x81\x00\x01\x05\xff\x01\x02\x88\x01\x62\x02\xe0\x00"])
def test_malformed_frames(raw: bytes) -> None:
    with pytest.raises(FrameError):
        decode(raw)


def test_frame_fields_are_checked() -> None:
    with pytest.raises(FrameError):
        Property(0xE0, bytes(256))
    with pytest.raises(FrameError):
        Frame(0x10000, EOJ(5, 0xFF, 1), EOJ(2, 0x88, 1), ESV.GET)
    with pytest.raises(FrameError):
        Frame(1, EOJ(5, 0xFF, 1), EOJ(2, 0x88, 1), ESV.GET, (), (Property(0xE0),))
    assert EOJ.parse("028801") == EOJ(2, 0x88, 1) == EOJ.parse(0x028801)
    assert str(EOJ(2, 0x88, 1)) == "028801"


@given(st.sets(st.integers(0x80, 0xFF)))
def test_property_map_round_trip(epcs: set[int]) -> None:
    edt = encode_property_map(epcs)
    assert edt[0] == len(epcs)
    assert len(edt) == (1 + len(epcs) if len(epcs) < 16 else 17)
    assert decode_property_map(edt) == frozenset(epcs)


def test_property_map_bitmap_layout() -> None:
    epcs = list(range(0x80, 0x90))  # 16 EPCs: bitmap form
    edt = encode_property_map(epcs)
    assert edt == bytes([16] + [0x01] * 16)
    assert encode_property_map([0xE0, 0x80]) == bytes([2, 0x80, 0xE0])
    with pytest.raises(ValueError, match="property map"):
        encode_property_map([0x10])
    for bad in (b"", b"\x02\x80", b"\x10" + bytes(15), b"\x11" + bytes([0xFF] * 16)):
        with pytest.raises(FrameError):
            decode_property_map(bad)


moments = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(  # noqa: DTZ001
    lambda t: t.replace(microsecond=0, tzinfo=JST))
energies = st.none() | st.integers(0, 99_999_999)


@given(moments, energies, energies)
def test_edt_round_trips(moment: datetime, forward, reverse) -> None:
    assert enc.decode_one_minute(enc.encode_one_minute(moment, forward, reverse)) == (
        moment, forward, reverse)
    assert enc.decode_fixed_time(enc.encode_fixed_time(moment, forward)) == (moment, forward)
    minute = moment.replace(second=0)
    pairs = [(forward, reverse)] * 3
    assert enc.decode_history_pairs(enc.encode_history_pairs(minute, pairs)) == (minute, pairs)
    assert enc.decode_history_time(enc.encode_history_time(minute, 5)) == (minute, 5)


@given(st.lists(energies, min_size=48, max_size=48), st.integers(0, 99))
def test_history1_round_trip(values, day: int) -> None:
    assert enc.decode_history1(enc.encode_history1(day, values)) == (day, values)


@given(st.floats(-2e6, 2e6), st.floats(-3000, 3000), st.floats(0, 6000))
def test_instantaneous_round_trips(watts: float, amps: float, volts: float) -> None:
    assert enc.decode_power(enc.encode_power(watts)) == round(watts)
    r, t = enc.decode_currents(enc.encode_currents(amps, None))
    assert r == pytest.approx(round(amps * 10) / 10)
    assert t is None
    rs, st_ = enc.decode_voltages(enc.encode_voltages(volts, volts))
    assert rs == st_ == pytest.approx(round(volts * 10) / 10)


def test_units_and_no_data() -> None:
    assert [enc.unit_code(e) for e in (0, -1, -2, -3, -4, 1)] == [0, 1, 2, 3, 4, 0x0A]
    assert enc.unit_kwh(0x02) == 0.01
    assert enc.decode_u32(b"\xff\xff\xff\xfe") is None
    assert enc.decode_power(b"\x7f\xff\xff\xfe") is None
    assert enc.decode_history_time(b"\xff" * 6 + b"\x0c") == (None, 12)
    with pytest.raises(FrameError):
        enc.decode_datetime7(b"\x07\xea\x0d\x01\x00\x00\x00")  # month 13
    with pytest.raises(ValueError, match="naive"):
        enc.encode_datetime7(datetime(2026, 1, 1) + timedelta(0))  # noqa: DTZ001
