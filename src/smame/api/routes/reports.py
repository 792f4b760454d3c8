"""Settlement sums and gas/water (joint-metering) readings (SPEC S1, S10, S13)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.api.deps import State, TimeRange, access, note, time_range
from smame.api.errors import ERROR_RESPONSES, ApiError, bad_request
from smame.api.formats.timefmt import iso
from smame.api.policy import Principal
from smame.api.roles import Role, Scope
from smame.api.routes.common import json_answer

router = APIRouter(tags=["reports"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404, 422, 429)}


def _rows(table) -> list[dict]:
    out = []
    for row in table.to_pylist():
        for key, value in row.items():
            if hasattr(value, "timestamp"):
                row[key] = iso(int(value.timestamp()))
            elif isinstance(value, Decimal):
                row[key] = int(value) if value == value.to_integral_value() else float(value)
        out.append(row)
    return out


@router.get("/settlement", responses=_ERRORS,
            summary="30- or 15-minute energy per retailer and balancing group")
async def settlement(*, request: Request,
                     day: Annotated[date, Query(alias="date", description="A JST day")],
                     minutes: Annotated[Literal[15, 30], Query()] = 30,
                     who: Annotated[Principal, Depends(access(Scope.SETTLEMENT_READ))],
                     state: State):
    """The wheeling side's sums (S1, S10) in Wh. A retailer sees its own sums and those of
    the balancing groups it belongs to that day."""
    if not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        raise bad_request("date is out of range")
    result = await run_in_threadpool(state.data.settlement, day, minutes)
    retailers, groups = _rows(result.retailers), _rows(result.groups)
    if who.role is Role.RETAILER:
        mine = set(state.data.view.groups_of(who.party or "", day))
        retailers = [r for r in retailers if r.get("retailer_id") == who.party]
        groups = [g for g in groups if g.get("bg_id") in mine]
    note(request, date=day.isoformat(), rows=len(retailers) + len(groups))
    return json_answer({"date": day.isoformat(), "minutes": minutes, "unit": "Wh",
                        "retailers": retailers, "groups": groups})


@router.get("/joint-readings", responses=_ERRORS,
            summary="Gas and water readings relayed by smart meters")
async def joint_readings(*, request: Request,
                         company: Annotated[str | None, Query(max_length=64, pattern=
                                                              r"^[A-Za-z0-9._-]+$")] = None,
                         span: Annotated[TimeRange, Depends(time_range(92))],
                         who: Annotated[Principal, Depends(access(Scope.JOINT_READ))],
                         state: State):
    """A gas or water company's meters: register (0.001 m3) and consumption since the
    previous reading (S13). Companies see only their own meters."""
    view = state.data.view
    if who.role is Role.DISTRIBUTION:
        if company is None:
            raise bad_request("name the company (company=...)")
    else:
        if company is not None and company != who.party:
            raise ApiError(404, "not_found", f"company {company} not found")
        company = who.party or ""
    if company not in view.companies:
        raise ApiError(404, "not_found", f"company {company} not found")
    table = await run_in_threadpool(state.data.joint, company, span.lo, span.hi)
    rows = _rows(table)
    note(request, company=company, values=len(rows))
    return json_answer({"company_id": company, "kind": view.companies[company],
                        "unit": "0.001 m3", "readings": rows})
