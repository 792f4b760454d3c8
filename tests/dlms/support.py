"""Helpers for the DLMS tests: small fleets, the dlms-cosem client over an in-memory
transport, and a hand-made management client on dlms-cosem's APDU codecs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from dlms_cosem import cosem, utils
from dlms_cosem import enumerations as enums
from dlms_cosem.client import DlmsClient
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.protocol import acse, xdlms
from dlms_cosem.protocol.wrappers import WrapperHeader, WrapperProtocolDataUnit
from dlms_cosem.security import (
    HighLevelSecurityGmacAuthentication,
    NoSecurityAuthentication,
    SecurityControlField,
)

from smame.dlms import DEMO_KEYS, MeterEndpoint, MeterKeys, ServerConnection
from smame.dlms.obis import ln
from smame.dlms.security import MeterSecurity, encode_ciphered, parse_ciphered
from smame.dlms.wrapper import Frame, WrapperDecoder
from smame.meter import Fleet, FleetConfig
from tests.conftest import jst

# dlms-cosem logs every APDU through structlog; keep test output readable.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

START = jst(2026, 7, 1)
CLIENT_TITLE = b"SMHES001"
IC = enums.CosemInterface


def make_fleet(meters: int = 3, start: datetime = START, seed: int = 11, minutes: int = 360,
               **kwargs) -> Fleet:
    """A small fleet without random outages, advanced ``minutes``."""
    kwargs.setdefault("transformer_outages_per_year", 0.0)
    kwargs.setdefault("feeder_outages_per_year", 0.0)
    fleet = Fleet(FleetConfig(meters=meters, start=start, seed=seed, **kwargs))
    fleet.advance(minutes)
    return fleet


def attr(interface: enums.CosemInterface, logical_name: str, index: int) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(interface, cosem.Obis.from_bytes(ln(logical_name)), index)


def method(interface: enums.CosemInterface, logical_name: str, index: int) -> cosem.CosemMethod:
    return cosem.CosemMethod(interface, cosem.Obis.from_bytes(ln(logical_name)), index)


def wrap(apdu: bytes, source: int, destination: int = 1) -> bytes:
    return WrapperProtocolDataUnit(apdu, WrapperHeader(source, destination, len(apdu))).to_bytes()


class MemoryTransport:
    """A dlms-cosem ``DlmsTransport`` feeding a :class:`ServerConnection` directly."""

    def __init__(self, connection: ServerConnection, client_sap: int) -> None:
        self.connection = connection
        self.client_logical_address = client_sap
        self.server_logical_address = 1
        self.timeout = 1
        self.sent: list[bytes] = []  # wrapped frames, for replay tests
        self.received: list[bytes] = []  # response APDUs
        self.events: list[object] = []
        self._decoder = WrapperDecoder()

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def exchange(self, frame: bytes) -> bytes:
        self.events += self.connection.receive_data(frame)
        frames = [f for f in self._decoder.feed(self.connection.data_to_send())
                  if isinstance(f, Frame)]
        assert len(frames) == 1, frames
        self.received.append(frames[0].payload)
        return frames[0].payload

    def send_request(self, data: bytes) -> bytes:
        frame = wrap(data, self.client_logical_address, self.server_logical_address)
        self.sent.append(frame)
        return self.exchange(frame)


def public_client(endpoint: MeterEndpoint) -> DlmsClient:
    return DlmsClient(transport=MemoryTransport(endpoint.connection(), 16),
                      authentication=NoSecurityAuthentication())


def management_client(endpoint: MeterEndpoint, keys: MeterKeys = DEMO_KEYS,
                      max_pdu: int = 65535, first_counter: int = 0) -> DlmsClient:
    return DlmsClient(transport=MemoryTransport(endpoint.connection(), 1),
                      authentication=HighLevelSecurityGmacAuthentication(challenge_length=32),
                      encryption_key=keys.encryption_key,
                      authentication_key=keys.authentication_key,
                      client_system_title=CLIENT_TITLE, max_pdu_size=max_pdu,
                      client_initial_invocation_counter=first_counter)


def value(raw: bytes):
    """A GET result as Python values, decoded by dlms-cosem as the head-end would."""
    return utils.parse_as_dlms_data(raw)


# ---------------------------------------------------------------------------- own client


SC = SecurityControlField(security_suite=0, authenticated=True, encrypted=True)
SC_AUTH = SecurityControlField(security_suite=0, authenticated=True, encrypted=False)


@dataclass
class ManualSession:
    """A management client made from dlms-cosem's APDU classes and security functions,
    for what ``DlmsClient`` cannot do (glo-… APDUs, GET-with-list, replays, tampering)."""

    endpoint: MeterEndpoint
    keys: MeterKeys = DEMO_KEYS
    title: bytes = CLIENT_TITLE
    counter: int = 0
    max_pdu: int = 65535
    connection: ServerConnection = field(init=False)
    transport: MemoryTransport = field(init=False)
    meter_title: bytes = b""

    def __post_init__(self) -> None:
        self.connection = self.endpoint.connection()
        self.transport = MemoryTransport(self.connection, 1)
        self.crypto = MeterSecurity(self.keys, self.title, 0)

    def _next(self) -> int:
        self.counter += 1
        return self.counter - 1

    def cipher(self, plain: bytes, tag: int = 219) -> bytes:
        ic = self._next()
        self.crypto.invocation_counter = ic
        ic, ciphertext = self.crypto.protect(plain)
        return encode_ciphered(tag, self.title if tag == 219 else None, 0x30, ic, ciphertext)

    def decipher(self, apdu: bytes) -> bytes:
        ciphered = parse_ciphered(apdu)
        return MeterSecurity(self.keys, self.meter_title).decipher(
            self.meter_title, ciphered.invocation_counter, ciphered.ciphertext)

    def associate(self, challenge: bytes = b"C" * 16, proof: bytes | None = None) -> bytes:
        """Run AARQ/AARE and the HLS-GMAC passes; returns the reply to the HLS action."""
        request = xdlms.InitiateRequest(
            proposed_conformance=xdlms.Conformance(
                general_protection=True, get=True, set=True, action=True,
                selective_access=True, multiple_references=True,
                block_transfer_with_get_or_read=True),
            client_max_receive_pdu_size=self.max_pdu)
        ic = self._next()
        self.crypto.invocation_counter = ic
        ic, ciphertext = self.crypto.protect(request.to_bytes())
        aarq = acse.ApplicationAssociationRequest(
            ciphered=True, system_title=self.title,
            authentication=enums.AuthenticationMechanism.HLS_GMAC,
            authentication_value=challenge,
            user_information=acse.UserInformation(content=xdlms.GlobalCipherInitiateRequest(
                security_control=SC, invocation_counter=ic, ciphered_text=ciphertext)))
        aare = acse.ApplicationAssociationResponse.from_bytes(
            self.transport.send_request(aarq.to_bytes()))
        assert aare.result == enums.AssociationResult.ACCEPTED, aare
        self.meter_title = aare.system_title
        server_challenge = aare.authentication_value
        if proof is None:
            from dlms_cosem.security import gmac

            proof = b"\x10" + self.counter.to_bytes(4, "big") + gmac(
                SC_AUTH, self.title, self.counter, self.keys.encryption_key,
                self.keys.authentication_key, server_challenge)
        octets = b"\x09" + bytes((len(proof),)) + proof
        action = xdlms.ActionRequestNormal(
            cosem_method=method(IC.ASSOCIATION_LN, "0.0.40.0.0.255", 1), data=octets)
        return self.request(action.to_bytes())

    def request(self, plain: bytes, tag: int = 219) -> bytes:
        """Send a ciphered request, return the plain response (or an exception-response)."""
        response = self.transport.send_request(self.cipher(plain, tag))
        return response if response[0] == 216 else self.decipher(response)


# ---------------------------------------------------------------------------- over TCP

HOST = "127.0.0.1"


def tcp_client(port: int, sap: int, max_pdu: int = 65535, first_counter: int = 0) -> DlmsClient:
    transport = TcpTransport(client_logical_address=sap, server_logical_address=1,
                             io=BlockingTcpIO(HOST, port, timeout=20))
    if sap == 16:
        return DlmsClient(transport=transport, authentication=NoSecurityAuthentication())
    return DlmsClient(transport=transport,
                      authentication=HighLevelSecurityGmacAuthentication(challenge_length=32),
                      encryption_key=DEMO_KEYS.encryption_key,
                      authentication_key=DEMO_KEYS.authentication_key,
                      client_system_title=CLIENT_TITLE, max_pdu_size=max_pdu,
                      client_initial_invocation_counter=first_counter)
