"""The meter's DLMS/COSEM server, sans-I/O (the model is h11): bytes in, bytes and events out.

One :class:`MeterEndpoint` per meter holds what outlives a connection: the object model,
the security context (keys, system title, invocation counters) and the server-side
settings (staged reservation amperes, push destinations). Each transport connection gets
a :class:`ServerConnection`::

    endpoint = MeterEndpoint(fleet.meter(0), DEMO_KEYS)
    conn = endpoint.connection()
    events = conn.receive_data(data_from_socket)
    socket.send(conn.data_to_send())
    if conn.should_close: socket.close()

The connection never raises on input: malformed or unsupported requests get an
exception-response or a confirmed-service-error, security failures are answered, logged
as meter events (SPEC S14) and counted; after ``ServerConfig.max_errors`` of them the
connection asks to be closed. Time comes only from the meter.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlms_cosem import enumerations as enums

from smame.dlms import apdu as service
from smame.dlms import axdr, obis
from smame.dlms.association import (
    AARQ_TAG,
    RLRQ_TAG,
    Association,
    LongGet,
    Rejected,
    handle_aarq,
    handle_rlrq,
)
from smame.dlms.cosem.base import Context, CosemError, Role
from smame.dlms.cosem.control import PushRequested
from smame.dlms.cosem.model import build_model
from smame.dlms.security import (
    GENERAL_GLO_CIPHERING,
    GLO_RESPONSE_TAG,
    SC_AUTHENTICATED_ENCRYPTED,
    AuthenticationError,
    MeterKeys,
    MeterSecurity,
    ReplayError,
    SecurityError,
    encode_ciphered,
    parse_ciphered,
    system_title_of,
)
from smame.dlms.wrapper import Discarded, Frame, Oversized, WrapperDecoder, encode_frame
from smame.meter.events import EventKind, MeterEvent

if TYPE_CHECKING:
    from dlms_cosem.protocol.xdlms import Conformance

    from smame.meter import Meter

__all__ = [
    "Associated",
    "AssociationRejected",
    "FrameRejected",
    "MeterEndpoint",
    "ProtocolError",
    "PushRequested",
    "Released",
    "SecurityFailure",
    "ServerConfig",
    "ServerConnection",
    "ServerEvent",
]

log = logging.getLogger(__name__)

CIPHER_OVERHEAD = 32  # general-glo-ciphering header, counter and tag around a response
BLOCK_HEADER = 12  # GET-Response-With-Datablock header before the raw data
_State, _Service = enums.StateException, enums.ServiceException


@dataclass(frozen=True)
class ServerConfig:
    """Limits and options of the meter's server."""

    server_wport: int = 1  # the management logical device
    max_receive_pdu: int = 2048  # octets the meter accepts in one APDU
    min_client_pdu: int = 64  # smallest client max-receive-pdu-size accepted
    max_errors: int = 32  # protocol/security errors before the connection is closed
    challenge_length: int = 16  # HLS server-to-client challenge, octets

    def __post_init__(self) -> None:
        if not 64 <= self.max_receive_pdu <= 0xFFFF:
            raise ValueError("max_receive_pdu must be within 64..65535")
        if not 12 <= self.min_client_pdu <= 0xFFFF:
            raise ValueError("min_client_pdu must be within 12..65535")
        if not 8 <= self.challenge_length <= 32:  # the AARE must keep one-octet BER lengths
            raise ValueError("challenge_length must be within 8..32")
        if self.max_errors < 1:
            raise ValueError("max_errors must be at least 1")


# ------------------------------------------------------------------ events


@dataclass(frozen=True)
class Associated:
    client_sap: int
    role: Role


@dataclass(frozen=True)
class AssociationRejected:
    client_sap: int
    reason: str


@dataclass(frozen=True)
class Released:
    client_sap: int


@dataclass(frozen=True)
class SecurityFailure:
    client_sap: int
    kind: EventKind
    invocation_counter: int


@dataclass(frozen=True)
class ProtocolError:
    client_sap: int | None
    detail: str


@dataclass(frozen=True)
class FrameRejected:
    detail: str


ServerEvent = (Associated | AssociationRejected | Released | SecurityFailure | ProtocolError
               | FrameRejected | PushRequested)


# ------------------------------------------------------------------ endpoint


class MeterEndpoint:
    """The DLMS server of one meter (``smame.meter.Meter``), shared by its connections."""

    def __init__(
        self,
        meter: Meter,
        keys: MeterKeys,
        *,
        config: ServerConfig | None = None,
        invocation_counter: int = 1,
        random: Callable[[int], bytes] = os.urandom,
        push_destination: str | None = None,
        push_randomisation: int = 0,
    ) -> None:
        self.meter = meter
        self.config = config or ServerConfig()
        self.security = MeterSecurity(keys, system_title_of(meter.meter_id), invocation_counter)
        self.random = random
        self.model = build_model(meter)
        self.staged_reservation_amps: int | None = None
        self.push_destinations: dict[bytes, str] = {}
        # Seconds, per push setup. Only interval pushes are spread by default: restore
        # reports stay immediate (outage and restore events within seconds, S8) unless a
        # client sets the Last Gasp push setup's window too.
        self.push_randomisation: dict[bytes, int] = {
            obis.INTERVAL_PUSH: push_randomisation, obis.LAST_GASP_PUSH: 0}
        if push_destination:
            self.push_destinations = {obis.INTERVAL_PUSH: push_destination,
                                      obis.LAST_GASP_PUSH: push_destination}

    def connection(self) -> ServerConnection:
        return ServerConnection(self)

    def record_security_event(self, kind: EventKind, value: int, reference: int) -> None:
        """Log a security event in the meter's event log (SPEC S14)."""
        meter = self.meter
        meter.fleet.events.add(MeterEvent(meter.meter_id, meter.fleet.time, kind, int(value),
                                          int(reference)))


# ------------------------------------------------------------------ connection


class ServerConnection:
    """One transport connection to the meter."""

    def __init__(self, endpoint: MeterEndpoint) -> None:
        self.endpoint = endpoint
        self._decoder = WrapperDecoder(endpoint.config.max_receive_pdu)
        self._out = bytearray()
        self._associations: dict[int, Association] = {}
        self.errors = 0
        self.should_close = False

    def association(self, client_sap: int) -> Association | None:
        return self._associations.get(client_sap)

    def data_to_send(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    def close(self) -> None:
        """The transport went away: every association ends."""
        self._associations.clear()
        self.should_close = True

    def receive_data(self, data: bytes) -> list[ServerEvent]:
        events: list[ServerEvent] = []
        if self.should_close:
            return events
        for item in self._decoder.feed(data):
            if isinstance(item, Frame):
                self._frame(item, events)
            elif isinstance(item, Oversized):
                events.append(FrameRejected(f"payload of {item.length} octets is too long"))
                self._strike(events)
                if item.destination == self.endpoint.config.server_wport:
                    self._send(item.source, service.exception_response(
                        _State.SERVICE_NOT_ALLOWED, _Service.PDU_TOO_LONG))
            elif isinstance(item, Discarded):
                events.append(FrameRejected(f"{item.count} octets outside any frame"))
                self._strike(events)
            if self.should_close:
                break
        return events

    # -------------------------------------------------------------- plumbing

    def _send(self, client_sap: int, apdu: bytes) -> None:
        self._out += encode_frame(self.endpoint.config.server_wport, client_sap, apdu)

    def _strike(self, events: list[ServerEvent]) -> None:
        self.errors += 1
        if self.errors >= self.endpoint.config.max_errors and not self.should_close:
            events.append(ProtocolError(None, "too many errors: closing"))
            self.close()

    def _frame(self, frame: Frame, events: list[ServerEvent]) -> None:
        if frame.destination != self.endpoint.config.server_wport:
            events.append(FrameRejected(f"no logical device at wPort {frame.destination}"))
            self._strike(events)
            return
        try:
            response = self._dispatch(frame.source, frame.payload, events)
        except Exception:  # a bug must not take the meter down: answer and carry on
            log.exception("DLMS server error on APDU %s", frame.payload.hex())
            events.append(ProtocolError(frame.source, "internal error"))
            self._strike(events)
            response = service.exception_response(_State.SERVICE_NOT_ALLOWED,
                                                  _Service.OTHER_REASON)
        if response is not None:
            self._send(frame.source, response)

    def _refuse(self, events: list[ServerEvent], sap: int, detail: str,
                state: enums.StateException = _State.SERVICE_NOT_ALLOWED,
                error: enums.ServiceException = _Service.OPERATION_NOT_POSSIBLE) -> bytes:
        events.append(ProtocolError(sap, detail))
        self._strike(events)
        return service.exception_response(state, error)

    # -------------------------------------------------------------- dispatch

    def _dispatch(self, sap: int, apdu: bytes, events: list[ServerEvent]) -> bytes | None:
        if not apdu:
            return self._refuse(events, sap, "empty APDU", _State.SERVICE_UNKNOWN,
                                _Service.SERVICE_NOT_SUPPORTED)
        tag = apdu[0]
        if tag == AARQ_TAG:
            self._associations.pop(sap, None)
            response, outcome = handle_aarq(self.endpoint, sap, apdu)
            if isinstance(outcome, Rejected):
                events.append(AssociationRejected(sap, outcome.reason.name.lower()))
                self._strike(events)
            else:
                self._associations[sap] = outcome
                if outcome.established:
                    events.append(Associated(sap, outcome.role))
            return response
        if tag == RLRQ_TAG:
            response, released = handle_rlrq(self.endpoint, self._associations.get(sap), apdu)
            if released and self._associations.pop(sap, None) is not None:
                events.append(Released(sap))
            return response
        if tag in (service.READ_REQUEST, service.WRITE_REQUEST):
            events.append(ProtocolError(sap, "short-name referencing is not served"))
            choice = service.ServiceChoice(tag)
            return service.confirmed_service_error(choice, enums.ServiceError.SERVICE_UNSUPPORTED)
        association = self._associations.get(sap)
        if tag == GENERAL_GLO_CIPHERING or tag in GLO_RESPONSE_TAG:
            return self._ciphered(association, sap, apdu, events)
        if tag in (service.GET_REQUEST, service.SET_REQUEST, service.ACTION_REQUEST):
            if association is None:
                return self._refuse(events, sap, "no association")
            if association.ciphered:
                return self._refuse(events, sap, "the security policy needs ciphered APDUs")
            return self._service(association, apdu, events)
        return self._refuse(events, sap, f"unknown APDU tag {tag}", _State.SERVICE_UNKNOWN,
                            _Service.SERVICE_NOT_SUPPORTED)

    def _ciphered(self, association: Association | None, sap: int, apdu: bytes,
                  events: list[ServerEvent]) -> bytes:
        if association is None or not association.ciphered:
            return self._refuse(events, sap, "ciphered APDU outside a ciphered association")
        try:
            ciphered = parse_ciphered(apdu)
        except axdr.AxdrError as exc:
            return self._refuse(events, sap, f"malformed ciphered APDU: {exc}",
                                error=_Service.OTHER_REASON)
        security = self.endpoint.security
        title = association.client_system_title
        assert title is not None
        try:
            if ciphered.system_title is not None and ciphered.system_title != title:
                raise AuthenticationError("system title differs from the association's")
            plain = security.unprotect(ciphered, title)
            security.accept_client_counter(ciphered.invocation_counter)
        except ReplayError as exc:
            self._security_failure(events, sap, EventKind.SECURITY_REPLAY_REJECTED, exc.received)
            return service.exception_response(_State.SERVICE_NOT_ALLOWED,
                                              _Service.INVOCATION_COUNTER_ERROR,
                                              security.client_counter + 1)
        except SecurityError:
            self._security_failure(events, sap, EventKind.SECURITY_AUTH_FAILED,
                                   ciphered.invocation_counter)
            return service.exception_response(_State.SERVICE_NOT_ALLOWED,
                                              _Service.DECIPHERING_ERROR)
        response = self._service(association, plain, events)
        if response[0] == 216:  # exception-responses travel unciphered
            return response
        ic, ciphertext = security.protect(response)
        if ciphered.tag == GENERAL_GLO_CIPHERING:
            return encode_ciphered(GENERAL_GLO_CIPHERING, security.system_title,
                                   SC_AUTHENTICATED_ENCRYPTED, ic, ciphertext)
        return encode_ciphered(GLO_RESPONSE_TAG[ciphered.tag], None, SC_AUTHENTICATED_ENCRYPTED,
                               ic, ciphertext)

    def _security_failure(self, events: list[ServerEvent], sap: int, kind: EventKind,
                          invocation_counter: int) -> None:
        self.endpoint.record_security_event(kind, invocation_counter, sap)
        events.append(SecurityFailure(sap, kind, invocation_counter))
        self._strike(events)

    # -------------------------------------------------------------- services

    def _service(self, association: Association, apdu: bytes,
                 events: list[ServerEvent]) -> bytes:
        sap = association.client_sap
        try:
            request = service.decode_request(apdu)
        except service.UnsupportedServiceError as exc:
            return self._refuse(events, sap, str(exc), error=_Service.SERVICE_NOT_SUPPORTED)
        except service.MalformedApduError as exc:
            return self._refuse(events, sap, f"malformed request: {exc}",
                                error=_Service.OTHER_REASON)
        if not association.established:
            if isinstance(request, service.ActionNormal) and request.method == service.AttributeRef(
                    15, obis.CURRENT_ASSOCIATION, 1):
                return self._reply_to_hls(association, request, events)
            return self._refuse(events, sap, "HLS authentication is pending")
        if not isinstance(request, service.GetNext):
            association.long_get = None
        if not _negotiated(association.conformance, request):
            return self._refuse(events, sap, "service not negotiated",
                                error=_Service.SERVICE_NOT_SUPPORTED)
        ctx = Context(self.endpoint.meter, self.endpoint, association, events.append)
        model = self.endpoint.model
        if isinstance(request, service.GetNormal):
            ref = request.attribute
            try:
                data = model.get(ctx, ref.class_id, ref.logical_name, ref.index, request.selection)
            except CosemError as exc:
                return service.get_normal_error(request.invoke, exc.result)
            return self._deliver(association, request.invoke,
                                 service.get_normal(request.invoke, data), data)
        if isinstance(request, service.GetNext):
            return self._get_next(association, request)
        if isinstance(request, service.GetWithList):
            results: list[bytes | enums.DataAccessResult] = []
            for ref, selection in request.items:
                try:
                    results.append(model.get(ctx, ref.class_id, ref.logical_name, ref.index,
                                             selection))
                except CosemError as exc:
                    results.append(exc.result)
            return self._deliver(association, request.invoke,
                                 service.get_with_list(request.invoke, results),
                                 service.with_list_body(results))
        if isinstance(request, service.SetNormal):
            ref = request.attribute
            try:
                model.set(ctx, ref.class_id, ref.logical_name, ref.index, request.value,
                          request.selection)
            except CosemError as exc:
                return service.set_response(request.invoke, exc.result)
            return service.set_response(request.invoke, enums.DataAccessResult.SUCCESS)
        ref = request.method
        try:
            returned = model.action(ctx, ref.class_id, ref.logical_name, ref.index,
                                    request.parameters)
        except CosemError as exc:
            return service.action_response(request.invoke, _action_status(exc.result))
        return service.action_response(request.invoke, enums.ActionResultStatus.SUCCESS,
                                       returned)

    def _budget(self, association: Association) -> int:
        """Largest plain response APDU the client can take."""
        limit = min(association.client_max_pdu, 0xFFFF)
        return limit - (CIPHER_OVERHEAD if association.ciphered else 0)

    def _deliver(self, association: Association, invoke: int, response: bytes,
                 raw: bytes) -> bytes:
        """``response`` if it fits the client's PDU size, else the first of its blocks."""
        budget = self._budget(association)
        if len(response) <= budget:
            return response
        if not association.conformance.block_transfer_with_get_or_read:
            return service.get_normal_error(invoke, enums.DataAccessResult.OTHER_REASON)
        association.long_get = LongGet(invoke, raw, budget - BLOCK_HEADER)
        return self._block(association, 1)

    def _block(self, association: Association, number: int) -> bytes:
        long_get = association.long_get
        assert long_get is not None
        chunk, last = long_get.block(number)
        long_get.sent = number
        if last:
            association.long_get = None
        return service.get_block(long_get.invoke, number, chunk, last)

    def _get_next(self, association: Association, request: service.GetNext) -> bytes:
        long_get = association.long_get
        if long_get is None:
            return service.get_block_error(request.invoke, request.block_number,
                                           enums.DataAccessResult.NO_LONG_GET_IN_PROGRESS)
        if request.block_number != long_get.sent:
            association.long_get = None
            return service.get_block_error(request.invoke, request.block_number,
                                           enums.DataAccessResult.DATA_BLOCK_NUMBER_INVALID)
        return self._block(association, long_get.sent + 1)

    def _reply_to_hls(self, association: Association, request: service.ActionNormal,
                      events: list[ServerEvent]) -> bytes:
        security = self.endpoint.security
        sap = association.client_sap
        try:
            proof = axdr.as_octets(request.parameters)
            assert association.client_system_title is not None
            assert association.server_challenge is not None
            security.verify_client_proof(proof, association.client_system_title,
                                         association.server_challenge)
        except (axdr.AxdrError, AuthenticationError):
            self._associations.pop(sap, None)
            self._security_failure(events, sap, EventKind.SECURITY_AUTH_FAILED,
                                   security.client_counter)
            events.append(AssociationRejected(sap, "hls_failed"))
            return service.action_response(request.invoke,
                                           enums.ActionResultStatus.OTHER_REASON)
        association.authenticated = True
        events.append(Associated(sap, association.role))
        assert association.client_challenge is not None
        return service.action_response(
            request.invoke, enums.ActionResultStatus.SUCCESS,
            axdr.octet_string(security.server_proof(association.client_challenge)))


def _negotiated(conformance: Conformance, request: service.Request) -> bool:
    """Whether the association's conformance block allows ``request``."""
    if isinstance(request, service.GetWithList):
        selections = [selection for _ref, selection in request.items]
        allowed = conformance.get and conformance.multiple_references
    elif isinstance(request, service.GetNormal | service.GetNext):
        selections = [getattr(request, "selection", None)]
        allowed = conformance.get
    elif isinstance(request, service.SetNormal):
        selections = [request.selection]
        allowed = conformance.set
    else:
        selections = []
        allowed = conformance.action
    uses_selection = any(s is not None for s in selections)
    return bool(allowed and (conformance.selective_access or not uses_selection))


def _action_status(result: enums.DataAccessResult) -> enums.ActionResultStatus:
    try:
        return enums.ActionResultStatus(int(result))
    except ValueError:
        return enums.ActionResultStatus.OTHER_REASON
