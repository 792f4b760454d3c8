"""Data-notification pushes: the closed interval and the Last Gasp alarm (SPEC M4, M6, S1)."""

from __future__ import annotations

import pytest
from dlms_cosem.protocol.xdlms import DataNotification
from hypothesis import given
from hypothesis import strategies as st

from smame.dlms import (
    DEMO_KEYS,
    MeterEndpoint,
    MeterKeys,
    PushScheduler,
    axdr,
    build_interval_push,
    build_last_gasp_push,
    open_push,
    parse_interval_push,
    parse_last_gasp_push,
    push_frame,
)
from smame.dlms.cosem.control import PushRequested
from smame.dlms.push import (
    ClosedInterval,
    Notification,
    closed_interval_data,
    fast_interval,
    push_delay,
)
from smame.dlms.security import AuthenticationError, parse_ciphered
from smame.dlms.wrapper import Frame, WrapperDecoder
from smame.meter import EventKind
from tests.dlms.support import IC, attr, management_client, method

SETUP = "0.0.25.9.0.255"


def test_interval_push_carries_the_closed_interval(endpoint, meter):
    apdu = build_interval_push(meter, endpoint.security)
    notification = open_push(apdu, DEMO_KEYS)
    assert notification.system_title == endpoint.security.system_title
    assert notification.time == meter.time
    push = parse_interval_push(notification)
    assert push.logical_device_name == f"SMM{meter.meter_id}".encode()
    interval = push.interval
    assert interval.period == meter.soft_switch == 30
    stored = meter.stored(30, interval.end - 1800, interval.end)
    assert interval.end == stored.boundaries[-1] * 60 == meter.fleet.storage[30].latest * 60
    assert interval.import_register == stored.values["imp"][0][-1]
    assert interval.export_register == stored.values["exp"][0][-1]
    assert interval.import_interval == stored.intervals("imp")[0][-1]
    assert interval.export_interval == stored.intervals("exp")[0][-1]


def test_interval_push_follows_the_soft_switch_and_takes_an_end(endpoint, meter):
    meter.set_soft_switch(15)
    end = (meter.fleet.storage[15].latest - 15) * 60
    push = parse_interval_push(open_push(
        build_interval_push(meter, endpoint.security, end=end), DEMO_KEYS))
    stored = meter.stored(15, end - 900, end)
    assert (push.interval.period, push.interval.end) == (15, end)
    assert push.interval.import_interval == stored.intervals("imp")[0][0]
    with pytest.raises(ValueError, match="no 15-minute reading"):
        build_interval_push(meter, endpoint.security, end=end + 60)


def test_last_gasp_push(endpoint, meter, fleet):
    t0 = fleet.time
    fleet.schedule_outage(t0 + 120, t0 + 900, transformers=(meter.transformer,))
    fleet.advance(5)
    (gasp,) = [e for e in meter.events() if e.kind == EventKind.LAST_GASP]
    alarm = parse_last_gasp_push(open_push(build_last_gasp_push(meter, endpoint.security),
                                           DEMO_KEYS))
    assert (alarm.time, alarm.event_code) == (gasp.time, EventKind.LAST_GASP)
    assert alarm.logical_device_name == f"SMM{meter.meter_id}".encode()


def test_pushes_advance_the_meter_counter_and_need_the_keys(endpoint, meter):
    first = build_interval_push(meter, endpoint.security)
    second = build_last_gasp_push(meter, endpoint.security)
    counters = [parse_ciphered(a).invocation_counter for a in (first, second)]
    assert counters[1] > counters[0]
    assert endpoint.security.invocation_counter > counters[1]
    with pytest.raises(AuthenticationError):
        open_push(first, MeterKeys(bytes(16), bytes(16)))


def test_dlms_cosem_reads_the_plain_data_notification(endpoint, meter):
    apdu = build_interval_push(meter, endpoint.security)
    ciphered = parse_ciphered(apdu)
    plain = endpoint.security.decipher(endpoint.security.system_title,
                                       ciphered.invocation_counter, ciphered.ciphertext)
    notification = DataNotification.from_bytes(plain)
    assert int(notification.date_time.timestamp()) == meter.time
    assert notification.body[0] == 2  # a structure


def test_push_frame_is_wrapped():
    (frame,) = WrapperDecoder().feed(push_frame(b"\xdb\x00", 1, 102))
    assert frame == Frame(1, 102, b"\xdb\x00")


def test_push_method_over_the_association(endpoint, meter):
    client = management_client(endpoint)
    client.associate()
    destination = b"\x02\x03\x16\x01\x09\x0e127.0.0.1:4060\x16\x00"
    assert client.set(attr(IC.PUSH, SETUP, 3), destination).result == 0
    assert endpoint.push_destinations[bytes([0, 0, 25, 9, 0, 255])] == "127.0.0.1:4060"
    client.action(method(IC.PUSH, SETUP, 1), b"\x0f\x00")
    (pushed,) = [e for e in client.transport.events if isinstance(e, PushRequested)]
    assert pushed.destination == "127.0.0.1:4060"
    assert parse_interval_push(open_push(pushed.apdu, DEMO_KEYS)).interval.period == 30
    bad = b"\x02\x03\x16\x01\x09\x09localhost\x16\x00"
    assert client.set(attr(IC.PUSH, SETUP, 3), bad).result == 250


def test_scheduler_pushes_each_boundary_last_gasp_and_restore_once(endpoint, meter, fleet):
    endpoint.push_destinations.update({bytes([0, 0, 25, 9, 0, 255]): "127.0.0.1:9",
                                       bytes([0, 0, 25, 9, 1, 255]): "127.0.0.1:10"})
    scheduler = PushScheduler(endpoint)
    assert scheduler.due() == []
    t0 = fleet.time
    fleet.schedule_outage(t0 + 600, t0 + 1200, transformers=(meter.transformer,))
    fleet.advance(60)
    due = scheduler.due()
    intervals = [parse_interval_push(open_push(a, DEMO_KEYS)) for d, a in due if d.endswith(":9")]
    power = [parse_last_gasp_push(open_push(a, DEMO_KEYS)) for d, a in due if d.endswith(":10")]
    assert [p.interval.end for p in intervals] == [t0 + 1800, t0 + 3600]
    assert [(p.event_code, p.time) for p in power] == [(31, t0 + 601), (32, t0 + 1200)]
    assert scheduler.due() == []


def test_intervals_closed_before_a_soft_switch_keep_their_period(endpoint, meter, fleet):
    endpoint.push_destinations[bytes([0, 0, 25, 9, 0, 255])] = "127.0.0.1:9"
    scheduler = PushScheduler(endpoint)
    t0 = fleet.time
    fleet.advance(30)
    meter.set_soft_switch(15)  # after the 30-minute boundary closed, before it was pushed
    fleet.advance(30)
    pushed = [parse_interval_push(open_push(a, DEMO_KEYS)).interval for _, a in scheduler.due()]
    assert sorted((p.end, p.period) for p in pushed) == [(t0 + 1800, 30), (t0 + 2700, 15),
                                                         (t0 + 3600, 15)]


INTERVAL_SETUP = bytes([0, 0, 25, 9, 0, 255])
GASP_SETUP = bytes([0, 0, 25, 9, 1, 255])


def test_push_delay_spreads_a_fleet_over_the_window():
    moment = 1_782_000_000
    delays = [push_delay(meter_id, moment, 600) for meter_id in range(100_000_001, 100_010_001)]
    assert min(delays) == 0
    assert max(delays) == 600
    assert 290 < sum(delays) / len(delays) < 310
    per_minute = [sum(1 for d in delays if m * 60 <= d < m * 60 + 60) for m in range(10)]
    assert max(per_minute) < 1.15 * min(per_minute)  # even, not bunched
    assert push_delay(100_000_001, moment, 600) != push_delay(100_000_001, moment + 1800, 600)
    assert push_delay(100_000_001, moment, 0) == 0


def test_scheduler_holds_each_push_for_its_randomisation_delay(endpoint, meter, fleet):
    endpoint.push_destinations[INTERVAL_SETUP] = "127.0.0.1:9"
    endpoint.push_randomisation[INTERVAL_SETUP] = 900
    scheduler = PushScheduler(endpoint)
    t0 = fleet.time
    boundaries = [t0 + 1800 * k for k in range(1, 5)]
    due_at = {b: b + push_delay(meter.meter_id, b, 900) for b in boundaries}
    assert len(set(due_at.values())) == 4
    sent: dict[int, int] = {}
    while fleet.time < t0 + 7200 + 900:
        fleet.advance(1)
        for _, apdu in scheduler.due():
            end = parse_interval_push(open_push(apdu, DEMO_KEYS)).interval.end
            assert end not in sent
            sent[end] = fleet.time
    assert sorted(sent) == boundaries
    for boundary, when in sent.items():  # at the first minute the meter saw past its delay
        assert due_at[boundary] <= when < due_at[boundary] + 60
    assert scheduler.held == 0


def test_a_held_push_is_lost_with_the_supply_but_last_gasp_goes_at_once(endpoint, meter, fleet):
    endpoint.push_destinations.update({INTERVAL_SETUP: "127.0.0.1:9", GASP_SETUP: "127.0.0.1:10"})
    endpoint.push_randomisation.update({INTERVAL_SETUP: 900, GASP_SETUP: 300})
    scheduler = PushScheduler(endpoint)
    t0 = fleet.time
    boundary = t0 + 1800
    assert push_delay(meter.meter_id, boundary, 900) > 120  # held past the outage start
    fleet.schedule_outage(boundary + 60, boundary + 600, transformers=(meter.transformer,))
    fleet.advance(32)
    due = scheduler.due()
    assert [parse_last_gasp_push(open_push(a, DEMO_KEYS)).event_code for _, a in due] == [31]
    restore_due = boundary + 600 + push_delay(meter.meter_id, boundary + 600, 300)
    later = []
    while fleet.time < t0 + 3600 + 900:
        fleet.advance(1)
        later += [(fleet.time, open_push(a, DEMO_KEYS)) for _, a in scheduler.due()]
    power = [(t, parse_last_gasp_push(n)) for t, n in later if n.body.value[0].value == GASP_SETUP]
    assert [(p.event_code, p.time) for _, p in power] == [(32, boundary + 600)]
    assert restore_due <= power[0][0] < restore_due + 60
    intervals = [parse_interval_push(n).interval.end for t, n in later
                 if n.body.value[0].value == INTERVAL_SETUP]
    assert intervals == [t0 + 3600]  # the interval held when the supply went is not sent


def test_a_meter_window_spreads_interval_pushes_but_not_restore_reports(meter, fleet):
    endpoint = MeterEndpoint(meter, DEMO_KEYS, push_randomisation=900)
    endpoint.push_destinations.update({INTERVAL_SETUP: "127.0.0.1:9", GASP_SETUP: "127.0.0.1:10"})
    scheduler = PushScheduler(endpoint)
    t0 = fleet.time
    fleet.schedule_outage(t0 + 60, t0 + 120, transformers=(meter.transformer,))
    fleet.advance(3)
    power = [parse_last_gasp_push(open_push(a, DEMO_KEYS)) for d, a in scheduler.due()
             if d.endswith(":10")]
    assert [p.event_code for p in power] == [31, 32]  # the restore report did not wait
    assert endpoint.push_randomisation == {INTERVAL_SETUP: 900, GASP_SETUP: 0}


def test_randomisation_window_over_the_association(endpoint):
    client = management_client(endpoint)
    client.associate()
    assert client.get(attr(IC.PUSH, SETUP, 5)) == b"\x12\x00\x00"
    assert client.set(attr(IC.PUSH, SETUP, 5), b"\x12\x03\x84").result == 0  # 900 s
    assert endpoint.push_randomisation[INTERVAL_SETUP] == 900
    assert client.get(attr(IC.PUSH, SETUP, 5)) == b"\x12\x03\x84"
    assert client.set(attr(IC.PUSH, SETUP, 5), b"\x03\x01").result != 0  # not an integer
    too_long = b"\x06\x00\x01\x11\x70"  # 70,000 s: past long-unsigned
    assert client.set(attr(IC.PUSH, SETUP, 5), too_long).result != 0
    assert endpoint.push_randomisation[INTERVAL_SETUP] == 900


@given(end=st.integers(1_700_000_000 // 60, 2_000_000_000 // 60).map(lambda m: m * 60),
       period=st.sampled_from([15, 30]), imp=st.integers(0, 10**8 - 1),
       exp=st.integers(0, 10**8 - 1), imp_iv=st.none() | st.integers(0, 10**6),
       exp_iv=st.none() | st.integers(0, 10**6), status=st.integers(0, 0xFFFF))
def test_fast_interval_reads_what_the_general_decoder_reads(end, period, imp, exp, imp_iv,
                                                             exp_iv, status):
    if (imp_iv is None) != (exp_iv is None):
        exp_iv = imp_iv
    interval = ClosedInterval(end, period, imp, exp, imp_iv, exp_iv, status)
    body = axdr.structure(axdr.octet_string(bytes([0, 0, 25, 9, 0, 255])),
                          axdr.octet_string(b"SMM100000001"), closed_interval_data(interval))
    assert fast_interval(body) == interval
    notification = Notification(b"SMM00000", 1, 1, end, axdr.decode(body))
    assert parse_interval_push(notification).interval == interval
    assert fast_interval(body[:-1]) is None
    assert fast_interval(body + b"\x00") is None
