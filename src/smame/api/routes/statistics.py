"""Statistical products that need no individual consent (SPEC S6)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.api.deps import State, access, note
from smame.api.errors import ERROR_RESPONSES, bad_request
from smame.api.policy import Principal
from smame.api.readcache import FAMILIES
from smame.api.roles import Scope
from smame.api.routes.common import json_answer
from smame.api.statistics import aggregate_day

router = APIRouter(tags=["statistics"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 422, 429)}


@router.get("/statistics/consumption", responses=_ERRORS,
            summary="Energy per feeder or transformer, over at least k meters")
async def consumption(*, request: Request,
                      day: Annotated[date, Query(alias="date", description="A JST day")],
                      group: Annotated[Literal["feeder", "transformer"], Query()] = "feeder",
                      who: Annotated[Principal, Depends(access(Scope.STATISTICS_READ))],
                      state: State):
    """30-minute active energy (Wh) summed and averaged per feeder or transformer. A group
    of fewer than ``min_meters`` meters, one dominated by a single meter, or one that would
    reveal a suppressed sibling is published as ``suppressed`` with its reason and no
    figures. No consent is needed: no household can be singled out."""
    if not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        raise bad_request("date is out of range")
    config = state.config
    block = await run_in_threadpool(state.data.cache.load, day, FAMILIES[0])
    body = aggregate_day(block, state.data.view, group, config.statistics_min_meters,
                         config.statistics_dominance)
    note(request, date=day.isoformat(), group=group, groups=len(body["groups"]),
         suppressed=sum(1 for g in body["groups"] if g["suppressed"]))
    return json_answer(body)
