"""Commands to meters and on-demand reads (SPEC S2, S9, S14, M4, M7, M8).

``POST /v1/commands`` answers 202 with a correlation id at once. Up to
``mass_command_meters`` meters the head-end starts at once; above it the command waits,
``pending_approval``, until a second operator account approves it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.api.commands import DANGEROUS, CommandRejectedError, HesUnavailableError, Status
from smame.api.deps import State, access, note, rate_limit
from smame.api.errors import ERROR_RESPONSES, ApiError
from smame.api.policy import Principal
from smame.api.roles import Category, Role, Scope
from smame.api.routes.common import MeterId, decide, json_answer
from smame.api.schemas import CommandBody, CommandOut
from smame.api.state import ApiState
from smame.hes.commands import CommandKind

router = APIRouter(tags=["commands"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404, 409, 422, 429, 503)}
CorrelationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f-]+$")]


def _targets(state: ApiState, body) -> list[int]:
    view = state.data.view
    meters = list(body.meter_ids)
    for feeder in body.feeder_ids:
        meters += [m for t, f in view.transformer_feeder.items() if f == feeder
                   for m in view.meters_of_transformer(t)]
    for transformer in body.transformer_ids:
        meters += view.meters_of_transformer(transformer)
    meters = list(dict.fromkeys(meters))
    if not meters:
        raise ApiError(422, "invalid_request", "the command reaches no meter: give meter_ids, "
                       "feeder_ids or transformer_ids with meters on them")
    if len(meters) > state.config.max_meters_per_command:
        raise ApiError(422, "invalid_request", f"a command may reach at most "
                       f"{state.config.max_meters_per_command} meters")
    return meters


def _params(body) -> dict[str, Any]:
    params = body.model_dump(exclude={"kind", "meter_ids", "feeder_ids", "transformer_ids"})
    if "at" in params:
        params["at"] = int(params["at"].timestamp())
    return params


@contextlib.contextmanager
def _answers_for_command_errors() -> Iterator[None]:
    """What the command book's refusals mean to an API client."""
    try:
        yield
    except PermissionError as exc:
        raise ApiError(403, "two_person_rule", str(exc)) from None
    except CommandRejectedError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except HesUnavailableError as exc:
        raise ApiError(503, "no_headend", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "invalid_command", str(exc)) from None


def _submit(state: ApiState, who: Principal, kind: CommandKind, meters: list[int],
            params: dict[str, Any]):
    with _answers_for_command_errors():
        return state.commands.submit(who.client_id, kind, meters, params)


@router.post("/commands", status_code=202, response_model=CommandOut, responses=_ERRORS,
             summary="Send a command to meters (distribution operator)")
async def submit_command(*, request: Request, body: Annotated[CommandBody, Body()],
                         who: Annotated[Principal,
                                        Depends(access(Scope.COMMANDS_WRITE, rate=None))],
                         state: State):
    """Ampere limit now or by reservation, list or cancel reservations, disconnect,
    reconnect, breaker reset, soft switch, clock sync. Returns the correlation id; poll
    ``GET /v1/commands/{id}``. Above the mass-command threshold the command waits for a
    second operator's approval and is not sent before."""
    kind = CommandKind(body.kind)
    rate_limit(state, who, "command")
    if kind in DANGEROUS:
        rate_limit(state, who, "dangerous")
    meters = _targets(state, body)
    command = _submit(state, who, kind, meters, _params(body))
    note(request, command=command.command_id, kind=str(kind), meters=len(meters),
         status=command.status)
    return json_answer(command.public(), 202)


@router.get("/commands", responses=_ERRORS, summary="Commands, newest first")
async def list_commands(*, request: Request,
                        status: Annotated[str | None, Query(max_length=32)] = None,
                        kind: Annotated[CommandKind | None, Query()] = None,
                        meter_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                        who: Annotated[Principal, Depends(access(Scope.COMMANDS_READ))],
                        state: State):
    commands = await run_in_threadpool(state.commands.list, status, meter_id,
                                       kind.value if kind else None, limit)
    items = [_listed(state, c.public(with_results=False)) for c in commands]
    if status is None and meter_id is None:
        items = _with_headend_commands(state, items, kind, limit)
    note(request, listed=len(items))
    return json_answer({"items": items})


def _name(state: ApiState, client_id: str | None) -> str | None:
    client = state.clients.get(client_id) if client_id else None
    return client.name if client is not None else client_id


def _listed(state: ApiState, item: dict[str, Any]) -> dict[str, Any]:
    """A listed command with the operators' names and when the head-end sent it (its
    clock: simulated in a demo), for people reading the list."""
    headend = state.commands.headend
    sent = headend.commands.commands.get(item["hes_correlation_id"] or "") if headend else None
    return {**item, "submitted_by_name": _name(state, item["submitted_by"]),
            "approval": {**item["approval"],
                         "decided_by_name": _name(state, item["approval"]["decided_by"])},
            "sent_at": sent.submitted if sent is not None else None}


def _with_headend_commands(state: ApiState, items: list[dict[str, Any]],
                           kind: CommandKind | None, limit: int) -> list[dict[str, Any]]:
    """Add the commands the head-end ran on its own schedule (the demo's), not via the API."""
    headend = state.commands.headend
    if headend is None:
        return items
    known = {c.hes_correlation_id for c in state.commands.list(None, None, None, 100_000)}
    for command in headend.commands.commands.values():
        if command.correlation_id in known or command.kind is CommandKind.READ_INSTANTANEOUS \
                or (kind is not None and command.kind is not kind):
            continue
        info = command.summary()
        items.append({
            "correlation_id": command.correlation_id, "kind": str(command.kind),
            "meters": info["meters"], "params": command.params, "status": info["status"],
            "submitted_by": "head-end", "submitted_by_name": "head-end schedule",
            "submitted_at": None, "sent_at": command.submitted,
            "approval": {"required": False, "decided_by": None, "decided_at": None,
                         "decided_by_name": None},
            "hes_correlation_id": command.correlation_id, "finished_at": command.finished,
            "summary": {k: info[k] for k in ("confirmed", "failed", "pending")}})
    # newest first on the head-end's clock; those still awaiting approval on top
    items.sort(key=lambda c: (c["sent_at"] is not None, -(c["sent_at"] or 0)))
    return items[:limit]


def _command(state: ApiState, command_id: str):
    command = state.commands.get(command_id)
    if command is None or command.kind is CommandKind.READ_INSTANTANEOUS:
        raise ApiError(404, "not_found", f"command {command_id} not found")
    return command


@router.get("/commands/{command_id}", response_model=CommandOut, responses=_ERRORS,
            summary="A command's status and per-meter results")
async def get_command(*, request: Request, command_id: CorrelationId,
                      who: Annotated[Principal, Depends(access(Scope.COMMANDS_READ))],
                      state: State):
    command = _command(state, command_id)
    note(request, command=command_id)
    return json_answer(command.public())


@router.post("/commands/{command_id}/approve", response_model=CommandOut, responses=_ERRORS,
             summary="Approve a mass command (a second operator)")
async def approve(*, request: Request, command_id: CorrelationId,
                  who: Annotated[Principal,
                                 Depends(access(Scope.COMMANDS_APPROVE, rate="command"))],
                  state: State):
    _command(state, command_id)
    with _answers_for_command_errors():
        command = state.commands.approve(who.client_id, command_id)
    note(request, command=command_id, status=command.status)
    return json_answer(command.public())


@router.post("/commands/{command_id}/reject", response_model=CommandOut, responses=_ERRORS,
             summary="Reject a mass command waiting for approval")
async def reject(*, request: Request, command_id: CorrelationId,
                 who: Annotated[Principal,
                                Depends(access(Scope.COMMANDS_APPROVE, rate="command"))],
                 state: State):
    _command(state, command_id)
    with _answers_for_command_errors():
        command = state.commands.reject(who.client_id, command_id)
    note(request, command=command_id, status=command.status)
    return json_answer(command.public())


@router.get("/meters/{meter_id}/reservations", responses=_ERRORS,
            summary="Ampere reservations of a meter, as the commands left them")
async def reservations(*, request: Request, meter_id: MeterId,
                       who: Annotated[Principal, Depends(access(Scope.COMMANDS_READ))],
                       state: State):
    """Reservations made, cancelled or listed through the API for this meter; a
    ``list_reservations`` command asks the meter itself."""
    if who.role is not Role.DISTRIBUTION:
        raise ApiError(403, "forbidden", "reservations are for the distribution operator")
    decide(state.policy, who, meter_id, None)
    commands = await run_in_threadpool(state.commands.list, None, meter_id, None, 1000)
    now = state.data_clock.time()
    made: dict[int, dict[str, Any]] = {}
    listed = None
    for command in sorted(commands, key=lambda c: c.submitted_at):
        result = command.results.get(meter_id) or {}
        value = result.get("value")
        if command.kind is CommandKind.RESERVE_LIMIT:
            entry = {"correlation_id": command.command_id, "status": command.status,
                     "amps": command.params.get("amps"), "at": command.params.get("at")}
            if isinstance(value, dict) and "id" in value:
                entry["reservation_id"] = value["id"]
                entry["state"] = "executed" if value.get("time", 0) <= now else "pending"
            else:
                entry["state"] = command.status
            made[len(made)] = entry
        elif command.kind is CommandKind.CANCEL_RESERVATION and result.get("ok"):
            for entry in made.values():
                if entry.get("reservation_id") == command.params.get("reservation_id"):
                    entry["state"] = "cancelled"
        elif command.kind is CommandKind.LIST_RESERVATIONS and result.get("ok"):
            listed = {"correlation_id": command.command_id, "reservations": value,
                      "asked_at": command.finished_at}
    note(request, meter_id=meter_id)
    return json_answer({"meter_id": meter_id, "reservations": list(made.values()),
                        "meter_list": listed})


@router.post("/meters/{meter_id}/instantaneous", status_code=202, responses=_ERRORS,
             summary="Ask the meter for its instantaneous values (S2)")
async def instantaneous(*, request: Request, meter_id: MeterId,
                        who: Annotated[Principal, Depends(access(Scope.INSTANTANEOUS,
                                                        rate="instantaneous"))],
                        state: State):
    """The head-end reads active power, reactive power, voltage and leg currents now;
    the answer has the correlation id to fetch them with."""
    grant = decide(state.policy, who, meter_id, Category.INSTANTANEOUS)
    now = state.data_clock.time()
    if grant.windows is not None and not any(
            a <= now and (b is None or now < b) for a, b in grant.windows):
        raise ApiError(403, "forbidden", "you may ask for instantaneous values only while you "
                       "supply the service point or hold a consent in force")
    command = _submit(state, who, CommandKind.READ_INSTANTANEOUS, [meter_id], {})
    note(request, **grant.audit(), command=command.command_id)
    return json_answer({"correlation_id": command.command_id, "meter_id": meter_id,
                        "status": command.status,
                        "href": f"/v1/instantaneous/{command.command_id}"}, 202)


@router.get("/instantaneous/{correlation_id}", responses=_ERRORS,
            summary="The result of an instantaneous read")
async def instantaneous_result(*, request: Request, correlation_id: CorrelationId,
                               who: Annotated[Principal, Depends(access(Scope.INSTANTANEOUS))],
                               state: State):
    command = state.commands.get(correlation_id)
    if (command is None or command.kind is not CommandKind.READ_INSTANTANEOUS
            or (command.submitted_by != who.client_id and who.role is not Role.DISTRIBUTION)):
        raise ApiError(404, "not_found", f"instantaneous read {correlation_id} not found")
    meter_id = command.meter_ids[0]
    result = command.results.get(meter_id) or {}
    note(request, command=correlation_id, meter_id=meter_id)
    done = command.status in (Status.SUCCEEDED, Status.FAILED, Status.PARTIAL)
    return json_answer({"correlation_id": correlation_id, "meter_id": meter_id,
                        "status": command.status, "done": done,
                        "values": result.get("value") if result.get("ok") else None,
                        "error": result.get("error")})
