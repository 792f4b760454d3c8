"""The COSEM objects over a live meter, read and commanded with the dlms-cosem client
over an in-memory transport (SPEC M1–M8)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from dlms_cosem import enumerations as enums
from dlms_cosem.client import ActionError, DataResultError
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.time import datetime_from_bytes, datetime_to_bytes

from smame.clock import from_epoch, to_epoch
from smame.dlms import axdr
from smame.dlms.cosem_time import JST, decode_datetime, encode_datetime
from smame.meter import EventKind
from tests.dlms.support import (
    IC,
    ManualSession,
    attr,
    management_client,
    method,
    public_client,
    value,
)

R = enums.DataAccessResult


@pytest.fixture
def client(endpoint):
    c = management_client(endpoint)
    c.associate()
    return c


def get(client, interface, logical_name, index, **kwargs):
    return value(client.get(attr(interface, logical_name, index), **kwargs))


def clock_range(start, end) -> RangeDescriptor:
    clock = CaptureObject(attr(IC.CLOCK, "0.0.1.0.0.255", 2))
    return RangeDescriptor(restricting_object=clock, from_value=start, to_value=end)


def test_public_client_reads_name_and_clock_but_no_meter_data(endpoint, meter):
    client = public_client(endpoint)
    client.associate()
    assert get(client, IC.DATA, "0.0.42.0.0.255", 2) == f"SMM{meter.meter_id}".encode()
    stamp, _status = datetime_from_bytes(bytes(get(client, IC.CLOCK, "0.0.1.0.0.255", 2)))
    assert int(stamp.timestamp()) == meter.time
    for interface, name in [(IC.REGISTER, "1.0.1.8.0.255"), (IC.PROFILE_GENERIC, "1.0.99.1.0.255"),
                            (IC.LIMITER, "0.0.17.0.0.255"), (IC.SECURITY_SETUP, "0.0.43.0.0.255"),
                            (IC.DATA, "0.0.94.81.1.255")]:
        with pytest.raises(DataResultError, match="READ_WRITE_DENIED"):
            client.get(attr(interface, name, 2))
    response = client.set(attr(IC.CLOCK, "0.0.1.0.0.255", 2),
                          axdr.octet_string(encode_datetime(meter.time + 60)))
    assert response.result == R.READ_WRITE_DENIED
    with pytest.raises(ActionError, match="READ_WRITE_DENIED"):
        client.action(method(IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 1), axdr.integer(0))
    assert meter.connected
    assert client.release_association().reason == enums.ReleaseResponseReason.NORMAL


def test_registers_read_the_meter_live(client, fleet, meter):
    exponent = meter.unit_exponent
    for name, current in [("1.0.1.8.0.255", lambda: meter.import_register),
                          ("1.0.2.8.0.255", lambda: meter.export_register),
                          ("1.0.3.8.0.255", lambda: meter.reactive_register)]:
        assert get(client, IC.REGISTER, name, 2) == current()
        assert get(client, IC.REGISTER, name, 3)[0] == exponent + 3  # 0.01 kWh = 10^1 Wh
    assert get(client, IC.REGISTER, "1.0.1.8.0.255", 3) == [1, 30]
    assert get(client, IC.REGISTER, "1.0.3.8.0.255", 3) == [1, 32]
    fleet.advance(5)
    assert get(client, IC.REGISTER, "1.0.1.8.0.255", 2) == meter.import_register
    now = meter.instantaneous()
    assert get(client, IC.REGISTER, "1.0.32.7.0.255", 2) == round(now.voltage_v * 10)
    assert get(client, IC.REGISTER, "1.0.32.7.0.255", 3) == [-1, 35]
    assert get(client, IC.REGISTER, "1.0.16.7.0.255", 2) == round(now.power_w)
    assert get(client, IC.REGISTER, "1.0.16.7.0.255", 3) == [0, 27]
    assert get(client, IC.REGISTER, "1.0.3.7.0.255", 2) == round(now.reactive_var)
    assert get(client, IC.REGISTER, "1.0.31.7.0.255", 2) == round(now.current_l1_a * 100)
    assert get(client, IC.REGISTER, "1.0.51.7.0.255", 2) == round(now.current_l2_a * 100)
    assert get(client, IC.REGISTER, "1.0.51.7.0.255", 3) == [-2, 33]


def test_interval_registers_are_the_last_closed_soft_switch_interval(client, meter):
    stored = meter.stored(30, meter.time - 3600 * 3, meter.time + 60)
    assert get(client, IC.REGISTER, "1.0.1.29.0.255", 2) == stored.intervals("imp")[0][-1]
    assert get(client, IC.REGISTER, "1.0.2.29.0.255", 2) == stored.intervals("exp")[0][-1]
    meter.set_soft_switch(15)
    stored = meter.stored(15, meter.time - 3600, meter.time + 60)
    assert get(client, IC.REGISTER, "1.0.1.29.0.255", 2) == stored.intervals("imp")[0][-1]


def check_profile(rows, stored, names):
    assert len(rows) == stored.boundaries.size
    for k, row in enumerate(rows):
        stamp, _ = datetime_from_bytes(bytes(row[0]))
        assert int(stamp.timestamp()) == stored.boundaries[k] * 60
        assert stamp.utcoffset() == timedelta(hours=9)
        cells = row[2:] if stored.flags is not None else row[1:]
        if stored.flags is not None:
            assert row[1] == stored.flags[0][k]
        assert cells == [int(stored.values[n][0][k]) for n in names]


def test_30_minute_profile_by_range_equals_the_stored_readings(client, meter):
    start, end = from_epoch(meter.fleet.time - 4 * 3600), from_epoch(meter.fleet.time - 3600)
    rows = get(client, IC.PROFILE_GENERIC, "1.0.99.1.0.255", 2,
               access_descriptor=clock_range(start, end))
    stored = meter.stored(30, start, end)
    assert stored.boundaries.size == 7
    check_profile(rows, stored, ["imp", "exp"])
    # Interval values are the wrap-aware differences of consecutive readings.
    imports = [r[2] for r in rows]
    assert [(b - a) % 10**8 for a, b in itertools.pairwise(imports)] == list(
        stored.intervals("imp")[0])


def test_every_profile_full_read_and_capture_objects(client, meter):
    expectations = {
        "1.0.99.1.0.255": (30, ["imp", "exp"]),
        "1.0.99.128.0.255": (15, ["imp", "exp"]),
        "1.0.99.2.0.255": (5, ["imp", "exp", "rea", "volt"]),
        "1.0.99.129.0.255": (1, ["imp", "exp"]),
    }
    for name, (period, names) in expectations.items():
        rows = get(client, IC.PROFILE_GENERIC, name, 2)
        check_profile(rows, meter.stored(period, 0, 2**40), names)
        assert get(client, IC.PROFILE_GENERIC, name, 4) == period * 60
        assert get(client, IC.PROFILE_GENERIC, name, 7) == len(rows)
        store = meter.fleet.storage[period]
        assert get(client, IC.PROFILE_GENERIC, name, 8) == store.slots
        capture = get(client, IC.PROFILE_GENERIC, name, 3)
        assert capture[0] == [8, bytearray(b"\x00\x00\x01\x00\x00\xff"), 2, 0]
    assert len(get(client, IC.PROFILE_GENERIC, "1.0.99.129.0.255", 2)) == 61  # 60 intervals


def test_profile_entry_descriptor_and_selected_columns(endpoint, meter):
    session = ManualSession(endpoint)
    session.associate()
    all_rows = meter.stored(30, 0, 2**40)
    entry = axdr.structure(axdr.double_long_unsigned(2), axdr.double_long_unsigned(4),
                           axdr.long_unsigned(3), axdr.long_unsigned(0))
    request = (bytes((192, 1, 0xC1, 0, 7)) + bytes([1, 0, 99, 1, 0, 255, 2, 1, 2]) + entry)
    response = session.request(request)
    rows = value(response[4:])
    assert rows == [[int(all_rows.values["imp"][0][k]), int(all_rows.values["exp"][0][k])]
                    for k in (1, 2, 3)]
    # Range with selected columns: clock and export only.
    clock = axdr.structure(axdr.long_unsigned(8), axdr.octet_string(bytes([0, 0, 1, 0, 0, 255])),
                           axdr.integer(2), axdr.long_unsigned(0))
    export = axdr.structure(axdr.long_unsigned(3), axdr.octet_string(bytes([1, 0, 2, 8, 0, 255])),
                            axdr.integer(2), axdr.long_unsigned(0))
    first, last = int(all_rows.boundaries[0]) * 60, int(all_rows.boundaries[2]) * 60
    selection = axdr.structure(clock, axdr.octet_string(encode_datetime(first)),
                               axdr.octet_string(encode_datetime(last)),
                               axdr.array([clock, export]))
    request = bytes((192, 1, 0xC1, 0, 7)) + bytes([1, 0, 99, 1, 0, 255, 2, 1, 1]) + selection
    rows = value(session.request(request)[4:])
    assert [decode_datetime(bytes(r[0])) for r in rows] == [first, first + 1800, last]
    assert [r[1] for r in rows] == [int(v) for v in all_rows.values["exp"][0][:3]]


def test_long_profile_reads_come_in_blocks(endpoint, meter):
    client = management_client(endpoint, max_pdu=256)
    client.associate()
    transport = client.transport
    rows = get(client, IC.PROFILE_GENERIC, "1.0.99.2.0.255", 2)
    check_profile(rows, meter.stored(5, 0, 2**40), ["imp", "exp", "rea", "volt"])
    blocks = transport.received[-len(transport.sent) + 2:]  # after AARQ and HLS
    assert len(blocks) > 10  # one GET-Request-Next per block
    assert all(len(apdu) <= 256 for apdu in transport.received)


def test_event_logs(client, meter, fleet):
    meter.set_limit(40)
    meter.disconnect()
    meter.reconnect()
    rows = get(client, IC.PROFILE_GENERIC, "0.0.99.98.0.255", 2)
    events = sorted(meter.events(), key=lambda e: e.time)
    assert [(decode_datetime(bytes(r[0])), r[1], r[2], r[3]) for r in rows] == [
        (e.time, int(e.kind), e.value, e.reference) for e in events]
    assert rows[-1][1] == EventKind.RECONNECTED
    assert get(client, IC.DATA, "0.0.96.11.0.255", 2) == int(EventKind.RECONNECTED)
    assert get(client, IC.PROFILE_GENERIC, "0.0.99.98.1.255", 2) == []  # no security events
    t0 = fleet.time
    fleet.schedule_outage(t0 + 60, t0 + 600, transformers=(meter.transformer,))
    fleet.advance(15)
    power = get(client, IC.PROFILE_GENERIC, "0.0.99.97.0.255", 2)
    assert [r[1] for r in power] == [EventKind.POWER_DOWN, EventKind.LAST_GASP,
                                     EventKind.POWER_RESTORED]
    since = from_epoch(t0 + 1)
    ranged = get(client, IC.PROFILE_GENERIC, "0.0.99.98.0.255", 2,
                 access_descriptor=clock_range(since, from_epoch(fleet.time)))
    assert [r[1] for r in ranged] == [EventKind.POWER_DOWN, EventKind.LAST_GASP,
                                      EventKind.POWER_RESTORED]


def test_clock_set_and_adjust(client, meter):
    target = meter.time + 3 * 3600 + 17
    stamp = datetime_to_bytes(from_epoch(target).astimezone(JST))
    response = client.set(attr(IC.CLOCK, "0.0.1.0.0.255", 2), axdr.octet_string(stamp))
    assert response.result == R.SUCCESS
    assert meter.time == target
    assert meter.events()[-1].kind == EventKind.CLOCK_SET
    client.action(method(IC.CLOCK, "0.0.1.0.0.255", 3), axdr.integer(0))  # adjust_to_minute
    assert meter.time % 60 == 0
    client.action(method(IC.CLOCK, "0.0.1.0.0.255", 6), axdr.long(-30))  # shift_time
    assert meter.time % 60 == 30
    with pytest.raises(ActionError, match="TYPE_UNMATCHED"):
        client.action(method(IC.CLOCK, "0.0.1.0.0.255", 6), axdr.long(5000))
    client.action(method(IC.CLOCK, "0.0.1.0.0.255", 1), axdr.integer(0))  # adjust_to_quarter
    assert meter.time % 900 == 0
    assert get(client, IC.CLOCK, "0.0.1.0.0.255", 3) == -540
    bad = client.set(attr(IC.CLOCK, "0.0.1.0.0.255", 2), axdr.octet_string(b"\xff" * 12))
    assert bad.result == R.TYPE_UNMATCHED


def test_limiter_set_changes_the_limit_now_and_refuses_out_of_range(client, meter):
    assert get(client, IC.LIMITER, "0.0.17.0.0.255", 4) == meter.limit_a
    response = client.set(attr(IC.LIMITER, "0.0.17.0.0.255", 3), axdr.long_unsigned(40))
    assert response.result == R.SUCCESS
    assert meter.limit_a == 40
    assert get(client, IC.LIMITER, "0.0.17.0.0.255", 3) == 40
    for amps in (5, 61):
        assert client.set(attr(IC.LIMITER, "0.0.17.0.0.255", 4),
                          axdr.long_unsigned(amps)).result == R.OTHER_REASON
    assert client.set(attr(IC.LIMITER, "0.0.17.0.0.255", 4),
                      axdr.octet_string(b"30")).result == R.TYPE_UNMATCHED
    assert client.set(attr(IC.LIMITER, "0.0.17.0.0.255", 2),
                      axdr.long_unsigned(30)).result == R.READ_WRITE_DENIED
    assert meter.limit_a == 40
    client.action(method(IC.SCRIPT_TABLE, "0.0.10.0.128.255", 1), axdr.long_unsigned(25))
    assert meter.limit_a == 25


def test_disconnect_control_actions_switch_the_meter(client, meter):
    client.action(method(IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 1), axdr.integer(0))
    assert not meter.connected
    assert get(client, IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 2) is False
    assert get(client, IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 3) == 0
    client.action(method(IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 2), axdr.integer(0))
    assert meter.connected
    assert get(client, IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 3) == 1
    client.action(method(IC.SCRIPT_TABLE, "0.0.10.0.106.255", 1), axdr.long_unsigned(1))
    assert not meter.connected
    client.action(method(IC.SCRIPT_TABLE, "0.0.10.0.106.255", 1), axdr.long_unsigned(2))
    assert meter.connected


def test_breaker_reset_soft_switch_and_last_gasp(client, meter, fleet):
    fleet.breaker[meter.index] = 2  # locked open, as after repeated trips
    assert get(client, IC.DATA, "0.0.94.81.3.255", 2) == 2
    assert get(client, IC.DISCONNECT_CONTROL, "0.0.96.3.10.255", 3) == 2
    client.action(method(IC.SCRIPT_TABLE, "0.0.10.0.129.255", 1), axdr.long_unsigned(1))
    assert not meter.breaker_locked
    assert client.set(attr(IC.DATA, "0.0.94.81.1.255", 2), axdr.unsigned(15)).result == R.SUCCESS
    assert meter.soft_switch == 15
    assert client.set(attr(IC.DATA, "0.0.94.81.1.255", 2),
                      axdr.unsigned(20)).result == R.OTHER_REASON
    assert meter.soft_switch == 15
    assert client.set(attr(IC.DATA, "0.0.94.81.2.255", 2), axdr.boolean(False)).result == R.SUCCESS
    assert not meter.last_gasp_enabled
    assert get(client, IC.DATA, "0.0.94.81.2.255", 2) is False


def execution_times(*moments):
    from smame.dlms.cosem_time import encode_date, encode_time

    items = []
    for moment in moments:
        local = from_epoch(moment).astimezone(JST)
        items.append(axdr.structure(
            axdr.octet_string(encode_time(local.hour, local.minute, local.second)),
            axdr.octet_string(encode_date(local.date()))))
    return axdr.array(items)


def test_limit_reservation_via_single_action_schedule_executes(client, meter, fleet):
    sas = "0.0.15.0.128.255"
    table = bytes([0, 0, 10, 0, 128, 255])
    at = fleet.time + 3600
    script = axdr.structure(axdr.octet_string(table), axdr.long_unsigned(20))
    assert client.set(attr(IC.SINGLE_ACTION_SCHEDULE, sas, 2), script).result == R.SUCCESS
    assert client.set(attr(IC.SINGLE_ACTION_SCHEDULE, sas, 4),
                      execution_times(at)).result == R.SUCCESS
    (reservation,) = meter.reservations()
    assert (reservation.time, reservation.amps) == (at, 20)
    later = fleet.time + 7200
    script = axdr.structure(axdr.octet_string(table), axdr.long_unsigned(50))
    client.set(attr(IC.SINGLE_ACTION_SCHEDULE, sas, 2), script)
    client.set(attr(IC.SINGLE_ACTION_SCHEDULE, sas, 4), execution_times(at, later))
    assert [(r.time, r.amps) for r in meter.reservations()] == [(at, 20), (later, 50)]
    listed = get(client, IC.DATA, "0.0.94.81.4.255", 2)
    assert [(decode_datetime(bytes(t)), a) for _id, t, a in listed] == [(at, 20), (later, 50)]
    times = get(client, IC.SINGLE_ACTION_SCHEDULE, sas, 4)
    assert len(times) == 2
    # In the past: refused, nothing changes.
    past = client.set(attr(IC.SINGLE_ACTION_SCHEDULE, sas, 4),
                      execution_times(at, later, fleet.time - 60))
    assert past.result == R.OTHER_REASON
    assert len(meter.reservations()) == 2
    # Drop the later one, then let the fleet pass the first.
    client.set(attr(IC.SINGLE_ACTION_SCHEDULE, sas, 4), execution_times(at))
    assert [(r.time, r.amps) for r in meter.reservations()] == [(at, 20)]
    fleet.advance(61)
    assert meter.limit_a == 20
    assert meter.reservations() == []
    kinds = [e.kind for e in meter.events()]
    assert EventKind.RESERVATION_CANCELLED in kinds
    assert EventKind.RESERVATION_EXECUTED in kinds
    bad = axdr.structure(axdr.octet_string(table), axdr.long_unsigned(70))
    assert client.set(attr(IC.SINGLE_ACTION_SCHEDULE, sas, 2), bad).result == R.OTHER_REASON


def test_errors_for_unknown_objects_attributes_and_classes(client):
    with pytest.raises(DataResultError, match="OBJECT_UNDEFINED"):
        client.get(attr(IC.REGISTER, "1.0.99.99.0.255", 2))
    with pytest.raises(DataResultError, match="OBJECT_CLASS_INCONSISTENT"):
        client.get(attr(IC.DATA, "1.0.1.8.0.255", 2))
    with pytest.raises(DataResultError, match="OBJECT_UNDEFINED"):
        client.get(attr(IC.REGISTER, "1.0.1.8.0.255", 9))
    with pytest.raises(ActionError, match="READ_WRITE_DENIED"):
        client.action(method(IC.REGISTER, "1.0.1.8.0.255", 1), axdr.integer(0))
    with pytest.raises(ActionError, match="OBJECT_UNAVAILABLE"):
        client.action(method(IC.SCRIPT_TABLE, "0.0.10.0.128.255", 1), axdr.long_unsigned(70))


def test_get_with_list_mixes_values_and_errors(endpoint, meter):
    session = ManualSession(endpoint)
    session.associate()
    items = [bytes([0, 3, 1, 0, 1, 8, 0, 255, 2, 0]), bytes([0, 1, 1, 0, 1, 8, 0, 255, 2, 0]),
             bytes([0, 1, 0, 0, 42, 0, 0, 255, 2, 0])]
    response = session.request(bytes((192, 3, 0xC1, 3)) + b"".join(items))
    assert response[:4] == bytes((196, 3, 0xC1, 3))
    body = response[4:]
    assert body[0] == 0
    assert value(body[1:6]) == meter.import_register
    assert body[6:8] == bytes((1, R.OBJECT_CLASS_INCONSISTENT))
    assert body[8] == 0
    assert value(body[9:]) == f"SMM{meter.meter_id}".encode()


def test_get_with_list_through_the_library_client(client, meter):
    from dlms_cosem.cosem import CosemAttributeWithSelection

    response = client.get_many([
        CosemAttributeWithSelection(attr(IC.REGISTER, "1.0.1.8.0.255", 2), None),
        CosemAttributeWithSelection(attr(IC.REGISTER, "1.0.1.8.0.255", 7), None),
        CosemAttributeWithSelection(attr(IC.DATA, "0.0.94.81.1.255", 2), None)])
    assert response.result == [meter.import_register, R.OBJECT_UNDEFINED, 30]


def test_object_list_and_association(client, endpoint):
    objects = get(client, IC.ASSOCIATION_LN, "0.0.40.0.0.255", 2)
    names = {bytes(o[2]) for o in objects}
    assert names == {o.logical_name for o in endpoint.model}
    assert len(objects) >= 40
    assert get(client, IC.ASSOCIATION_LN, "0.0.40.0.0.255", 3) == [1, 1]
    assert get(client, IC.ASSOCIATION_LN, "0.0.40.0.0.255", 8) == 2
    assert get(client, IC.SECURITY_SETUP, "0.0.43.0.0.255", 5) == endpoint.security.system_title


def test_values_follow_the_meter_not_a_copy(client, fleet, meter):
    before = get(client, IC.REGISTER, "1.0.1.8.0.255", 2)
    fleet.advance(120)
    after = get(client, IC.REGISTER, "1.0.1.8.0.255", 2)
    assert after == meter.import_register
    assert after != before
    assert to_epoch(from_epoch(meter.time)) == meter.time
