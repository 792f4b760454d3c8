"""Grid operations for the distribution operator: located outages with IEEE 1366 indices,
and voltage against the statutory band (SPEC S8, A3). The analyses are the CLI's and the
demo's (``smame.analytics.grid``), so every view of a day agrees."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.analytics.grid import DayOutages, day_voltage
from smame.analytics.grid_report import incident_row
from smame.analytics.outages import Incident, Topology, place
from smame.api.deps import State, access, note
from smame.api.errors import ERROR_RESPONSES, bad_request
from smame.api.formats.timefmt import iso
from smame.api.policy import Principal
from smame.api.roles import Scope
from smame.api.routes.common import json_answer
from smame.clock import jst_day_start

router = APIRouter(tags=["grid"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 422, 429)}
Day = Annotated[date, Query(alias="date", description="A JST day")]


def _check(day: date) -> None:
    if not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        raise bad_request("date is out of range")


def _incident(incident: Incident, topology: Topology, now: int) -> dict:
    row = incident_row(incident, now)
    row["start"] = iso(row["start"])
    row["end"] = None if row["end"] is None else iso(row["end"])
    row["transformer_id"], row["feeder_id"] = place(incident, topology)
    meters = sorted({span.meter_id for span in incident.spans})
    row["meter_ids"] = meters
    row["transformers"] = sorted({topology.transformer_of(m) for m in meters
                                  if topology.knows(m)})
    return row


def _feeders_reached(located: DayOutages) -> dict[str, list[int]]:
    """Every transformer of each feeder an incident reached: the part of the topology the
    console draws the incidents on."""
    topology = located.topology
    feeders = {place(i, topology)[1] for i in located.incidents} - {None}
    return {str(f): topology.transformers_of_feeder(f).tolist() for f in sorted(feeders)}


@router.get("/grid/outages", responses=_ERRORS,
            summary="Outages located at premise, transformer or feeder, with SAIDI/SAIFI")
async def outages(*, request: Request, day: Day,
                  who: Annotated[Principal, Depends(access(Scope.FLEET_READ))], state: State):
    """The day's incidents from Last Gasp alarms, meter logs, restore notifications and the
    meters' reads (restoration inferred where a notification was lost), located over the
    transformer and feeder topology; IEEE 1366 SAIFI, SAIDI, CAIDI and MAIFI for the area
    and per feeder (S8). ``topology``: the transformers of every feeder an incident
    reached."""
    _check(day)
    start = jst_day_start(day)
    located = await run_in_threadpool(state.data.grid_outages, start, start + 86400)
    feeders = {str(f): asdict(r) for f, r in located.feeders.items() if r.saifi or r.maifi}
    body = {"date": day.isoformat(), "start": iso(located.start), "end": iso(located.end),
            "incidents": [_incident(i, located.topology, located.end)
                          for i in located.incidents],
            "reliability": {"area": asdict(located.area), "feeders": feeders},
            "topology": {"feeders": _feeders_reached(located)}}
    note(request, date=day.isoformat(), incidents=len(located.incidents))
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
