"""Grid operations for the distribution operator: located outages with IEEE 1366 indices,
and voltage against the statutory band (SPEC S8, A3). The analyses are the CLI's and the
demo's (``smame.analytics.grid``), so every view of a day agrees."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.analytics.grid import day_outages, day_voltage
from smame.analytics.grid_report import incident_row
from smame.api.deps import State, access, note
from smame.api.errors import ERROR_RESPONSES, bad_request
from smame.api.formats.timefmt import iso
from smame.api.policy import Principal
from smame.api.roles import Scope
from smame.api.routes.common import json_answer

router = APIRouter(tags=["grid"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 422, 429)}
Day = Annotated[date, Query(alias="date", description="A JST day")]


def _check(day: date) -> None:
    if not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        raise bad_request("date is out of range")


def _incident(incident, now: int) -> dict:
    row = incident_row(incident, now)
    row["start"] = iso(row["start"])
    row["end"] = None if row["end"] is None else iso(row["end"])
    row["meter_ids"] = sorted({span.meter_id for span in incident.spans})
    return row


@router.get("/grid/outages", responses=_ERRORS,
            summary="Outages located at premise, transformer or feeder, with SAIDI/SAIFI")
async def outages(*, request: Request, day: Day,
                  who: Annotated[Principal, Depends(access(Scope.FLEET_READ))], state: State):
    """The day's incidents from Last Gasp alarms, meter logs, restore notifications and the
    meters' reads (restoration inferred where a notification was lost), located over the
    transformer and feeder topology; IEEE 1366 SAIFI, SAIDI, CAIDI and MAIFI for the area
    and per feeder (S8)."""
    _check(day)
    result = await run_in_threadpool(day_outages, state.mdms, day)
    feeders = {str(f): asdict(r) for f, r in result.feeders.items() if r.saifi or r.maifi}
    body = {"date": day.isoformat(),
            "incidents": [_incident(i, result.end) for i in result.incidents],
            "reliability": {"area": asdict(result.area), "feeders": feeders}}
    note(request, date=day.isoformat(), incidents=len(result.incidents))
    return json_answer(body)


@router.get("/grid/voltage", responses=_ERRORS,
            summary="5-minute voltage against 101 ± 6 V and 202 ± 20 V, per transformer")
async def voltage(*, request: Request, day: Day,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                  who: Annotated[Principal, Depends(access(Scope.FLEET_READ))], state: State):
    """Share of values out of band, deviation events, the transformers with the most minutes
    out of band with a tap recommendation each, and the worst meters (A3)."""
    _check(day)
    report = await run_in_threadpool(day_voltage, state.mdms, day)
    body = {
        "date": day.isoformat(), "values": report.values, "share_out": report.share_out,
        "minutes_out": report.minutes_out, "events": len(report.events),
        "transformers": [{**asdict(t), "minutes_out": t.minutes_out}
                         for t in report.transformers if t.minutes_out][:limit],
        "worst_meters": [{"meter_id": m, "minutes_out": n} for m, n in report.worst_meters],
    }
    note(request, date=day.isoformat())
    return json_answer(body)
