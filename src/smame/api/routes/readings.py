"""Interval readings, registers, Green Button, bulk export, sub-meter differential
(SPEC S2–S4, S6, S7, S12)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from smame.api.data import DataService
from smame.api.deps import State, TimeRange, access, note, rate_limit, time_range
from smame.api.errors import ERROR_RESPONSES, ApiError, bad_request
from smame.api.formats import cim, export, greenbutton
from smame.api.formats.timefmt import iso
from smame.api.policy import ForbiddenError, Grant, NotFoundError, OptedOutError, Principal
from smame.api.readcache import SLOT_S
from smame.api.roles import THIRD_PARTY_ROLES, Category, Role, Scope
from smame.api.routes.common import MeterId, SpId, decide, decide_service_point, json_answer
from smame.api.schemas import EnergyName, ExportFormat, MeterReadingsOut, Minutes, QuantityName
from smame.api.series import Series, clip
from smame.api.state import ApiState
from smame.readings import Period, Quantity
from smame.store.layout import day_start

router = APIRouter(tags=["readings"])
_ERRORS = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404, 409, 422, 429)}
_PERIODS = {5: Period.MIN5, 15: Period.MIN15, 30: Period.MIN30}
_ENERGY = (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT)


def _category(quantity: Quantity, minutes: int) -> Category:
    if quantity in _ENERGY:
        return Category.ENERGY_5MIN if minutes == 5 else Category.ENERGY
    if minutes != 5:
        raise bad_request(f"{quantity.name.lower()} values are 5-minute values: use period=5")
    return Category.REACTIVE if quantity is Quantity.REACTIVE_IMPORT else Category.VOLTAGE


def _series(data: DataService, grant: Grant, quantity: Quantity, period: Period, lo: int,
            hi: int, history: bool, load: bool) -> Series | None:
    if grant.digits == 6 and quantity in _ENERGY:
        series = data.retail_values(grant.meter, quantity, period, lo, hi, load=load)
    else:
        series = data.values(grant.meter, quantity, period, lo, hi, history, load=load)
    if series is None:
        return None
    return clip(series, grant.windows, period is not Period.REGISTER)


async def _fetch(data: DataService, grant: Grant, quantity: Quantity, period: Period, lo: int,
                 hi: int, history: bool = False) -> Series:
    series = _series(data, grant, quantity, period, lo, hi, history, False)
    if series is None:
        series = await run_in_threadpool(_series, data, grant, quantity, period, lo, hi,
                                         history, True)
    return series


@router.get("/meters/{meter_id}/readings", response_model=MeterReadingsOut, responses=_ERRORS,
            summary="Interval readings of a meter (IEC 61968-9 MeterReadings)")
async def readings(
    *,
    request: Request,
    meter_id: MeterId,
    period: Annotated[Minutes, Query(description="Interval length, minutes")] = Minutes.THIRTY,
    quantity: Annotated[list[QuantityName], Query(max_length=4, description=
                                                  "What to read; repeat for several")] = (
        QuantityName.IMPORT,),
    history: Annotated[bool, Query(description="Every version of each value, superseded "
                                               "ones included (distribution operator)")] = False,
    span: Annotated[TimeRange, Depends(time_range(31))],
    who: Annotated[Principal, Depends(access(Scope.READINGS_READ))],
    state: State,
):
    """30-, 15- or 5-minute interval values with quality and version. The distribution
    operator gets the stored 8-digit values; retailers and third parties 6-digit retail
    values (S4), only within their supply or consent periods."""
    body = await readings_body(request, state, who, meter_id, int(period),
                               [q.quantity for q in quantity], history, span.lo, span.hi)
    return Response(cim.encode(body), media_type="application/json")


async def readings_body(request: Request, state: ApiState, who: Principal, meter_id: int,
                        minutes: int, quantity: list[Quantity], history: bool, lo: int,
                        hi: int) -> dict:
    """The answer of ``GET /v1/meters/{id}/readings`` (also served by the fast lane)."""
    quantities = list(dict.fromkeys(quantity))
    grants = [decide(state.policy, who, meter_id, _category(q, minutes)) for q in quantities]
    grant = grants[0]
    if history and grant.digits != 8:
        raise ApiError(403, "forbidden", "history is available to the distribution operator")
    blocks = [await _fetch(state.data, g, q, _PERIODS[minutes], lo, hi, history)
              for g, q in zip(grants, quantities, strict=True)]
    note(request, **grant.audit(), values=sum(len(b) for b in blocks))
    return {"MeterReadings": [cim.meter_reading(meter_id, grant.meter.sp_id, lo, hi,
                                                intervals=blocks)],
            "digits": grant.digits, "basis": grant.basis}


@router.get("/meters/{meter_id}/registers", response_model=MeterReadingsOut, responses=_ERRORS,
            summary="Register readings of a meter (8 digits, or 6 for retail)")
async def registers(
    *,
    request: Request,
    meter_id: MeterId,
    quantity: Annotated[list[EnergyName], Query(max_length=2)] = (EnergyName.IMPORT,),
    span: Annotated[TimeRange, Depends(time_range(31))],
    who: Annotated[Principal, Depends(access(Scope.READINGS_READ))],
    state: State,
):
    """Active energy registers: 8 digits (0–99,999,999) for the distribution operator,
    6 digits (``floor(register / 10) mod 10**6``) for everyone else (S4). Gas and water
    meters: their volume registers (0.001 m3) to their company."""
    view = state.data.view
    grant = decide(state.policy, who, meter_id, Category.REGISTERS)
    joint = view.joint.get(meter_id)
    if joint is not None:
        quantity_list = [Quantity.GAS_VOLUME if joint.kind == "gas" else Quantity.WATER_VOLUME]
    else:
        quantity_list = list(dict.fromkeys(q.quantity for q in quantity))
    blocks = [await _fetch(state.data, grant, q, Period.REGISTER, span.lo, span.hi)
              for q in quantity_list]
    note(request, **grant.audit(), values=sum(len(b) for b in blocks))
    return Response(cim.encode({"MeterReadings": [cim.meter_reading(
        meter_id, grant.meter.sp_id, span.lo, span.hi, readings=blocks)],
        "digits": grant.digits, "basis": grant.basis}), media_type="application/json")


@router.get("/service-points/{sp_id}/greenbutton", responses={
    **_ERRORS, 200: {"content": {"application/atom+xml": {}},
                     "description": "Green Button (NAESB ESPI) Atom feed"}},
    response_class=Response, summary="Green Button (ESPI) Atom XML of one usage point")
async def green_button(
    *,
    request: Request,
    sp_id: SpId,
    span: Annotated[TimeRange, Depends(time_range(31))],
    who: Annotated[Principal, Depends(access(Scope.READINGS_READ))],
    state: State,
):
    """The service point's 30-minute forward and reverse active energy as a Green Button
    Download My Data feed, one IntervalBlock per JST day."""
    sp, _ = decide_service_point(state.policy, who, sp_id)
    if sp.opted_out or not sp.meters:
        raise ApiError(409, "opted_out", f"service point {sp_id} has no communicating meter "
                       "(S15 opt-out): no interval data")
    meter_id = sp.meters[-1]
    grant = decide(state.policy, who, meter_id, Category.ENERGY)
    curves: dict[Quantity, list[tuple[int, Series]]] = {}
    for quantity in _ENERGY:
        days = []
        for day in span.jst_days():
            lo, hi = max(span.lo, day_start(day)), min(span.hi, day_start(day) + 86400)
            series = await _fetch(state.data, grant, quantity, Period.MIN30, lo, hi)
            if len(series):
                days.append((day_start(day), series))
        curves[quantity] = days
    note(request, **grant.audit(), sp_id=sp_id, format="greenbutton")
    xml = greenbutton.feed(sp_id, meter_id, curves, who.party or who.client_id,
                           state.clock.time())
    return Response(xml, media_type="application/atom+xml")


def _allowed_mask(grants: list[Grant], first: int, slots: int, interval: bool
                  ) -> np.ndarray | None:
    if all(g.windows is None for g in grants):
        return None
    t = first + np.arange(slots, dtype=np.int64) * SLOT_S
    mask = np.zeros((len(grants), slots), np.bool_)
    for row, grant in enumerate(grants):
        if grant.windows is None:
            mask[row] = True
            continue
        for start, end in grant.windows:
            after = t > start if interval else t >= start
            mask[row] |= after & (True if end is None else t <= end)
    return mask


def _export(state: ApiState, grants: list[Grant], quantity: Quantity, registers: bool,
            days: list[date], lo: int, hi: int, fmt: str) -> bytes:
    data = state.data
    if not grants:
        return export.serialize(export.to_table([], {}), fmt)
    meters = np.array([g.meter.meter_id for g in grants], np.int64)
    order = np.argsort(meters)
    meters = meters[order]
    grants = [grants[i] for i in order]
    retail = bool(grants) and grants[0].digits == 6
    parts = []
    last = lo - 1
    for day in days:
        if registers or retail:
            block = data.cache.load(day, (quantity, Period.REGISTER))
        else:
            block = data.cache.load(day, (quantity, Period.MIN30))
        interval = not registers
        first = block.first + (SLOT_S if retail and interval else 0)
        slots = block.slots - (1 if retail and interval else 0)
        allowed = _allowed_mask(grants, first, slots, interval)
        if registers and retail:
            columns = export.block_columns(block, meters, allowed, retail=False)
            columns.value = np.mod(columns.value // 10, 10**6)
            columns.digits = 6
        else:
            columns = export.block_columns(block, meters, allowed, retail=retail and interval)
        keep = (columns.t > last) & (columns.t <= hi) if registers else (
            (columns.t > lo) & (columns.t <= hi))
        last = block.first + (block.slots - 1) * SLOT_S
        for name in ("meter", "t", "channel", "value", "quality", "version"):
            setattr(columns, name, getattr(columns, name)[keep])
        parts.append(columns)
    view = data.view
    table = export.to_table(parts, {m: view.meters[m].sp_id if m in view.meters else None
                                    for m in meters.tolist()})
    return export.serialize(table, fmt)


@router.get("/export", responses={
    **_ERRORS, 200: {"content": {"application/vnd.apache.parquet": {}, "text/csv": {}},
                     "description": "Parquet or CSV file"}},
    response_class=Response, summary="Bulk export of 30-minute data (Parquet or CSV)")
async def bulk_export(
    *,
    request: Request,
    format: Annotated[ExportFormat, Query()] = ExportFormat.PARQUET,
    quantity: Annotated[EnergyName, Query()] = EnergyName.IMPORT,
    registers: Annotated[bool, Query(description="Register readings instead of 30-minute "
                                                 "intervals")] = False,
    meter_id: Annotated[list[int] | None,
                        Query(max_length=1000, description="Only these meters")] = None,
    span: Annotated[TimeRange, Depends(time_range(31))],
    who: Annotated[Principal, Depends(access(Scope.EXPORT, rate=None))],
    state: State,
):
    """Every meter you may see, 30-minute forward or reverse active energy (or registers)
    as one file: 8 digits for the distribution operator, 6-digit retail values for
    everyone else, clipped to supply and consent periods."""
    rate_limit(state, who, "export")
    category = Category.REGISTERS if registers else Category.ENERGY
    if meter_id is not None:
        candidates = sorted(set(meter_id))
        if any(not 1 <= m <= 2**62 for m in candidates):
            raise bad_request("meter_id values are positive meter serial numbers")
    elif who.role is Role.RETAILER or who.role in THIRD_PARTY_ROLES or (
            who.role is Role.DISTRIBUTION):
        candidates = [m for m in state.policy.visible_meters(who)
                      if m in state.data.view.meters]
    else:
        raise ApiError(403, "forbidden", f"role {who.role} has no bulk export")
    grants = []
    for candidate in candidates:
        try:
            grant = state.policy.meter(who, candidate, category)
        except (NotFoundError, ForbiddenError):
            if meter_id is not None:
                raise ApiError(404, "not_found", f"meter {candidate} not found") from None
            continue
        except OptedOutError:  # no communicating meter: nothing to export (S15)
            continue
        if candidate in state.data.view.meters:
            grants.append(grant)
    days = span.jst_days()
    body = await run_in_threadpool(_export, state, grants, quantity.quantity, registers,
                                   days, span.lo, span.hi, format.value)
    note(request, meters=len(grants), digits=grants[0].digits if grants else None,
         format=format.value, bytes=len(body))
    media = "application/vnd.apache.parquet" if format is ExportFormat.PARQUET else "text/csv"
    name = f"smame-{quantity.value}-{iso(span.lo)[:10]}.{format.value}"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/meters/{meter_id}/differential", responses=_ERRORS,
            summary="Main meter minus its sub-meters (特例計量器), per 30-minute slot")
async def sub_meter_differential(
    *,
    request: Request,
    meter_id: MeterId,
    span: Annotated[TimeRange, Depends(time_range(31))],
    who: Annotated[Principal, Depends(access(Scope.SUBMETER_READ))],
    state: State,
):
    """Differential metering (S12): main, sub-meter and net energy in Wh per slot, with
    consistency flags."""
    grant = decide(state.policy, who, meter_id, Category.ENERGY)
    table = await run_in_threadpool(state.data.differential, meter_id, span.lo + 1, span.hi)
    subs = state.data.view.sub_meters.get(meter_id, [])
    rows = []
    for row in table.to_pylist():
        end = row["interval_end"]
        rows.append({**{k: int(v) if isinstance(v, Decimal) else v for k, v in row.items()},
                     "interval_end": iso(int(end.timestamp()))})
    note(request, **grant.audit(), values=len(rows))
    return json_answer({"meter_id": meter_id, "sub_meters": [
        {"sub_meter_id": s, "kind": k} for s, k in subs], "unit": "Wh", "slots": rows})
