"""Customer consents, recorded by the data association (認定協会) (SPEC S6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from smame.api.consents import ConsentError
from smame.api.deps import State, access, note
from smame.api.errors import ERROR_RESPONSES, ApiError
from smame.api.policy import Principal
from smame.api.roles import THIRD_PARTY_ROLES, Role, Scope
from smame.api.routes.common import json_answer
from smame.api.schemas import ConsentBody, ConsentOut
from smame.api.state import ApiState
from smame.clock import jst_day

router = APIRouter(tags=["consents"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404, 409, 422, 429)}
ConsentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^cns_[0-9a-f]+$")]


def _sees_all(who: Principal) -> bool:
    return who.role in (Role.DATA_ASSOCIATION, Role.AUDITOR)


@router.post("/consents", status_code=201, response_model=ConsentOut, responses=_ERRORS,
             summary="Record a customer's consent (data association)")
async def grant_consent(*, request: Request, body: Annotated[ConsentBody, Body()],
                        who: Annotated[Principal, Depends(access(Scope.CONSENTS_WRITE))],
                        state: State):
    """The data association confirms that the customer holding the supply at ``sp_id``
    today lets ``grantee`` (the recipient) see ``categories`` of its data from
    ``data_from`` (to ``data_to``) for ``purpose``, until ``expires_at``, revocation or the
    customer's move-out. ``data_from`` may not lie before the customer's move-in."""
    if body.sp_id not in state.data.view.service_points:
        raise ApiError(404, "not_found", f"service point {body.sp_id} not found")
    tenancy = state.policy.current_tenancy(body.sp_id)
    if tenancy is None:
        raise ApiError(409, "no_customer", f"no customer holds the supply at {body.sp_id} "
                       "today: a consent is given by the current customer")
    if body.customer_id is not None and body.customer_id != tenancy.customer_id:
        raise ApiError(409, "not_the_customer", f"customer {body.customer_id} does not hold "
                       f"the supply at {body.sp_id} today")
    try:
        consent = state.consents.grant(
            body.sp_id, body.grantee, [c.value for c in body.categories], body.purpose,
            body.data_from, body.data_to,
            body.expires_at.timestamp() if body.expires_at else None, body.customer_ref,
            granted_by=who.client_id, tenancy=tenancy, confirmed_by=who.party)
    except ConsentError as exc:
        raise ApiError(422, "invalid_consent", str(exc)) from None
    note(request, consent=consent.consent_id, sp_id=consent.sp_id, grantee=consent.grantee,
         customer=consent.customer_id)
    return json_answer(_public(state, consent), 201)


@router.get("/consents", responses=_ERRORS, summary="Consents (yours, or all for the "
                                                     "association and auditors)")
async def list_consents(*, request: Request,
                        sp_id: Annotated[str | None, Query(pattern=r"^\d{22}$")] = None,
                        who: Annotated[Principal, Depends(access(Scope.CONSENTS_READ))],
                        state: State):
    grantee = None if _sees_all(who) else (who.party or "")
    consents = state.consents.list(grantee, sp_id)
    note(request, listed=len(consents))
    return json_answer({"items": [_public(state, c) for c in consents]})


def _public(state: ApiState, consent) -> dict:
    """A consent as answered: with its customer's tenancy, and in force only while the
    customer still holds the supply."""
    tenancy = state.policy.consent_tenancy(consent)
    body = consent.public(state.clock.time())
    today = jst_day(state.data_clock.time())
    current = tenancy is not None and (tenancy.move_out is None or today < tenancy.move_out)
    return {**body, "effective": body["effective"] and current,
            "tenancy": tenancy.public() if tenancy else None}


def _visible(state: ApiState, who: Principal, consent_id: str):
    consent = state.consents.get(consent_id)
    if consent is None or not (_sees_all(who) or (who.role in THIRD_PARTY_ROLES
                                                  and consent.grantee == who.party)):
        raise ApiError(404, "not_found", f"consent {consent_id} not found")
    return consent


@router.get("/consents/{consent_id}", response_model=ConsentOut, responses=_ERRORS,
            summary="One consent")
async def get_consent(*, request: Request, consent_id: ConsentId,
                      who: Annotated[Principal, Depends(access(Scope.CONSENTS_READ))],
                      state: State):
    consent = _visible(state, who, consent_id)
    note(request, consent=consent_id)
    return json_answer(_public(state, consent))


@router.delete("/consents/{consent_id}", response_model=ConsentOut, responses=_ERRORS,
               summary="Revoke a consent: effective at once")
async def revoke_consent(*, request: Request, consent_id: ConsentId,
                         who: Annotated[Principal, Depends(access(Scope.CONSENTS_WRITE))],
                         state: State):
    _visible(state, who, consent_id)
    consent = state.consents.revoke(consent_id, revoked_by=who.client_id)
    note(request, consent=consent_id, sp_id=consent.sp_id, grantee=consent.grantee)
    return json_answer(_public(state, consent))
