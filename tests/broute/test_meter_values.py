"""Every property agrees with the smame meter at the same moment (SPEC M1, M3, M5)."""

from __future__ import annotations

from smame.clock import from_epoch
from smame.echonet import ESV, Property
from smame.echonet import edt as enc

from .conftest import JST, get, request


def test_cumulative_energy_is_the_a_route_register(live) -> None:
    meter = live.meter
    for _ in range(3):
        reply = get(live.node, 0xE0, 0xE3)
        assert enc.decode_u32(reply.edt(0xE0)) == meter.import_register
        assert enc.decode_u32(reply.edt(0xE3)) == meter.export_register
        live.clock.advance(600)
        live.tick()


def test_instantaneous_values(live) -> None:
    now = live.meter.instantaneous()
    reply = get(live.node, 0xE7, 0xE8, 0xE9)
    assert enc.decode_power(reply.edt(0xE7)) == round(now.power_w)
    r, t = enc.decode_currents(reply.edt(0xE8))
    sign = -1 if now.power_w < 0 else 1  # currents are negative while exporting
    assert r == sign * round(now.current_l1_a * 10) / 10
    assert t == sign * round(now.current_l2_a * 10) / 10
    rs, st = enc.decode_voltages(reply.edt(0xE9))
    assert rs == st == round(now.voltage_v * 10) / 10


def test_clock_properties_are_the_meter_clock(live) -> None:
    reply = get(live.node, 0x97, 0x98)
    now = from_epoch(live.meter.time).astimezone(JST)
    assert reply.edt(0x97) == bytes((now.hour, now.minute))
    assert reply.edt(0x98) == now.year.to_bytes(2, "big") + bytes((now.month, now.day))


def _stored(live, period, first_minute, last_minute, name="imp"):
    stored = live.meter.stored(period, first_minute * 60, last_minute * 60)
    return dict(zip(stored.boundaries.tolist(), stored.values[name][0].tolist(), strict=True))


def test_history1_is_the_30_minute_store(live) -> None:
    today = (live.fleet.time // 60 + 540) // 1440 * 1440 - 540
    for day, epc, name in ((0, 0xE2, "imp"), (1, 0xE2, "imp"), (1, 0xE4, "exp"), (5, 0xE2, "imp")):
        assert request(live.node, ESV.SETC, [Property(0xE5, bytes((day,)))]).esv == ESV.SET_RES
        got_day, slots = enc.decode_history1(get(live.node, epc).edt(epc))
        start = today - day * 1440
        stored = _stored(live, 30, start, start + 1410, name)
        assert got_day == day
        assert slots == [stored.get(start + 30 * k) for k in range(48)]
    assert any(v is not None for v in slots) is False  # day 5 is before the fleet started


def test_today_has_readings_up_to_now(live) -> None:
    request(live.node, ESV.SETC, [Property(0xE5, b"\x00")])
    _, slots = enc.decode_history1(get(live.node, 0xE2).edt(0xE2))
    assert all(v is not None for v in slots[:21])  # 00:00 … 10:00
    assert all(v is None for v in slots[21:])


def test_fixed_time_is_the_latest_half_hour_reading(live) -> None:
    boundary = live.fleet.time // 60 // 30 * 30
    moment, value = enc.decode_fixed_time(get(live.node, 0xEA).edt(0xEA))
    assert int(moment.timestamp()) == boundary * 60
    assert value == _stored(live, 30, boundary, boundary)[boundary]


def test_one_minute_value_is_the_1_minute_store(live) -> None:
    minute = live.fleet.time // 60
    moment, forward, reverse = enc.decode_one_minute(get(live.node, 0xD0).edt(0xD0))
    assert int(moment.timestamp()) == minute * 60
    assert forward == _stored(live, 1, minute, minute)[minute] == live.meter.import_register
    assert reverse == _stored(live, 1, minute, minute, "exp")[minute]


def test_history3_is_the_1_minute_store(live) -> None:
    end = live.fleet.time // 60 - 13
    setting = enc.encode_history_time(from_epoch(end * 60), 10)
    reply = request(live.node, ESV.SETGET, [Property(0xEF, setting)], get_props=[Property(0xEE)])
    moment, pairs = enc.decode_history_pairs(reply.get_properties[0].edt)
    imp, exp = _stored(live, 1, end - 9, end), _stored(live, 1, end - 9, end, "exp")
    assert int(moment.timestamp()) == end * 60
    assert pairs == [(imp[end - k], exp[end - k]) for k in range(10)]


def test_history3_beyond_the_60_minute_store_has_no_data(live) -> None:
    end = live.fleet.time // 60 - 65
    request(live.node, ESV.SETC, [Property(0xEF, enc.encode_history_time(from_epoch(end * 60),
                                                                          10))])
    _, pairs = enc.decode_history_pairs(get(live.node, 0xEE).edt(0xEE))
    assert pairs[:5] == [(None, None)] * 5  # minutes older than the store
    assert pairs[-1][0] is None
    assert len(pairs) == 10


def test_history2_is_the_30_minute_store(live) -> None:
    end = live.fleet.time // 60 // 30 * 30 - 90
    setting = enc.encode_history_time(from_epoch(end * 60), 6)
    request(live.node, ESV.SETC, [Property(0xED, setting)])
    moment, pairs = enc.decode_history_pairs(get(live.node, 0xEC).edt(0xEC))
    imp, exp = _stored(live, 30, end - 150, end), _stored(live, 30, end - 150, end, "exp")
    assert int(moment.timestamp()) == end * 60
    assert pairs == [(imp[end - 30 * k], exp[end - 30 * k]) for k in range(6)]
