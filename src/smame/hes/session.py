"""An association of the head-end with one meter, over asyncio streams (SPEC S1, S2, S14).

The DLMS state machine is dlms-cosem's sans-I/O ``DlmsConnection``: it builds the AARQ,
runs HLS-GMAC, ciphers every APDU with security suite 0 and deciphers the answers. This
module only moves its bytes through the IEC 62056-47 wrapper on a stream, with a timeout
on every answer, and turns DLMS refusals into :class:`DlmsRefusedError`. The timeout runs
on the event loop's time over TCP, and on the transport's clock when the transport carries
one (:class:`ClockedTransport`: a simulated field network, whose delays are simulated).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from dlms_cosem import cosem, enumerations, exceptions, state, utils
from dlms_cosem import dlms_data as dlms_data_types
from dlms_cosem.connection import DlmsConnection
from dlms_cosem.protocol import acse, xdlms
from dlms_cosem.security import HighLevelSecurityGmacAuthentication, NoSecurityAuthentication

from smame.clock import Clock
from smame.dlms import axdr
from smame.dlms.security import MAX_INVOCATION_COUNTER, MeterKeys
from smame.dlms.wrapper import encode_frame
from smame.hes.commands import CommandError, TransientError

__all__ = [
    "ClockedTransport",
    "DlmsRefusedError",
    "DlmsSession",
    "Endpoint",
    "TcpTransport",
    "Transport",
    "counter_value",
    "learn_counter",
    "open_session",
]

WRAPPER_HEADER = struct.Struct(">HHHH")
MAX_FRAME = 65535
HLS_CHALLENGE_LENGTH = 32
MANAGEMENT_SAP, PUBLIC_SAP = 1, 16
MANAGEMENT_COUNTER = cosem.CosemAttribute(enumerations.CosemInterface.DATA,
                                          cosem.Obis(0, 0, 43, 1, 1, 255), 2)
"""The management client's invocation counter, readable on the public association."""


class DlmsRefusedError(CommandError):
    """The meter answered, and refused (a data-access or action result other than success)."""


@dataclass(frozen=True)
class Endpoint:
    """Where a meter listens on the A-route."""

    meter_id: int
    host: str
    port: int
    server_sap: int = 1
    cell: str = "default"
    unit_exponent: int = -2


class DlmsSession:
    """A management-client association (client SAP 1, HLS-GMAC, security suite 0), or
    with ``keys=None`` a public one (client SAP 16, no authentication, no ciphering)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keys: MeterKeys | None,
        client_title: bytes,
        first_counter: int,
        server_sap: int = 1,
        client_sap: int | None = None,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._clock = clock
        self.client_sap = client_sap or (MANAGEMENT_SAP if keys else PUBLIC_SAP)
        self.server_sap = server_sap
        self.timeout = timeout
        if keys is None:
            self.connection = DlmsConnection(client_system_title=client_title,
                                             authentication=NoSecurityAuthentication(),
                                             max_pdu_size=2048)
            return
        self.connection = DlmsConnection(
            client_system_title=client_title,
            authentication=HighLevelSecurityGmacAuthentication(
                challenge_length=HLS_CHALLENGE_LENGTH),
            global_encryption_key=keys.encryption_key,
            global_authentication_key=keys.authentication_key,
            security_suite=0,
            max_pdu_size=2048,
            client_invocation_counter=first_counter,
        )

    @property
    def next_counter(self) -> int:
        """The invocation counter the next APDU would use."""
        return self.connection.client_invocation_counter

    async def _read_frame(self) -> bytes:
        header = await self._reader.readexactly(WRAPPER_HEADER.size)
        version, _source, _destination, length = WRAPPER_HEADER.unpack(header)
        if version != 1:
            raise TransientError(f"wrapper version {version} from the meter")
        return await self._reader.readexactly(length)

    async def _exchange(self, event):
        data = self.connection.send(event)
        self._writer.write(encode_frame(self.client_sap, self.server_sap, data))
        try:
            payload = await _within(self._clock, self.timeout, self._read_frame())
        except asyncio.IncompleteReadError:
            raise TransientError("the meter closed the connection") from None
        except TimeoutError:
            raise TransientError(f"no answer within {self.timeout} s") from None
        try:
            self.connection.receive_data(payload)
            answer = self.connection.next_event()
        except Exception as exc:  # dlms-cosem's parsers raise anything at all on garbage
            raise TransientError(f"unreadable answer: {type(exc).__name__}: {exc}") from None
        if isinstance(answer, xdlms.ExceptionResponse):
            raise DlmsRefusedError(f"exception response: {answer.state_error.name}, "
                              f"{answer.service_error.name}")
        return answer

    async def associate(self) -> None:
        """AARQ/AARE and the HLS-GMAC exchange; CommandError if the meter refuses us."""
        answer = await self._exchange(self.connection.get_aarq())
        if not isinstance(answer, acse.ApplicationAssociationResponse):
            raise TransientError("no AARE after the AARQ")
        if answer.result is not enumerations.AssociationResult.ACCEPTED:
            raise CommandError(f"association refused: {answer.result_source_diagnostics!r}")
        if self.connection.state.current_state == state.SHOULD_SEND_HLS_SEVER_CHALLENGE_RESULT:
            reply = self.connection.authentication.hls_generate_reply_data(self.connection)
            data = await self.action(cosem.CosemMethod(
                enumerations.CosemInterface.ASSOCIATION_LN, cosem.Obis(0, 0, 40, 0, 0), 1),
                dlms_data_types.OctetStringData(reply).to_bytes())
            proof = utils.parse_as_dlms_data(data) if data else None
            if not proof or not self.connection.authentication.hls_meter_data_is_valid(
                    proof, self.connection):
                raise CommandError("the meter failed HLS-GMAC authentication")

    async def get(self, attribute: cosem.CosemAttribute, access=None) -> bytes:
        """The A-XDR data of an attribute, block transfer included."""
        answer = await self._exchange(xdlms.GetRequestNormal(
            cosem_attribute=attribute, access_selection=access))
        data = bytearray()
        while True:
            if isinstance(answer, xdlms.GetResponseNormal):
                return bytes(answer.data)
            if isinstance(answer, xdlms.GetResponseWithBlock):
                data.extend(answer.data)
                answer = await self._exchange(xdlms.GetRequestNext(
                    invoke_id_and_priority=answer.invoke_id_and_priority,
                    block_number=answer.block_number))
                continue
            if isinstance(answer, xdlms.GetResponseLastBlock):
                data.extend(answer.data)
                return bytes(data)
            error = getattr(answer, "error", None)
            raise DlmsRefusedError(f"GET {attribute.instance} refused: {error!r}")

    async def set(self, attribute: cosem.CosemAttribute, data: bytes) -> None:
        answer = await self._exchange(xdlms.SetRequestNormal(cosem_attribute=attribute,
                                                             data=data))
        result = getattr(answer, "result", None)
        if result is not enumerations.DataAccessResult.SUCCESS:
            raise DlmsRefusedError(f"SET {attribute.instance} refused: {result!r}")

    async def action(self, method: cosem.CosemMethod, data: bytes | None = None) -> bytes | None:
        answer = await self._exchange(xdlms.ActionRequestNormal(cosem_method=method, data=data))
        status = getattr(answer, "status", None)
        if status is not enumerations.ActionResultStatus.SUCCESS:
            raise DlmsRefusedError(f"ACTION {method.instance}/{method.method} refused: "
                              f"{status or getattr(answer, 'error', None)!r}")
        return getattr(answer, "data", None)

    async def release(self) -> None:
        with contextlib.suppress(TransientError, exceptions.NoRlrqRlreError):
            await self._exchange(self.connection.get_rlrq())

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class Transport(Protocol):
    """How the head-end reaches a meter: a byte stream to it. TCP on an IP network today;
    a simulated field network (multi-hop, 1:N, PLC) can stand in without touching DLMS."""

    async def connect(
        self, endpoint: Endpoint
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...


@runtime_checkable
class ClockedTransport(Transport, Protocol):
    """A transport whose delays run on a clock of their own (a simulated network): the
    sessions over it time out on that clock, not on the event loop's."""

    clock: Clock


_T = TypeVar("_T")


async def _within(clock: Clock | None, seconds: float, job: Awaitable[_T]) -> _T:
    """``job``'s result, or TimeoutError after ``seconds`` of ``clock`` (None: the event
    loop's time)."""
    if clock is None:
        return await asyncio.wait_for(job, seconds)
    work = asyncio.ensure_future(job)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        done, _ = await asyncio.wait((work, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not work.done():
            work.cancel()
    if work not in done:
        raise TimeoutError
    return work.result()


class TcpTransport:
    async def connect(
        self, endpoint: Endpoint
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(endpoint.host, endpoint.port)


async def _connect(endpoint: Endpoint, timeout: float, transport: Transport | None
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for((transport or TcpTransport()).connect(endpoint), timeout)
    except (OSError, TimeoutError) as exc:
        raise TransientError(f"cannot reach meter {endpoint.meter_id}: {exc}") from None


async def open_session(
    endpoint: Endpoint,
    keys: MeterKeys | None,
    client_title: bytes,
    first_counter: int,
    timeout: float = 10.0,
    transport: Transport | None = None,
) -> DlmsSession:
    """Connect and associate (``keys=None``: as the public client); TransientError if the
    meter cannot be reached."""
    reader, writer = await _connect(endpoint, timeout, transport)
    clock = transport.clock if isinstance(transport, ClockedTransport) else None
    session = DlmsSession(reader, writer, keys, client_title, first_counter,
                          server_sap=endpoint.server_sap, timeout=timeout, clock=clock)
    try:
        await session.associate()
    except BaseException:
        await session.close()
        raise
    return session


def counter_value(data: bytes) -> int:
    """The invocation counter in the A-XDR answer of 0.0.43.1.1.255 attribute 2 (an
    unsigned 32-bit integer); CommandError for anything else."""
    try:
        return axdr.as_int(axdr.decode(data), 0, MAX_INVOCATION_COUNTER)
    except axdr.AxdrError as exc:
        raise CommandError(f"unreadable invocation counter: {exc}") from None


async def learn_counter(endpoint: Endpoint, client_title: bytes, timeout: float = 10.0,
                        transport: Transport | None = None) -> int:
    """The lowest invocation counter the meter accepts next from the management client,
    read on a public association (the IDIS practice, ``docs/obis.md``)."""
    session = await open_session(endpoint, None, client_title, 0, timeout, transport)
    try:
        learned = counter_value(await session.get(MANAGEMENT_COUNTER))
        await session.release()
    finally:
        await session.close()
    return learned
