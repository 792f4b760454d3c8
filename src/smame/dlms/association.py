"""Application associations: AARQ → AARE, HLS-GMAC, RLRQ → RLRE (SPEC S14).

Two client roles, told apart by the client SAP (the wrapper's source wPort):

* public client, SAP 16: LN referencing without ciphering, no authentication;
* management client, SAP 1: LN referencing with ciphering, HLS-GMAC (mechanism 5),
  security suite 0. The xDLMS InitiateRequest comes ciphered (glo-initiateRequest);
  the association is usable only after the client proves the keys on the server's
  challenge (``reply_to_HLS``, method 1 of 0.0.40.0.0.255), and the server proves them on
  the client's.

ACSE APDUs are parsed and built with dlms-cosem's classes; every parse error becomes a
rejection, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from dlms_cosem import enumerations as enums
from dlms_cosem import security as dlms_security
from dlms_cosem.protocol import acse, xdlms

from smame.dlms import apdu as service
from smame.dlms.cosem.base import Role
from smame.dlms.security import (
    SC_AUTHENTICATED_ENCRYPTED,
    AuthenticationError,
    ReplayError,
    SecurityError,
)
from smame.meter.events import EventKind

if TYPE_CHECKING:
    from smame.dlms.server import MeterEndpoint

__all__ = [
    "MANAGEMENT_SAP",
    "PUBLIC_SAP",
    "Association",
    "Rejected",
    "handle_aarq",
    "handle_rlrq",
    "management_conformance",
    "public_conformance",
]

PUBLIC_SAP = 16
MANAGEMENT_SAP = 1
AARQ_TAG, AARE_TAG, RLRQ_TAG, RLRE_TAG = 0x60, 0x61, 0x62, 0x63
MIN_CHALLENGE, MAX_CHALLENGE = 8, 64
DLMS_VERSION = 6
LN_PLAIN, LN_CIPHERED = 1, 3  # application context ids


def public_conformance() -> xdlms.Conformance:
    """Services the public client may negotiate. SET and ACTION are offered so that a
    refusal comes as read-write-denied from the access rights, per attribute."""
    return xdlms.Conformance(get=True, set=True, action=True, selective_access=True,
                             multiple_references=True, block_transfer_with_get_or_read=True)


def management_conformance() -> xdlms.Conformance:
    return xdlms.Conformance(general_protection=True, get=True, set=True, action=True,
                             selective_access=True, multiple_references=True,
                             block_transfer_with_get_or_read=True)


def _intersect(proposed: xdlms.Conformance, offered: xdlms.Conformance) -> xdlms.Conformance:
    names = xdlms.Conformance.conformance_bit_position
    return xdlms.Conformance(**{n: getattr(proposed, n) and getattr(offered, n) for n in names})


@dataclass
class LongGet:
    """A GET answered in blocks (block transfer with GET)."""

    invoke: int
    raw: bytes
    block_size: int
    sent: int = 0  # number of the last block sent

    def block(self, number: int) -> tuple[bytes, bool]:
        start = (number - 1) * self.block_size
        chunk = self.raw[start:start + self.block_size]
        return chunk, start + self.block_size >= len(self.raw)


@dataclass
class Association:
    """An association of one client SAP on one connection."""

    role: Role
    client_sap: int
    conformance: xdlms.Conformance
    client_max_pdu: int
    ciphered: bool = False
    client_system_title: bytes | None = None
    client_challenge: bytes | None = None
    server_challenge: bytes | None = None
    authenticated: bool = False
    mechanism: enums.AuthenticationMechanism = enums.AuthenticationMechanism.NONE
    long_get: LongGet | None = field(default=None, repr=False)

    @property
    def established(self) -> bool:
        """Usable for GET/SET/ACTION (HLS done, or no authentication needed)."""
        return self.authenticated

    @property
    def application_context(self) -> int:
        """The context id of the application context name: 1 LN referencing without
        ciphering, 3 LN referencing with ciphering (Green Book)."""
        return LN_CIPHERED if self.ciphered else LN_PLAIN


class Diagnostic(IntEnum):
    """Why an AARQ was rejected, for the server's events."""

    MALFORMED = 0
    UNKNOWN_CLIENT = 1
    CONTEXT = 2
    MECHANISM = 3
    SYSTEM_TITLE = 4
    CHALLENGE = 5
    DECIPHER = 6
    REPLAY = 7
    INITIATE = 8


@dataclass(frozen=True)
class Rejected:
    client_sap: int
    reason: Diagnostic


@dataclass
class _Encoded:
    """An xDLMS APDU already encoded, for dlms-cosem's UserInformation."""

    raw: bytes

    def to_bytes(self) -> bytes:
        return self.raw


_SC_AUTH_ENC = dlms_security.SecurityControlField.from_bytes(bytes((SC_AUTHENTICATED_ENCRYPTED,)))


def _reject(diagnostic: enums.AcseServiceUserDiagnostics, *, ciphered: bool = False,
            error: IntEnum | None = None) -> bytes:
    user_information = None
    if error is not None:
        user_information = acse.UserInformation(content=_Encoded(
            service.confirmed_service_error(service.ServiceChoice.INITIATE, error)))
    aare = acse.ApplicationAssociationResponse(
        result=enums.AssociationResult.REJECTED_PERMANENT,
        result_source_diagnostics=diagnostic, ciphered=ciphered,
        user_information=user_information)
    return aare.to_bytes()


def _initiate_response(conformance: xdlms.Conformance, max_pdu: int) -> bytes:
    return xdlms.InitiateResponse(negotiated_conformance=conformance,
                                  server_max_receive_pdu_size=max_pdu).to_bytes()


@dataclass(frozen=True)
class InitiateRequest:
    """The fields of an xDLMS InitiateRequest the server acts on."""

    dedicated_key: bytes | None
    dlms_version: int
    conformance: xdlms.Conformance
    client_max_pdu: int


def parse_initiate_request(raw: bytes) -> InitiateRequest:
    """Decode an InitiateRequest strictly (dlms-cosem's parser drops the conformance
    block's first octet, where general-protection lives). Raises ValueError."""
    if len(raw) < 14 or raw[0] != 0x01:
        raise ValueError("not an InitiateRequest")
    offset, dedicated_key = 1, None
    if raw[offset]:  # dedicated-key OCTET STRING OPTIONAL
        size = raw[offset + 1]
        dedicated_key = bytes(raw[offset + 2:offset + 2 + size])
        offset += 2 + size
    else:
        offset += 1
    for _optional in range(2):  # response-allowed DEFAULT TRUE, proposed-quality-of-service
        if offset >= len(raw):
            raise ValueError("InitiateRequest cut short")
        offset += 2 if raw[offset] else 1
    rest = raw[offset:]
    if len(rest) != 10 or rest[1:4] != b"\x5f\x1f\x04":
        raise ValueError("bad conformance block")
    bits = int.from_bytes(rest[5:8], "big")
    conformance = xdlms.Conformance(**{
        name: bool(bits >> position & 1)
        for name, position in xdlms.Conformance.conformance_bit_position.items()})
    return InitiateRequest(dedicated_key, rest[0], conformance,
                           int.from_bytes(rest[8:10], "big"))


def _check_initiate(plain: bytes, offered: xdlms.Conformance, min_pdu: int
                    ) -> tuple[xdlms.Conformance, int] | enums.InitiateError:
    """Negotiated conformance and the client's max PDU, or why the InitiateRequest fails."""
    try:
        request = parse_initiate_request(plain)
    except (ValueError, IndexError):
        return enums.InitiateError.OTHER
    if request.dedicated_key:
        return enums.InitiateError.REFUSED_BY_VDE_HANDLER  # dedicated keys are not offered
    if request.dlms_version < DLMS_VERSION:
        return enums.InitiateError.DLMS_VERSION_TOO_LOW
    if request.client_max_pdu < min_pdu:
        return enums.InitiateError.PDU_SIZE_TOO_SHORT
    negotiated = _intersect(request.conformance, offered)
    if not (negotiated.get or negotiated.set or negotiated.action):
        return enums.InitiateError.INCOMPATIBLE_CONFORMANCE
    return negotiated, request.client_max_pdu


def handle_aarq(endpoint: MeterEndpoint, client_sap: int, raw: bytes
                ) -> tuple[bytes, Association | Rejected]:
    """Answer an AARQ: the AARE, and the new association or why it was rejected."""
    diag = enums.AcseServiceUserDiagnostics
    try:
        aarq = acse.ApplicationAssociationRequest.from_bytes(raw)
    except Exception:
        return _reject(diag.NO_REASON_GIVEN), Rejected(client_sap, Diagnostic.MALFORMED)
    if client_sap == PUBLIC_SAP:
        return _public(endpoint, aarq, raw)
    if client_sap == MANAGEMENT_SAP:
        return _management(endpoint, aarq)
    return _reject(diag.NO_REASON_GIVEN), Rejected(client_sap, Diagnostic.UNKNOWN_CLIENT)


def _user_information(aarq: bytes) -> bytes:
    """The xDLMS APDU inside an AARQ's user-information (already parsed once by
    dlms-cosem, so its lengths are known to be consistent)."""
    offset = 2
    while offset + 2 <= len(aarq):
        tag, size = aarq[offset], aarq[offset + 1]
        if tag == 0xBE:
            return bytes(aarq[offset + 4:offset + 2 + size])  # skip the inner 04 len
        offset += 2 + size
    return b""


def _public(endpoint: MeterEndpoint, aarq: acse.ApplicationAssociationRequest, raw: bytes
            ) -> tuple[bytes, Association | Rejected]:
    diag = enums.AcseServiceUserDiagnostics
    sap = PUBLIC_SAP
    if aarq.ciphered:
        return (_reject(diag.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
                Rejected(sap, Diagnostic.CONTEXT))
    if aarq.authentication not in (None, enums.AuthenticationMechanism.NONE):
        return (_reject(diag.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNIZED),
                Rejected(sap, Diagnostic.MECHANISM))
    content = aarq.user_information.content
    if not isinstance(content, xdlms.InitiateRequest):
        return (_reject(diag.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
                Rejected(sap, Diagnostic.CONTEXT))
    checked = _check_initiate(_user_information(raw), public_conformance(),
                              endpoint.config.min_client_pdu)
    if isinstance(checked, enums.InitiateError):
        return _reject(diag.NO_REASON_GIVEN, error=checked), Rejected(sap, Diagnostic.INITIATE)
    conformance, max_pdu = checked
    aare = acse.ApplicationAssociationResponse(
        result=enums.AssociationResult.ACCEPTED, result_source_diagnostics=diag.NULL,
        user_information=acse.UserInformation(
            content=_Encoded(_initiate_response(conformance, endpoint.config.max_receive_pdu))))
    return aare.to_bytes(), Association(Role.PUBLIC, sap, conformance, max_pdu,
                                        authenticated=True)


def _management(endpoint: MeterEndpoint, aarq: acse.ApplicationAssociationRequest
                ) -> tuple[bytes, Association | Rejected]:
    diag = enums.AcseServiceUserDiagnostics
    sap = MANAGEMENT_SAP
    if not aarq.ciphered:
        return (_reject(diag.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
                Rejected(sap, Diagnostic.CONTEXT))
    if aarq.authentication != enums.AuthenticationMechanism.HLS_GMAC:
        missing = aarq.authentication in (None, enums.AuthenticationMechanism.NONE)
        return (_reject(diag.AUTHENTICATION_MECHANISM_NAME_REQUIRED if missing
                        else diag.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNIZED, ciphered=True),
                Rejected(sap, Diagnostic.MECHANISM))
    title = aarq.system_title
    if not isinstance(title, bytes | bytearray) or len(title) != 8:
        return (_reject(diag.CALLING_AP_TITLE_NOT_RECOGNIZED, ciphered=True),
                Rejected(sap, Diagnostic.SYSTEM_TITLE))
    title = bytes(title)
    challenge = aarq.authentication_value
    if not isinstance(challenge, bytes | bytearray) or not (
            MIN_CHALLENGE <= len(challenge) <= MAX_CHALLENGE):
        return (_reject(diag.AUTHENTICATION_FAILED, ciphered=True),
                Rejected(sap, Diagnostic.CHALLENGE))
    content = aarq.user_information.content
    if not isinstance(content, xdlms.GlobalCipherInitiateRequest):
        return (_reject(diag.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED, ciphered=True),
                Rejected(sap, Diagnostic.CONTEXT))
    security = endpoint.security
    deciphering = enums.ApplicationReferenceError.DECIPHERING_ERROR
    try:
        if content.security_control.to_bytes()[0] != SC_AUTHENTICATED_ENCRYPTED:
            raise AuthenticationError("security control must be 0x30")
        plain = security.decipher(title, content.invocation_counter, content.ciphered_text)
        security.accept_client_counter(content.invocation_counter)
    except ReplayError as exc:
        endpoint.record_security_event(EventKind.SECURITY_REPLAY_REJECTED, exc.received, sap)
        return (_reject(diag.NO_REASON_GIVEN, ciphered=True, error=deciphering),
                Rejected(sap, Diagnostic.REPLAY))
    except SecurityError:
        endpoint.record_security_event(EventKind.SECURITY_AUTH_FAILED,
                                       content.invocation_counter, sap)
        return (_reject(diag.NO_REASON_GIVEN, ciphered=True, error=deciphering),
                Rejected(sap, Diagnostic.DECIPHER))
    checked = _check_initiate(plain, management_conformance(), endpoint.config.min_client_pdu)
    if isinstance(checked, enums.InitiateError):
        return (_reject(diag.NO_REASON_GIVEN, ciphered=True, error=checked),
                Rejected(sap, Diagnostic.INITIATE))
    conformance, max_pdu = checked
    server_challenge = endpoint.random(endpoint.config.challenge_length)
    ic, ciphertext = security.protect(
        _initiate_response(conformance, endpoint.config.max_receive_pdu))
    response = xdlms.GlobalCipherInitiateResponse(
        security_control=_SC_AUTH_ENC, invocation_counter=ic, ciphered_text=ciphertext)
    aare = acse.ApplicationAssociationResponse(
        result=enums.AssociationResult.ACCEPTED,
        result_source_diagnostics=diag.AUTHENTICATION_REQUIRED, ciphered=True,
        authentication=enums.AuthenticationMechanism.HLS_GMAC,
        system_title=security.system_title, authentication_value=server_challenge,
        user_information=acse.UserInformation(content=response))
    return aare.to_bytes(), Association(
        Role.MANAGEMENT, sap, conformance, max_pdu, ciphered=True, client_system_title=title,
        client_challenge=bytes(challenge), server_challenge=server_challenge,
        mechanism=enums.AuthenticationMechanism.HLS_GMAC)


def handle_rlrq(endpoint: MeterEndpoint, association: Association | None, raw: bytes
                ) -> tuple[bytes, bool]:
    """Answer an RLRQ: the response APDU and whether the association is released.

    A ciphered association's RLRQ may carry a ciphered InitiateRequest; if it does not
    authenticate, the release is refused with an exception-response.
    """
    request = None
    if raw[1:] != b"\x00":  # an empty RLRQ is valid
        try:
            request = acse.ReleaseRequest.from_bytes(raw)
        except Exception:
            return service.exception_response(enums.StateException.SERVICE_NOT_ALLOWED,
                                               enums.ServiceException.OTHER_REASON), False
    user_information = None
    content = request.user_information.content if request and request.user_information else None
    if association is not None and content is not None:
        plain_response = _initiate_response(association.conformance,
                                            endpoint.config.max_receive_pdu)
        if association.ciphered:
            if not isinstance(content, xdlms.GlobalCipherInitiateRequest):
                return service.exception_response(enums.StateException.SERVICE_NOT_ALLOWED,
                                                   enums.ServiceException.DECIPHERING_ERROR
                                                   ), False
            try:
                assert association.client_system_title is not None
                endpoint.security.decipher(association.client_system_title,
                                           content.invocation_counter, content.ciphered_text)
                endpoint.security.accept_client_counter(content.invocation_counter)
            except ReplayError as exc:
                endpoint.record_security_event(EventKind.SECURITY_REPLAY_REJECTED,
                                               exc.received, association.client_sap)
                return service.exception_response(
                    enums.StateException.SERVICE_NOT_ALLOWED,
                    enums.ServiceException.INVOCATION_COUNTER_ERROR,
                    endpoint.security.client_counter + 1), False
            except SecurityError:
                endpoint.record_security_event(EventKind.SECURITY_AUTH_FAILED,
                                               content.invocation_counter,
                                               association.client_sap)
                return service.exception_response(enums.StateException.SERVICE_NOT_ALLOWED,
                                                   enums.ServiceException.DECIPHERING_ERROR
                                                   ), False
            ic, ciphertext = endpoint.security.protect(plain_response)
            user_information = acse.UserInformation(content=xdlms.GlobalCipherInitiateResponse(
                security_control=_SC_AUTH_ENC, invocation_counter=ic,
                ciphered_text=ciphertext))
        else:
            user_information = acse.UserInformation(content=_Encoded(plain_response))
    response = acse.ReleaseResponse(reason=enums.ReleaseResponseReason.NORMAL,
                                    user_information=user_information)
    return response.to_bytes(), True
