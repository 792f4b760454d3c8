"""Request plumbing: who is calling (bearer token or console session), scopes, rate
limits, time ranges (SPEC S14)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from smame.api.errors import ApiError, bad_request
from smame.api.policy import Principal
from smame.api.roles import Scope
from smame.api.state import ApiState
from smame.api.tokens import TokenError
from smame.store.layout import day_start

__all__ = [
    "CONSOLE_COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "State",
    "TimeRange",
    "access",
    "get_state",
    "note",
    "time_range",
]

CONSOLE_COOKIE = "smame_session"
CSRF_COOKIE = "smame_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_state(request: Request) -> ApiState:
    return request.app.state.api


State = Annotated[ApiState, Depends(get_state)]
"""The API instance, as a route parameter."""


def note(request: Request, **detail: Any) -> None:
    """Add to the audit entry of this request."""
    audit = request.scope.setdefault("state", {}).setdefault("audit", {})
    audit.update(detail)


def _unauthorized(detail: str, error: str = "invalid_token") -> ApiError:
    return ApiError(401, error, detail,
                    {"WWW-Authenticate": f'Bearer realm="smame", error="{error}"'})


def authenticate(request: Request) -> Principal:
    """The caller of ``request`` (401 if none); see :func:`caller`."""
    return _authenticate(request)


async def caller(request: Request) -> Principal:
    """The authenticated caller, as a dependency (async: no worker thread needed)."""
    return _authenticate(request)


def _authenticate(request: Request) -> Principal:
    state: ApiState = request.app.state.api
    header = request.headers.get("authorization")
    via = "bearer"
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("use 'Authorization: Bearer <access token>'", "invalid_request")
        token = token.strip()
    else:
        token = request.cookies.get(CONSOLE_COOKIE)
        via = "console"
        if not token:
            raise _unauthorized("authentication required: send a bearer token", "invalid_request")
    try:
        claims = state.tokens.verify(token)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from None
    client = state.clients.get(claims.client_id)
    if client is None or not client.active:
        raise _unauthorized("the client has been revoked")
    if via == "console" and request.method not in _SAFE:
        csrf = request.cookies.get(CSRF_COOKIE)
        if not csrf or request.headers.get(CSRF_HEADER) != csrf:
            raise ApiError(403, "csrf", "console requests that change something need the "
                                        "X-CSRF-Token header")
    principal = Principal(claims.client_id, claims.role, claims.party, claims.scopes,
                          claims.token_id, via)
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


def rate_limit(state: ApiState, principal: Principal, kind: str, cost: float = 1.0) -> None:
    wait = state.limiter.take(principal.client_id, kind, cost)
    if wait is not None:
        raise ApiError(429, "rate_limited", f"too many {kind} requests for this client; "
                       f"retry in {wait:.1f} s", {"Retry-After": str(max(1, round(wait)))})


def access(scope: Scope, rate: str | None = "read") -> Callable[[Request], Principal]:
    """A dependency: an authenticated caller holding ``scope``, within its rate limit."""

    async def dependency(request: Request) -> Principal:
        principal = _authenticate(request)
        if scope not in principal.scopes:
            raise ApiError(403, "insufficient_scope",
                           f"this needs scope {scope}, which a {principal.role} token "
                           "does not carry")
        if rate is not None:
            rate_limit(request.app.state.api, principal, rate)
        return principal

    return dependency


# ---------------------------------------------------------------------- time ranges


class TimeRange:
    """A time range of a request: POSIX seconds ``lo``..``hi``."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo = lo
        self.hi = hi

    @property
    def days(self) -> float:
        return (self.hi - self.lo) / 86400

    def jst_days(self) -> list[date]:
        from smame.api.readcache import settlement_day

        first, last = settlement_day(self.lo + 1), settlement_day(self.hi)
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _epoch(moment: datetime, name: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise bad_request(f"{name} needs a UTC offset, e.g. 2026-07-01T00:00:00+09:00")
    try:
        return int(moment.timestamp())
    except (OverflowError, OSError, ValueError):
        raise bad_request(f"{name} is out of range") from None


def time_range(max_days: int = 31) -> Callable[..., TimeRange]:
    """A dependency reading ``date`` (a JST day) or ``start`` and ``end`` (ISO 8601 with an
    offset); intervals ending within ``(start, end]``, readings taken within it."""

    async def dependency(
        day: Annotated[date | None, Query(alias="date", description=
                                          "A JST day (YYYY-MM-DD): 00:00 to 24:00 JST")] = None,
        start: Annotated[datetime | None, Query(description=
                                                "Start, ISO 8601 with a UTC offset")] = None,
        end: Annotated[datetime | None, Query(description=
                                              "End, ISO 8601 with a UTC offset")] = None,
    ) -> TimeRange:
        if day is not None:
            if start is not None or end is not None:
                raise bad_request("give either date or start and end, not both")
            if not date(1970, 1, 2) <= day <= date(2200, 1, 1):
                raise bad_request("date is out of range")
            lo = day_start(day)
            return TimeRange(lo, lo + 86400)
        if start is None or end is None:
            raise bad_request("give date, or start and end")
        lo, hi = _epoch(start, "start"), _epoch(end, "end")
        if hi <= lo:
            raise bad_request("end must be after start")
        if hi - lo > max_days * 86400:
            raise bad_request(f"a range may span at most {max_days} days")
        return TimeRange(lo, hi)

    return dependency


