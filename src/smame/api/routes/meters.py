"""Meters and service points (SPEC S7, S13, S15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.api.deps import State, access, note
from smame.api.errors import ERROR_RESPONSES, ApiError
from smame.api.policy import ForbiddenError, Grant, Principal
from smame.api.registry_view import ServicePoint
from smame.api.roles import THIRD_PARTY_ROLES, Category, Role, Scope
from smame.api.routes.common import MeterId, SpId, decide, decide_service_point, json_answer
from smame.api.schemas import Listing
from smame.api.state import ApiState
from smame.readings import CHANNELS, Period, Quantity, channel_code

router = APIRouter(tags=["meters"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (401, 403, 404, 409, 422, 429)}
Offset = Annotated[int, Query(ge=0, le=10**9)]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _sp_body(sp: ServicePoint, who: Principal, state: ApiState) -> dict:
    view = state.data.view
    body = {"sp_id": sp.sp_id, "communicating": sp.communicating, "opted_out": sp.opted_out,
            "meter_ids": list(sp.meters)}
    if who.role is Role.DISTRIBUTION:
        body.update(transformer_id=sp.transformer_id, feeder_id=sp.feeder_id,
                    voltage=sp.voltage, contract_amps=sp.contract_amps,
                    retailers=[{"retailer_id": c.retailer_id,
                                "from": c.valid_from.isoformat(),
                                "to": c.valid_to.isoformat() if c.valid_to else None}
                               for c in view.contracts.get(sp.sp_id, ())])
    elif who.role is Role.RETAILER:
        body.update(contract_amps=sp.contract_amps, supply_periods=[
            {"from": c.valid_from.isoformat(), "to": c.valid_to.isoformat() if c.valid_to
             else None} for c in view.contracts.get(sp.sp_id, ()) if c.retailer_id == who.party])
    elif who.role in THIRD_PARTY_ROLES:
        body["consents"] = [c.public(state.clock.time()) for c, _ in
                            state.policy.consents_in_force(who, sp.sp_id)]
    if sp.opted_out:
        body["note"] = ("opted out of the communicating meter (S15): no interval data is "
                        "collected for this service point")
    return body


def _meter_body(grant: Grant, who: Principal, state: ApiState) -> dict:
    meter = grant.meter
    view = state.data.view
    joint = view.joint.get(meter.meter_id)
    body: dict = {"meter_id": meter.meter_id, "kind": joint.kind if joint else meter.kind,
                  "communicating": bool(joint) or meter.communicating,
                  "sp_id": meter.sp_id, "digits": grant.digits, "basis": grant.basis}
    if joint is None:
        code = channel_code(Quantity.ACTIVE_IMPORT, Period.REGISTER, meter.unit_exponent)
        info = CHANNELS[code]
        body["register_unit"] = info.unit if grant.digits == 8 else (
            f"{10.0 ** (info.unit_exponent + 1):g} kWh")
    else:
        body.update(host_meter_id=joint.host_meter_id, company_id=joint.company_id,
                    register_unit="0.001 m3")
    if grant.sp is not None:
        body["service_point"] = _sp_body(grant.sp, who, state)
    if who.role is Role.DISTRIBUTION and joint is None:
        body["sub_meters"] = [{"sub_meter_id": s, "kind": k}
                              for s, k in view.sub_meters.get(meter.meter_id, ())]
        body["joint_meters"] = [{"meter_id": j.meter_id, "kind": j.kind,
                                 "company_id": j.company_id} for j in view.joint.values()
                                if j.host_meter_id == meter.meter_id]
    if grant.consent_ids:
        body["consents"] = list(grant.consent_ids)
    return body


@router.get("/meters", response_model=Listing, responses=_ERRORS, summary="Meters you may see")
async def list_meters(*, request: Request, offset: Offset = 0, limit: Limit = 100,
                      who: Annotated[Principal, Depends(access(Scope.METERS_READ))],
                      state: State):
    try:
        ids = state.policy.visible_meters(who)
    except ForbiddenError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    view = state.data.view
    items = []
    for meter_id in ids[offset:offset + limit]:
        joint = view.joint.get(meter_id)
        meter = view.meters.get(meter_id)
        items.append({"meter_id": meter_id,
                      "kind": joint.kind if joint else (meter.kind if meter else "unknown"),
                      "sp_id": meter.sp_id if meter else None,
                      "communicating": bool(joint) or bool(meter and meter.communicating)})
    note(request, listed=len(items))
    return json_answer({"total": len(ids), "offset": offset, "items": items})


@router.get("/meters/{meter_id}", responses=_ERRORS, summary="One meter")
async def get_meter(*, request: Request, meter_id: MeterId,
                    who: Annotated[Principal, Depends(access(Scope.METERS_READ))],
                    state: State):
    grant = decide(state.policy, who, meter_id, None)
    note(request, **grant.audit())
    return json_answer(_meter_body(grant, who, state))


@router.get("/meters/{meter_id}/state", responses=_ERRORS,
            summary="Breaker, switch, supply and limit of a meter, from its events")
async def meter_state(*, request: Request, meter_id: MeterId,
                      who: Annotated[Principal, Depends(access(Scope.EVENTS_READ))],
                      state: State):
    grant = decide(state.policy, who, meter_id, Category.EVENTS)
    if who.role not in (Role.DISTRIBUTION, Role.RETAILER):
        raise ApiError(403, "forbidden", "meter state is for the distribution operator and "
                       "the supplying retailer")
    note(request, **grant.audit())
    now = int(state.data_clock.time())
    body = await run_in_threadpool(state.data.meter_state, grant.meter, now)
    return json_answer({"meter_id": meter_id, **body})


@router.get("/service-points", response_model=Listing, responses=_ERRORS,
            summary="Service points you may see")
async def list_service_points(*, request: Request, offset: Offset = 0, limit: Limit = 100,
                              who: Annotated[Principal, Depends(access(Scope.METERS_READ))],
                              state: State):
    try:
        ids = state.policy.visible_service_points(who)
    except ForbiddenError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    view = state.data.view
    items = [_sp_body(view.service_points[s], who, state) for s in ids[offset:offset + limit]]
    note(request, listed=len(items))
    return json_answer({"total": len(ids), "offset": offset, "items": items})


@router.get("/service-points/{sp_id}", responses=_ERRORS, summary="One service point")
async def get_service_point(*, request: Request, sp_id: SpId,
                            who: Annotated[Principal, Depends(access(Scope.METERS_READ))],
                            state: State):
    sp, _grant = decide_service_point(state.policy, who, sp_id)
    note(request, sp_id=sp_id)
    return json_answer(_sp_body(sp, who, state))
