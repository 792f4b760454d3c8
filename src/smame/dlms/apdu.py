"""xDLMS service APDUs of logical-name referencing, server side (Green Book 9.3): the
GET, SET and ACTION services that read and command the meter (SPEC M1–M8, S2, S9).

Requests (GET normal/next/with-list, SET normal, ACTION normal) are decoded strictly
here: the dlms-cosem request parsers hand selective-access parameters to an A-XDR parser
that loops forever on truncated input, so they cannot take bytes from the network.
Responses are encoded with dlms-cosem's APDU classes where they are correct, and here
where they are not (GET-Response-Normal, with-list, exception-response with an
invocation counter, confirmed-service-error outside InitiateError).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from dlms_cosem import enumerations as enums
from dlms_cosem.protocol import xdlms

from smame.dlms import axdr
from smame.dlms.axdr import AxdrError, Data
from smame.dlms.cosem.base import Selection

__all__ = [
    "ActionNormal",
    "AttributeRef",
    "GetNext",
    "GetNormal",
    "GetWithList",
    "MalformedApduError",
    "Request",
    "ServiceChoice",
    "SetNormal",
    "UnsupportedServiceError",
    "action_response",
    "confirmed_service_error",
    "decode_request",
    "exception_response",
    "get_block",
    "get_block_error",
    "get_normal",
    "get_normal_error",
    "get_with_list",
    "set_response",
]

GET_REQUEST, SET_REQUEST, ACTION_REQUEST = 192, 193, 195
READ_REQUEST, WRITE_REQUEST = 5, 6  # short-name referencing, not served by this meter


class MalformedApduError(Exception):
    """The APDU is cut short, overlong or otherwise not what its tag says."""


class UnsupportedServiceError(Exception):
    """A well-formed request for a service variant this server does not offer."""


@dataclass(frozen=True)
class AttributeRef:
    """Cosem-Attribute-Descriptor or Cosem-Method-Descriptor."""

    class_id: int
    logical_name: bytes
    index: int


@dataclass(frozen=True)
class GetNormal:
    invoke: int  # the invoke-id-and-priority octet, echoed in the response
    attribute: AttributeRef
    selection: Selection | None


@dataclass(frozen=True)
class GetNext:
    invoke: int
    block_number: int


@dataclass(frozen=True)
class GetWithList:
    invoke: int
    items: tuple[tuple[AttributeRef, Selection | None], ...]


@dataclass(frozen=True)
class SetNormal:
    invoke: int
    attribute: AttributeRef
    selection: Selection | None
    value: Data


@dataclass(frozen=True)
class ActionNormal:
    invoke: int
    method: AttributeRef
    parameters: Data | None


Request = GetNormal | GetNext | GetWithList | SetNormal | ActionNormal


class _Reader:
    def __init__(self, buf: bytes, offset: int) -> None:
        self.buf = buf
        self.offset = offset

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.buf):
            raise MalformedApduError("APDU cut short")
        raw = self.buf[self.offset:end]
        self.offset = end
        return raw

    def byte(self) -> int:
        return self.take(1)[0]

    def data(self) -> Data:
        try:
            value, self.offset = axdr.decode_prefix(self.buf, self.offset)
        except AxdrError as exc:
            raise MalformedApduError(str(exc)) from None
        return value

    def descriptor(self) -> AttributeRef:
        class_id, logical_name, index = struct.unpack(">H6sb", self.take(9))
        return AttributeRef(class_id, logical_name, index)

    def selection(self) -> Selection | None:
        flag = self.byte()
        if flag == 0:
            return None
        if flag != 1:
            raise MalformedApduError(f"OPTIONAL flag {flag}")
        return Selection(self.byte(), self.data())

    def end(self) -> None:
        if self.offset != len(self.buf):
            raise MalformedApduError(f"{len(self.buf) - self.offset} stray octets at the end")


def decode_request(apdu: bytes) -> Request:
    """Decode a plain xDLMS request APDU (GET 192, SET 193, ACTION 195)."""
    if len(apdu) < 3:
        raise MalformedApduError("APDU too short")
    tag, choice, invoke = apdu[0], apdu[1], apdu[2]
    r = _Reader(apdu, 3)
    request: Request
    if tag == GET_REQUEST and choice == enums.GetRequestType.NORMAL:
        request = GetNormal(invoke, r.descriptor(), r.selection())
    elif tag == GET_REQUEST and choice == enums.GetRequestType.NEXT:
        request = GetNext(invoke, struct.unpack(">I", r.take(4))[0])
    elif tag == GET_REQUEST and choice == enums.GetRequestType.WITH_LIST:
        try:
            count, r.offset = axdr.decode_length(apdu, r.offset)
        except AxdrError as exc:
            raise MalformedApduError(str(exc)) from None
        if count == 0 or count * 10 > len(apdu) - r.offset:
            raise MalformedApduError(f"with-list of {count} items does not fit")
        request = GetWithList(invoke, tuple((r.descriptor(), r.selection())
                                            for _ in range(count)))
    elif tag == SET_REQUEST and choice == enums.SetRequestType.NORMAL:
        attribute, selection = r.descriptor(), r.selection()
        request = SetNormal(invoke, attribute, selection, r.data())
    elif tag == ACTION_REQUEST and choice == enums.ActionType.NORMAL:
        method = r.descriptor()
        flag = r.byte()
        if flag not in (0, 1):
            raise MalformedApduError(f"OPTIONAL flag {flag}")
        request = ActionNormal(invoke, method, r.data() if flag else None)
    elif tag in (GET_REQUEST, SET_REQUEST, ACTION_REQUEST):
        raise UnsupportedServiceError(f"request {tag}/{choice} (only normal, next and with-list)")
    else:
        raise UnsupportedServiceError(f"APDU tag {tag}")
    r.end()
    return request


# ------------------------------------------------------------------ responses


def _invoke(octet: int) -> xdlms.InvokeIdAndPriority:
    return xdlms.InvokeIdAndPriority.from_bytes(bytes((octet,)))


def get_normal(invoke: int, data: bytes) -> bytes:
    return bytes((196, 1, invoke, 0)) + data


def get_normal_error(invoke: int, result: enums.DataAccessResult) -> bytes:
    return xdlms.GetResponseNormalWithError(result, _invoke(invoke)).to_bytes()


def get_block(invoke: int, block_number: int, raw: bytes, last: bool) -> bytes:
    cls = xdlms.GetResponseLastBlock if last else xdlms.GetResponseWithBlock
    return cls(bytes(raw), block_number, _invoke(invoke)).to_bytes()


def get_block_error(invoke: int, block_number: int, result: enums.DataAccessResult) -> bytes:
    return xdlms.GetResponseLastBlockWithError(result, block_number, _invoke(invoke)).to_bytes()


def get_with_list(invoke: int, results: list[bytes | enums.DataAccessResult]) -> bytes:
    """Raw results: encoded Data, or a Data-Access-Result for an item that failed."""
    return bytes((196, 3, invoke)) + with_list_body(results)


def with_list_body(results: list[bytes | enums.DataAccessResult]) -> bytes:
    parts = [b"\x00" + r if isinstance(r, bytes) else bytes((1, int(r))) for r in results]
    return axdr.encode_length(len(parts)) + b"".join(parts)


def set_response(invoke: int, result: enums.DataAccessResult) -> bytes:
    return xdlms.SetResponseNormal(result, _invoke(invoke)).to_bytes()


def action_response(invoke: int, status: enums.ActionResultStatus,
                    data: bytes | None = None) -> bytes:
    if data is not None:
        return xdlms.ActionResponseNormalWithData(status, data, _invoke(invoke)).to_bytes()
    return xdlms.ActionResponseNormal(status, _invoke(invoke)).to_bytes()


def exception_response(state: enums.StateException, service: enums.ServiceException,
                       invocation_counter: int | None = None) -> bytes:
    """exception-response (216); the invocation-counter-error variant carries the counter
    the server expects at least."""
    out = bytes((216, int(state), int(service)))
    if service == enums.ServiceException.INVOCATION_COUNTER_ERROR:
        out += struct.pack(">I", invocation_counter or 0)
    return out


class ServiceChoice(IntEnum):
    """ConfirmedServiceError CHOICE of the service that failed."""

    INITIATE = 1
    READ = 5
    WRITE = 6


def confirmed_service_error(service: ServiceChoice, error: IntEnum) -> bytes:
    """confirmed-service-error (14): service, error type (ServiceError CHOICE) and value."""
    error_type = {
        enums.ApplicationReferenceError: 0, enums.HardwareResourceError: 1,
        enums.VdeStateError: 2, enums.ServiceError: 3, enums.DefinitionError: 4,
        enums.AccessError: 5, enums.InitiateError: 6, enums.LoadDataError: 7,
        enums.OtherError: 10,
    }[type(error)]
    return bytes((14, int(service), error_type, int(error)))
