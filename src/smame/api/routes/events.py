"""Events, outages and collection: what the meters and the head-end reported (SPEC S1, S8,
S14)."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from smame.analytics.outages import TransformerOutage
from smame.api.data import EVENT_CATEGORIES
from smame.api.deps import State, TimeRange, access, note, time_range
from smame.api.errors import ERROR_RESPONSES, bad_request
from smame.api.formats.timefmt import iso
from smame.api.policy import Principal
from smame.api.roles import Category, Role, Scope
from smame.api.routes.common import MeterId, decide, json_answer
from smame.api.state import ApiState
from smame.store.layout import IMD, MEAS

router = APIRouter(tags=["events"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404, 409, 422, 429)}
_CATEGORIES = sorted({*EVENT_CATEGORIES.values(), "other"})
RETAILER_EVENTS = frozenset({"outage", "restore", "breaker", "limit", "switch"})
THIRD_PARTY_EVENTS = frozenset({"outage", "restore"})
CategoryFilter = Annotated[list[str] | None, Query(max_length=10, description=
                                                    f"Only these: {', '.join(_CATEGORIES)}")]


def _visible_categories(who: Principal) -> frozenset[str] | None:
    if who.role is Role.DISTRIBUTION:
        return None
    if who.role is Role.RETAILER:
        return RETAILER_EVENTS
    return THIRD_PARTY_EVENTS


def _event_body(event) -> dict:
    body = asdict(event)
    body["time"] = iso(event.time)
    body["category"] = event.category
    if event.received is not None:
        body["received"] = iso(int(event.received))
    return body


def _check_categories(category: list[str] | None) -> set[str] | None:
    if category is None:
        return None
    unknown = sorted(set(category) - set(_CATEGORIES))
    if unknown:
        raise bad_request(f"unknown event categories {unknown}; known: {_CATEGORIES}")
    return set(category)


@router.get("/meters/{meter_id}/events", responses=_ERRORS, summary="Events of one meter")
async def meter_events(*, request: Request, meter_id: MeterId, category: CategoryFilter = None,
                       span: Annotated[TimeRange, Depends(time_range(366))],
                       who: Annotated[Principal, Depends(access(Scope.EVENTS_READ))],
                       state: State):
    """Outages, restorations, breaker trips, limit changes, switch operations; security
    and collection events for the distribution operator only."""
    wanted = _check_categories(category)
    grant = decide(state.policy, who, meter_id, Category.EVENTS)
    visible = _visible_categories(who)
    events = await run_in_threadpool(state.data.events, [meter_id], span.lo, span.hi)
    out = []
    for event in events:
        if visible is not None and event.category not in visible:
            continue
        if wanted is not None and event.category not in wanted:
            continue
        if grant.windows is not None and not any(
                a <= event.time and (b is None or event.time < b) for a, b in grant.windows):
            continue
        out.append(_event_body(event))
    note(request, **grant.audit(), events=len(out))
    return json_answer({"meter_id": meter_id, "events": out})


@router.get("/events", responses=_ERRORS, summary="Events of the whole fleet")
async def fleet_events(*, request: Request, category: CategoryFilter = None,
                       limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                       span: Annotated[TimeRange, Depends(time_range(31))],
                       who: Annotated[Principal, Depends(access(Scope.FLEET_READ))],
                       state: State):
    wanted = _check_categories(category)
    events = await run_in_threadpool(state.data.events, None, span.lo, span.hi)
    out = [_event_body(e) for e in events if wanted is None or e.category in wanted][:limit]
    note(request, events=len(out))
    return json_answer({"events": out, "truncated": len(out) == limit})


@router.get("/fleet/outages", responses=_ERRORS,
            summary="Located outages per transformer (the incidents of /v1/grid/outages)")
async def outages(*, request: Request, span: Annotated[TimeRange, Depends(time_range(31))],
                  who: Annotated[Principal, Depends(access(Scope.FLEET_READ))],
                  state: State):
    """The incidents ``/v1/grid/outages`` locates, one row per transformer they reach: its
    feeder, the incident's level, customers on it, meters off (own evidence or presumed),
    Last Gasp alarms among them, the others (silent), start, restoration, duration (S8)."""
    rows = await run_in_threadpool(state.data.outages, span.lo, span.hi)
    body = [_transformer_outage(row) for row in rows]
    note(request, outages=len(body))
    return json_answer({"start": iso(span.lo), "end": iso(span.hi), "outages": body})


def _transformer_outage(row: TransformerOutage) -> dict:
    return {
        "transformer_id": row.transformer, "feeder_id": row.feeder, "level": str(row.level),
        "start": iso(row.start), "restored": None if row.end is None else iso(row.end),
        "duration_s": None if row.end is None else row.end - row.start,
        "customers": row.customers, "affected": len(row.meter_ids),
        "last_gasp_alarms": row.last_gasp, "silent": len(row.meter_ids) - row.last_gasp,
        "meter_ids": list(row.meter_ids), "ongoing": row.end is None,
        "momentary": row.momentary,
    }


@router.get("/fleet/collection", responses=_ERRORS,
            summary="Collection rate per 30-minute slot, late and missing data")
async def collection(*, request: Request,
                     day: Annotated[date, Query(alias="date", description="A JST day")],
                     who: Annotated[Principal, Depends(access(Scope.FLEET_READ))],
                     state: State):
    """Per slot: meters expected, received, on time (within 60 minutes, S1), late,
    estimated and missing."""
    if not date(1970, 1, 2) <= day <= date(2200, 1, 1):
        raise bad_request("date is out of range")
    report = await run_in_threadpool(state.data.collection, day)
    report = {**report, "slots": [{**s, "end": iso(s["end"])} for s in report["slots"]]}
    note(request, date=day.isoformat())
    return json_answer(report)


@router.get("/fleet/summary", responses=_ERRORS, summary="The fleet at a glance")
async def summary(*, request: Request,
                   who: Annotated[Principal, Depends(access(Scope.FLEET_READ))],
                  state: State):
    view = state.data.view
    days = await run_in_threadpool(_days, state)
    groups = getattr(state.data.headend, "groups", None)
    communicating = sum(1 for m in view.meters.values() if m.communicating)
    return json_answer({
        "meters": len(view.meters), "communicating": communicating,
        "opted_out": sum(1 for s in view.service_points.values() if s.opted_out),
        "service_points": len(view.service_points),
        "transformers": len(view.transformer_feeder),
        "feeders": len(set(view.transformer_feeder.values())),
        "joint_meters": len(view.joint), "days": [d.isoformat() for d in days],
        "live": state.data.headend is not None, "now": iso(int(state.data_clock.time())),
        "today": iso(int(state.data_clock.time()))[:10],
        "mass_command_meters": state.config.mass_command_meters,
        "speed": _speed(state.data_clock),
        "five_minute_meters": {"realtime": sorted(groups.realtime) if groups else [],
                               "historical": sorted(groups.historical) if groups else []},
    })


def _days(state: ApiState) -> list[date]:
    """Every JST day with readings: validated (measurement files) or only ingested so far,
    so a day is listed as soon as its first value arrives."""
    store = state.mdms.store
    return sorted(set(store.days(MEAS)) | set(store.days(IMD)))


def _speed(clock) -> float | None:
    """Simulated seconds per real second of the data clock (None: not running by itself)."""
    speed = float(getattr(clock, "speed", 1.0))
    return speed if math.isfinite(speed) else None
