"""Helpers the routers share (SPEC S7, S15): access decisions as HTTP answers, JSON
answers."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Path
from fastapi.responses import Response

from smame.api.errors import ApiError
from smame.api.policy import ForbiddenError, Grant, NotFoundError, OptedOutError, Policy, Principal
from smame.api.registry_view import ServicePoint
from smame.api.roles import Category

__all__ = ["MeterId", "SpId", "decide", "decide_service_point", "json_answer"]

MeterId = Annotated[int, Path(ge=1, le=2**62, description="Meter serial number")]
SpId = Annotated[str, Path(pattern=r"^\d{22}$", description="22-digit 供給地点特定番号")]


def decide(policy: Policy, who: Principal, meter_id: int, category: Category | None) -> Grant:
    """The grant, or the HTTP answer that replaces it (404 hides what may not be seen)."""
    try:
        return policy.meter(who, meter_id, category)
    except NotFoundError:
        raise ApiError(404, "not_found", f"meter {meter_id} not found") from None
    except ForbiddenError as exc:
        raise ApiError(403, "forbidden", str(exc) or "not allowed") from None
    except OptedOutError:
        raise ApiError(409, "opted_out", f"meter {meter_id} is a non-communicating meter: its "
                       "service point opted out of the smart meter (S15), so there is no "
                       "interval data") from None


def decide_service_point(policy: Policy, who: Principal, sp_id: str
                         ) -> tuple[ServicePoint, Grant | None]:
    """The service point and its grant, or the HTTP answer that replaces them."""
    try:
        return policy.service_point(who, sp_id)
    except NotFoundError:
        raise ApiError(404, "not_found", f"service point {sp_id} not found") from None
    except ForbiddenError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None


def json_answer(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str),
                    status, media_type="application/json")
