"""The current association 0.0.40.0.0.255 as each client sees it: its object list lists
exactly what that client may access, attributes 3–9 describe its own association, and
the management client's invocation counter is readable by the public client (SPEC S14)."""

from __future__ import annotations

import functools

import pytest
from dlms_cosem import enumerations as enums
from dlms_cosem.client import ActionError, DataResultError
from hypothesis import given, settings
from hypothesis import strategies as st

from smame.dlms import DEMO_KEYS, MeterEndpoint, axdr, obis
from smame.dlms.cosem import Access
from smame.dlms.cosem_time import encode_datetime
from tests.dlms.support import (
    IC,
    ManualSession,
    attr,
    make_fleet,
    management_client,
    method,
    public_client,
    value,
)

R = enums.DataAccessResult
ASSOCIATION = "0.0.40.0.0.255"
PUBLIC_OBJECTS = {"0.0.42.0.0.255": 1, "0.0.1.0.0.255": 8, ASSOCIATION: 15,
                  "0.0.43.1.0.255": 1, "0.0.43.1.1.255": 1}


def decoded(raw: bytes):
    """Decode with smame's strict A-XDR decoder (dlms-cosem cannot decode bit-strings)."""
    return axdr.decode(raw)


def view(client) -> dict[str, dict]:
    """The object list as {logical name: {class, version, attributes, methods}}."""
    entries = {}
    for class_id, version, logical_name, (attributes, methods) in value(
            client.get(attr(IC.ASSOCIATION_LN, ASSOCIATION, 2))):
        entries[obis.ln_str(bytes(logical_name))] = {
            "class": class_id, "version": version,
            "attributes": {a: (mode, selectors) for a, mode, selectors in attributes},
            "methods": dict(methods)}
    return entries


@pytest.fixture
def public(endpoint):
    client = public_client(endpoint)
    client.associate()
    return client


@pytest.fixture
def management(endpoint):
    client = management_client(endpoint)
    client.associate()
    return client


def test_public_view_lists_exactly_the_objects_the_public_client_may_read(public, endpoint):
    listed = view(public)
    assert {name: entry["class"] for name, entry in listed.items()} == PUBLIC_OBJECTS
    assert listed[ASSOCIATION]["version"] == 1
    for name, entry in listed.items():
        assert set(entry["methods"].values()) <= {0}  # the public client invokes nothing
        for index, (mode, _selectors) in entry["attributes"].items():
            reference = attr(IC(entry["class"]), name, index)
            if mode == Access.READ:
                assert public.get(reference) is not None
            else:
                assert (name, index, mode) == (ASSOCIATION, 7, 0)  # the secret
                with pytest.raises(DataResultError, match="READ_WRITE_DENIED"):
                    public.get(reference)
    unlisted = [o for o in endpoint.model if obis.ln_str(o.logical_name) not in listed]
    assert len(unlisted) >= 35
    for obj in unlisted:
        for index in obj.attributes:
            with pytest.raises(DataResultError, match="READ_WRITE_DENIED"):
                public.get(attr(IC(obj.class_id), obis.ln_str(obj.logical_name), index))


def test_management_view_lists_every_object_with_its_rights(management, endpoint):
    listed = view(management)
    assert set(listed) == {obis.ln_str(o.logical_name) for o in endpoint.model}
    clock = listed["0.0.1.0.0.255"]
    assert clock["attributes"][2][0] == Access.READ | Access.WRITE
    assert clock["attributes"][3][0] == Access.READ
    assert clock["methods"] == {1: 1, 2: 1, 3: 1, 6: 1}
    limiter = listed["0.0.17.0.0.255"]["attributes"]
    assert [limiter[i][0] for i in (2, 3, 4, 5)] == [1, 3, 3, 1]
    assert listed["1.0.99.1.0.255"]["attributes"][2] == (Access.READ, [1, 2])  # selectors
    assert listed["1.0.99.1.0.255"]["attributes"][3] == (Access.READ, None)
    assert listed[ASSOCIATION]["attributes"][7] == (0, None)
    assert listed[ASSOCIATION]["methods"] == {1: 1}
    assert listed["0.0.43.1.1.255"]["attributes"][2] == (Access.READ, None)


def test_association_attributes_describe_the_public_association(public, endpoint):
    def get(index: int):
        return decoded(public.get(attr(IC.ASSOCIATION_LN, ASSOCIATION, index)))

    assert axdr.as_structure(get(3))[0].value == 16
    assert [d.value for d in axdr.as_structure(get(4))] == [2, 16, 756, 5, 8, 1, 1]
    conformance, max_receive, max_send, version, quality, cyphering = axdr.as_structure(get(5))
    assert conformance.tag is axdr.Tag.BIT_STRING
    assert len(conformance.value) == 3
    bits = int.from_bytes(conformance.value, "big")
    assert not bits & 1 << 22  # no general-protection on the public association
    assert bits & 1 << 4  # get
    assert (max_receive.value, max_send.value) == (endpoint.config.max_receive_pdu,
                                                   public.transport.connection.association(
                                                       16).client_max_pdu)
    assert (version.value, quality.value, cyphering.value) == (6, 0, b"")
    assert [d.value for d in axdr.as_structure(get(6))] == [2, 16, 756, 5, 8, 2, 0]
    assert get(8) == axdr.Data(axdr.Tag.ENUM, 2)
    assert get(9) == axdr.Data(axdr.Tag.OCTET_STRING, bytes(6))


def test_association_attributes_describe_the_management_association(management, endpoint):
    def get(index: int):
        return decoded(management.get(attr(IC.ASSOCIATION_LN, ASSOCIATION, index)))

    assert [d.value for d in axdr.as_structure(get(3))] == [1, 1]
    assert [d.value for d in axdr.as_structure(get(4))] == [2, 16, 756, 5, 8, 1, 3]
    conformance, max_receive, max_send, *_ = axdr.as_structure(get(5))
    assert int.from_bytes(conformance.value, "big") & 1 << 22  # general-protection
    assert (max_receive.value, max_send.value) == (2048, 65535)
    assert [d.value for d in axdr.as_structure(get(6))] == [2, 16, 756, 5, 8, 2, 5]  # HLS-GMAC
    assert get(8).value == 2
    assert get(9).value == bytes([0, 0, 43, 0, 0, 255])


def test_the_secret_is_neither_readable_nor_writable(public, management):
    secret = attr(IC.ASSOCIATION_LN, ASSOCIATION, 7)
    for client in (public, management):
        with pytest.raises(DataResultError, match="READ_WRITE_DENIED"):
            client.get(secret)
        assert client.set(secret, axdr.octet_string(b"x" * 16)).result == R.READ_WRITE_DENIED


def test_public_client_writes_and_invokes_nothing(public, meter, endpoint):
    before = (meter.time, meter.soft_switch, meter.limit_a, endpoint.security.client_counter)
    writes = [
        (attr(IC.CLOCK, "0.0.1.0.0.255", 2), axdr.octet_string(encode_datetime(meter.time + 60))),
        (attr(IC.DATA, "0.0.42.0.0.255", 2), axdr.octet_string(b"SMM1")),
        (attr(IC.DATA, "0.0.43.1.1.255", 2), axdr.double_long_unsigned(10**6)),
        (attr(IC.DATA, "0.0.43.1.0.255", 2), axdr.double_long_unsigned(0)),
        (attr(IC.ASSOCIATION_LN, ASSOCIATION, 3), axdr.structure(axdr.integer(1),
                                                                 axdr.long_unsigned(1))),
        (attr(IC.DATA, "0.0.94.81.1.255", 2), axdr.unsigned(15)),
        (attr(IC.LIMITER, "0.0.17.0.0.255", 4), axdr.long_unsigned(10)),
    ]
    for reference, data in writes:
        assert public.set(reference, data).result == R.READ_WRITE_DENIED, reference
    for reference in [method(IC.CLOCK, "0.0.1.0.0.255", 3),
                      method(IC.ASSOCIATION_LN, ASSOCIATION, 1)]:
        with pytest.raises(ActionError, match="READ_WRITE_DENIED"):
            public.action(reference, axdr.integer(0))
    assert (meter.time, meter.soft_switch, meter.limit_a,
            endpoint.security.client_counter) == before


def test_public_client_learns_the_management_counter(endpoint):
    public = public_client(endpoint)
    public.associate()
    names = ("0.0.43.1.0.255", "0.0.43.1.1.255")
    assert [value(public.get(attr(IC.DATA, n, 2))) for n in names] == [0, 0]
    session = ManualSession(endpoint, counter=1000)
    session.associate()
    learned = [value(public.get(attr(IC.DATA, n, 2))) for n in names]
    assert learned == [session.counter, session.counter]  # the lowest counter accepted next
    follower = ManualSession(endpoint, counter=learned[0])
    assert follower.associate()[:4] == bytes((199, 1, 0xC0, 0))  # HLS action: success
    stale = ManualSession(endpoint, counter=learned[0])  # the counter the follower used
    with pytest.raises(AssertionError, match="REJECTED"):
        stale.associate()


# ---------------------------------------------------------------------------- properties


@functools.cache
def shared_endpoint() -> MeterEndpoint:
    return MeterEndpoint(make_fleet(meters=2, minutes=60).meter(0), DEMO_KEYS)


@functools.cache
def associated(sap: int):
    client = (public_client if sap == 16 else management_client)(shared_endpoint())
    client.associate()
    return client, view(client)


existing = [(IC(o.class_id), o.logical_name) for o in shared_endpoint().model]
targets = st.one_of(
    st.sampled_from(existing),
    st.tuples(st.sampled_from(list(IC)),
              st.one_of(st.sampled_from([ln for _c, ln in existing]),
                        st.binary(min_size=6, max_size=6))))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([16, 1]), targets, st.one_of(st.integers(0, 12), st.integers(0, 255)))
def test_any_get_succeeds_exactly_when_the_view_grants_read(sap, target, index):
    """For any class, logical name and attribute, a GET answers data exactly when the
    asking client's own object list grants read access; otherwise the refusal says why."""
    interface, logical_name = target
    client, listed = associated(sap)
    entry = listed.get(obis.ln_str(logical_name))
    obj = next((o for o in shared_endpoint().model if o.logical_name == logical_name), None)
    reference = attr(interface, obis.ln_str(logical_name), index)
    if entry is not None and entry["class"] == interface and (
            entry["attributes"].get(index, (0, None))[0] & Access.READ):
        axdr.decode(client.get(reference))
        return
    expected = ("OBJECT_UNDEFINED" if obj is None
                else "OBJECT_CLASS_INCONSISTENT" if obj.class_id != interface
                else "OBJECT_UNDEFINED" if index not in obj.attributes
                else "READ_WRITE_DENIED")
    with pytest.raises(DataResultError, match=expected):
        client.get(reference)
