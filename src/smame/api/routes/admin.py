"""The audit log and client administration (SPEC S14)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.api.clients import ClientError
from smame.api.deps import State, access, note
from smame.api.errors import ERROR_RESPONSES, ApiError
from smame.api.policy import Principal
from smame.api.roles import Scope
from smame.api.routes.common import json_answer
from smame.api.schemas import ClientBody

router = APIRouter(tags=["administration"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404, 409, 422, 429)}
ClientId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^smc_[0-9a-f]+$")]


@router.get("/audit", responses=_ERRORS, summary="Audit log entries, oldest first")
async def audit_entries(*, request: Request,
                        after: Annotated[int, Query(ge=0, le=10**15)] = 0,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                        who: Annotated[Principal, Depends(access(Scope.AUDIT_READ))],
                        state: State):
    entries = await run_in_threadpool(state.audit.entries, after, limit)
    note(request, after=after, listed=len(entries))
    return json_answer({"items": entries})


@router.get("/audit/verify", responses=_ERRORS, summary="Check the audit log's hash chain")
async def audit_verify(*, request: Request,
                        who: Annotated[Principal, Depends(access(Scope.AUDIT_READ))],
                       state: State):
    report = await run_in_threadpool(state.audit.verify)
    note(request, ok=report.ok)
    return json_answer({"ok": report.ok, "entries": report.entries,
                        "head_seq": report.head_seq, "head_hash": report.head_hash,
                        "problems": report.problems[:100]})


@router.get("/clients", responses=_ERRORS, summary="API clients")
async def list_clients(*, request: Request,
                        who: Annotated[Principal, Depends(access(Scope.CLIENTS_ADMIN))],
                       state: State):
    return json_answer({"items": [c.public() for c in state.clients.list()]})


@router.post("/clients", status_code=201, responses=_ERRORS,
             summary="Create a client; its secret is shown only in this answer")
async def add_client(*, request: Request, body: Annotated[ClientBody, Body()],
                     who: Annotated[Principal, Depends(access(Scope.CLIENTS_ADMIN))],
                     state: State):
    try:
        client, secret = await run_in_threadpool(state.clients.add, body.name, body.role,
                                                 body.party)
    except ClientError as exc:
        raise ApiError(422, "invalid_client", str(exc)) from None
    note(request, created=client.client_id, role=str(client.role), party=client.party)
    return json_answer({**client.public(), "client_secret": secret}, 201)


@router.delete("/clients/{client_id}", responses=_ERRORS,
               summary="Revoke a client: its tokens stop working at once")
async def revoke_client(*, request: Request, client_id: ClientId,
                        who: Annotated[Principal, Depends(access(Scope.CLIENTS_ADMIN))],
                        state: State):
    try:
        client = state.clients.revoke(client_id)
    except ClientError:
        raise ApiError(404, "not_found", f"client {client_id} not found") from None
    note(request, revoked=client_id)
    return json_answer(client.public())
