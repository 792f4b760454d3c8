"""The emulated Wi-SUN module, line by line, for both models (SPEC M8 over Wi-SUN)."""

from __future__ import annotations

import pytest

from smame.echonet import ESV, Frame, Property, decode, encode
from smame.skstack import BP35A1, BP35C2, Coordinator, NodeLink, Reader, WiSunModule, link_local

from .conftest import CONTROLLER, METER, PASSWORD, RBID

METER_MAC = bytes.fromhex("0013500005F5E101")
OWN_MAC = bytes.fromhex("001D129012345678")
METER_IP = link_local(METER_MAC)
GET_E7 = encode(Frame(1, CONTROLLER, METER, ESV.GET, (Property(0xE7),)))


def make(node, model=BP35A1, rbid=RBID, password=PASSWORD) -> WiSunModule:
    module = WiSunModule(model, Coordinator(METER_MAC, rbid, password), NodeLink(node), OWN_MAC)
    say(module, "SKSREG SFE 0")
    return module


def say(module: WiSunModule, command: str, payload: bytes | None = None) -> list[str]:
    if payload is None:
        module.receive_data(command.encode() + b"\r\n")
    else:
        module.receive_data(command.encode() + b" " + payload)
    return module.data_to_send().decode("latin-1").split("\r\n")[:-1]


def join(module: WiSunModule, rbid=RBID, password=PASSWORD) -> list[str]:
    say(module, f"SKSETRBID {rbid}")
    say(module, f"SKSETPWD {len(password):X} {password}")
    say(module, "SKSREG S2 21")
    say(module, "SKSREG S3 8888")
    return say(module, f"SKJOIN {METER_IP}")


def test_link_local_address() -> None:
    address = link_local(bytes.fromhex("001D129012345678"))
    assert address == "FE80:0000:0000:0000:021D:1290:1234:5678"


def test_identity_commands(node) -> None:
    a1, c2 = make(node), make(node, BP35C2)
    assert say(a1, "SKVER") == ["EVER 1.2.10", "OK"]
    assert say(a1, "SKINFO") == [f"EINFO {link_local(OWN_MAC)} 001D129012345678 21 FFFF FFFE",
                                 "OK"]
    assert say(c2, "SKINFO")[0].endswith(" 0")
    assert say(a1, "SKLL64 0013500005F5E101") == [METER_IP]
    assert say(a1, "SKSREG S2") == ["ESREG 21", "OK"]
    assert say(a1, "SKSREG S3 1234") == ["OK"]
    assert say(a1, "SKSREG S03") == ["ESREG 1234", "OK"]
    assert say(a1, "SKSREG S2 20") == ["FAIL ER06"]
    assert say(a1, "SKSREG SZZ 1") == ["FAIL ER06"]
    assert say(a1, "SKSREG") == ["FAIL ER05"]


def test_ropt_and_wopt_answer_with_cr_only(node) -> None:
    a1, c2 = make(node), make(node, BP35C2)
    a1.receive_data(b"ROPT\r")
    assert a1.data_to_send() == b"OK 01\r"
    c2.receive_data(b"ROPT\r")
    assert c2.data_to_send() == b"OK 00\r"
    c2.receive_data(b"WOPT 01\r")
    assert c2.data_to_send() == b"OK\r"
    c2.receive_data(b"ROPT\r")
    assert c2.data_to_send() == b"OK 01\r"
    assert say(c2, "WOPT 02") == ["FAIL ER06"]


def test_echo_back_is_on_after_reset(node) -> None:
    module = make(node)
    assert say(module, "SKRESET") == ["OK"]
    assert say(module, "SKVER") == ["SKVER", "EVER 1.2.10", "OK"]


@pytest.mark.parametrize("model", [BP35A1, BP35C2])
def test_active_scan_finds_the_meter(node, model) -> None:
    module = make(node, model)
    say(module, f"SKSETRBID {RBID}")
    side = " 0" if model.dual else ""
    lines = say(module, f"SKSCAN 2 FFFFFFFF 6{side}")
    tail = " 0" if model.dual else ""
    assert lines[0] == "OK"
    assert lines[1] == f"EVENT 20 {METER_IP}{tail}"
    assert "  Addr:0013500005F5E101" in lines
    assert "  Channel:21" in lines
    assert "  Pan ID:8888" in lines
    assert f"  PairID:{RBID[-8:]}" in lines
    assert ("  Side:0" in lines) == model.dual
    assert lines[-1] == f"EVENT 22 {link_local(OWN_MAC)}{tail}"
    assert say(module, "SKSCAN 2 FFFFFFFF 6 0 0") == ["FAIL ER05"]


def test_scan_with_another_pairing_id_finds_nothing(node) -> None:
    module = make(node)
    say(module, "SKSETRBID " + "F" * 32)
    assert say(module, "SKSCAN 2 FFFFFFFF 6") == ["OK", f"EVENT 22 {link_local(OWN_MAC)}"]


def test_join_and_request(node) -> None:
    module = make(node)
    lines = join(module)
    assert lines[0] == "OK"
    assert lines[-2] == f"EVENT 25 {METER_IP}"
    assert lines[-1].startswith(f"ERXUDP {METER_IP} FF02:")
    assert any(line.startswith(f"ERXUDP {METER_IP}") and " 02CC 02CC " in line for line in lines)
    lines = say(module, f"SKSENDTO 1 {METER_IP} 0E1A 1 {len(GET_E7):04X}", GET_E7)
    assert lines[0] == f"EVENT 21 {METER_IP} 00"
    assert lines[1] == "OK"
    fields = lines[2].split(" ")
    assert fields[:6] == ["ERXUDP", METER_IP, link_local(OWN_MAC), "0E1A", "0E1A",
                          "0013500005F5E101"]
    assert len(fields) == 9
    assert fields[6] == "1"
    reply = decode(bytes.fromhex(fields[8]))
    assert reply.esv == ESV.GET_RES
    assert int(fields[7], 16) == len(bytes.fromhex(fields[8]))


def test_instance_list_after_join(node) -> None:
    module = make(node)
    line = join(module)[-1]
    frame = decode(bytes.fromhex(line.split(" ")[-1]))
    assert frame.esv == ESV.INF
    assert frame.properties[0].epc == 0xD5


def test_bp35c2_erxudp_fields_and_binary_mode(node) -> None:
    module = make(node, BP35C2)
    assert join(module)[-2] == f"EVENT 25 {METER_IP} 0"
    say(module, "SKSREG SA2 1")
    module.receive_data(f"SKSENDTO 1 {METER_IP} 0E1A 1 0 {len(GET_E7):04X} ".encode() + GET_E7)
    out = module.data_to_send()
    head = f"EVENT 21 {METER_IP} 0 00\r\nOK\r\nERXUDP {METER_IP} {link_local(OWN_MAC)} 0E1A 0E1A "
    assert out.startswith(head.encode())
    rest = out[len(head):]
    fields = rest.split(b" ", 5)
    assert fields[0] == b"0013500005F5E101"
    assert fields[1] == b"A8"
    assert fields[2:4] == [b"1", b"0"]  # secured, side
    length = int(fields[4], 16)
    reply = decode(fields[5][:length])  # binary payload (WOPT 00)
    assert reply.esv == ESV.GET_RES
    assert fields[5][length:] == b"\r\n"
    reader = Reader()
    reader.binary, reader.header_fields = True, 10
    items = reader.feed(out)
    assert items[:2] == [f"EVENT 21 {METER_IP} 0 00", "OK"]
    assert items[2].rssi == 0xA8
    assert items[2].side == 0
    assert items[2].data == fields[5][:length]


def test_wrong_password_fails_the_join(node) -> None:
    module = make(node)
    lines = join(module, password="WRONGPASSWORD")
    assert lines[-1] == f"EVENT 24 {METER_IP}"
    assert not module.session
    assert say(module, f"SKSENDTO 1 {METER_IP} 0E1A 1 {len(GET_E7):04X}", GET_E7) == ["FAIL ER10"]


def test_wrong_route_b_id_fails_the_join(node) -> None:
    module = make(node)
    assert join(module, rbid="0" * 32)[-1] == f"EVENT 24 {METER_IP}"


def test_nothing_reaches_the_meter_before_joining(node) -> None:
    module = make(node)
    say(module, "SKLL64 0013500005F5E101")
    say(module, f"SKSETRBID {RBID}")
    say(module, "SKSCAN 2 FFFFFFFF 6")
    lines = say(module, f"SKSENDTO 1 {METER_IP} 0E1A 2 {len(GET_E7):04X}", GET_E7)
    assert lines == [f"EVENT 21 {METER_IP} 00", "OK"]  # sent in clear; the meter drops it
    assert say(module, "SKTERM") == ["FAIL ER10"]


def test_errors(node) -> None:
    module = make(node)
    assert say(module, "HELLO") == ["FAIL ER04"]
    assert say(module, "skver") == ["FAIL ER04"]
    assert say(module, "SKVER 1") == ["FAIL ER05"]
    assert say(module, "SKSETRBID 123") == ["FAIL ER06"]
    assert say(module, "SKSETPWD 5 1234") == ["FAIL ER06"]
    assert say(module, f"SKSENDTO 1 {METER_IP} 0E1A 1") == ["FAIL ER05"]
    assert say(module, f"SKSENDTO 1 {METER_IP} 0E1A 1 FFFF ") == ["FAIL ER06"]
    assert say(module, "SKSENDTO 9 nowhere 0E1A 1 0001", b"\x00") == ["FAIL ER06"]
    module.receive_data(b"X" * 600)
    assert module.data_to_send() == b"FAIL ER09\r\n"
    assert say(module, "SKVER") == ["EVER 1.2.10", "OK"]  # still answering


def test_terminate(node) -> None:
    module = make(node)
    join(module)
    assert say(module, "SKTERM") == ["OK", f"EVENT 27 {METER_IP}"]
    assert not module.session


def test_meter_announcements_arrive_only_in_session(node) -> None:
    module = make(node)
    module.deliver(b"\x10\x81\x00\x01", multicast=True)
    assert module.data_to_send() == b""
    join(module)
    module.deliver(b"\x10\x81\x00\x01", multicast=False)
    assert module.data_to_send().endswith(b" 1 0004 10810001\r\n")
