"""The emulated module over time: PANA lifetime and re-authentication, the ARIB STD-T108
transmit limit, scan duration and reply delays, on an injected clock (no real waiting)."""

from __future__ import annotations

import pytest

from smame.clock import SimulatedClock
from smame.echonet import ESV, decode
from smame.skstack import BP35A1, BP35C2, Coordinator, NodeLink, WiSunModule, link_local
from smame.skstack.timing import Timing, airtime_s, scan_channel_s

from .conftest import PASSWORD, RBID, START
from .test_skstack import GET_E7, METER_IP, METER_MAC, OWN_MAC, join, say

OWN_IP = link_local(OWN_MAC)


def timed(node, timing: Timing | None = None, model=BP35A1, lifetime: int | None = None
          ) -> tuple[WiSunModule, SimulatedClock]:
    clock = SimulatedClock(START)
    coordinator = Coordinator(METER_MAC, RBID, PASSWORD, session_lifetime_s=lifetime)
    module = WiSunModule(model, coordinator, NodeLink(node), OWN_MAC, clock, timing)
    say(module, "SKSREG SFE 0")
    return module, clock


def send_get(module: WiSunModule) -> list[str]:
    return say(module, f"SKSENDTO 1 {METER_IP} 0E1A 1 {len(GET_E7):04X}", GET_E7)


def test_session_lifetime_expires_and_the_module_reauthenticates(node) -> None:
    module, clock = timed(node)
    say(module, "SKSREG S16 3C")  # 60 s, the shortest the module takes
    assert join(module)[-2] == f"EVENT 25 {METER_IP}"
    assert module.next_due() == clock.time() + 60
    clock.advance(59)
    assert module.data_to_send() == b""
    clock.advance(1)
    lines = module.data_to_send().decode().split("\r\n")[:-1]
    assert lines[0] == f"EVENT 29 {METER_IP}"
    assert any(" 02CC 02CC " in line for line in lines)  # PANA exchange again
    assert lines[-1] == f"EVENT 25 {METER_IP}"
    assert module.session
    assert module.authentications == 2
    assert decode(bytes.fromhex(send_get(module)[2].split(" ")[-1])).esv == ESV.GET_RES


def test_every_expiry_is_reported_at_its_own_time(node) -> None:
    module, clock = timed(node, lifetime=3600)  # the meter grants one hour
    join(module)
    clock.advance(3 * 3600 + 5)  # three lifetimes pass before anyone reads
    events = [line for line in module.data_to_send().decode().split("\r\n")
              if line.startswith(("EVENT 29", "EVENT 25"))]
    assert events == [f"EVENT 29 {METER_IP}", f"EVENT 25 {METER_IP}"] * 3
    assert module.session_expires == clock.time() - 5 + 3600


def test_without_automatic_reauthentication_the_session_ends(node) -> None:
    module, clock = timed(node, lifetime=600)
    say(module, "SKSREG S17 0")
    join(module)
    clock.advance(600)
    assert module.data_to_send() == f"EVENT 29 {METER_IP}\r\n".encode()
    assert send_get(module) == ["FAIL ER10"]  # SEC 1 needs a session
    assert join(module)[-2] == f"EVENT 25 {METER_IP}"  # the client joins again


def test_reauthentication_fails_when_the_meter_is_out_of_range(node) -> None:
    module, clock = timed(node, lifetime=600)
    join(module)
    module.reachable = False
    clock.advance(600)
    lines = module.data_to_send().decode().split("\r\n")[:-1]
    assert lines[0] == f"EVENT 29 {METER_IP}"
    assert lines[-1] == f"EVENT 24 {METER_IP}"
    assert not module.session


def test_meter_ends_the_session_and_skterm_times_out(node) -> None:
    module, _ = timed(node, model=BP35C2)
    join(module)
    module.meter_terminates()
    assert module.data_to_send() == f"EVENT 26 {METER_IP} 0\r\n".encode()
    assert not module.session
    join(module)
    module.reachable = False
    assert say(module, "SKTERM") == ["OK", f"EVENT 28 {METER_IP} 0"]
    assert not module.session


def test_transmit_limit_raises_event_32_then_33(node) -> None:
    allowed = 3
    module, clock = timed(node, Timing(transmit_limit_s=allowed * airtime_s(len(GET_E7))))
    join(module)
    for _ in range(allowed):
        assert send_get(module)[1] == "OK"
        clock.advance(60)
    first_sent = clock.time() - allowed * 60
    assert send_get(module) == [f"EVENT 32 {OWN_IP}", "FAIL ER10"]
    assert send_get(module) == ["FAIL ER10"]  # still restricted, announced once
    assert module.next_due() == first_sent + 3600
    clock.set(first_sent + 3599)
    assert module.data_to_send() == b""
    clock.set(first_sent + 3600)
    assert module.data_to_send() == f"EVENT 33 {OWN_IP}\r\n".encode()
    assert send_get(module)[1] == "OK"


def test_scan_takes_its_duration(node) -> None:
    module, clock = timed(node, Timing(scan=True))
    say(module, f"SKSETRBID {RBID}")
    assert say(module, "SKSCAN 2 FFFFFFFF 6") == ["OK"]  # 28 channels × 0.624 s to come
    per_channel = scan_channel_s(6)
    assert per_channel == pytest.approx(0.624)
    module.receive_data(b"SKVER\r\n")  # the module answers once the scan is over
    assert module.data_to_send() == b""
    clock.advance(per_channel)  # channel 0x21, the meter's, is scanned first
    assert module.data_to_send().decode().startswith(f"EVENT 20 {METER_IP}\r\nEPANDESC")
    clock.advance(per_channel * 26)
    assert module.data_to_send() == b""
    assert module.next_due() == pytest.approx(clock.time() + per_channel)
    clock.advance(per_channel)
    assert module.data_to_send() == f"EVENT 22 {OWN_IP}\r\nEVER 1.2.10\r\nOK\r\n".encode()


def test_replies_come_after_the_meters_delay(node) -> None:
    module, clock = timed(node, Timing(reply_delay_s=0.4))
    join(module)
    assert send_get(module) == [f"EVENT 21 {METER_IP} 00", "OK"]
    clock.advance(0.39)
    assert module.data_to_send() == b""
    assert say(module, "SKVER") == ["EVER 1.2.10", "OK"]  # commands are not held up
    clock.advance(0.01)
    assert module.data_to_send().startswith(f"ERXUDP {METER_IP} ".encode())
