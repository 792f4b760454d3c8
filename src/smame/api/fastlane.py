"""The fast lane of the hottest request: one meter's readings for one day (SPEC S7).

``GET /v1/meters/{id}/readings?date=D[&period=P][&quantity=Q…]`` is what retailers ask
most. FastAPI resolves parameters and dependencies generically, which costs more than
answering from the read model; so this ASGI middleware answers exactly that form itself,
with the same functions the FastAPI route uses (authentication, rate limit, access
decision, series, IEC 61968-9 body). Anything else — other parameters, repeated or
malformed values — goes on to FastAPI unchanged, which validates it and answers 4xx where
needed. It sits inside the audit middleware, so its answers are audited like any other.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from fastapi import Request

from smame.api.deps import _authenticate, rate_limit
from smame.api.errors import ApiError
from smame.api.formats import cim
from smame.api.roles import Scope
from smame.api.schemas import QuantityName
from smame.store.layout import day_start

__all__ = ["FastLane"]

_PATH = re.compile(r"^/v1/meters/([1-9][0-9]{0,17})/readings$")
_DATE = re.compile(r"^(19[7-9][0-9]|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
_QUANTITIES = {q.value: q.quantity for q in QuantityName}
_JSON = [(b"content-type", b"application/json")]


def _parse(query: bytes) -> tuple[int, int, list] | None:
    """(day start, minutes, quantities) of a query this lane serves, else None."""
    from datetime import date

    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    day = minutes = None
    quantities = []
    for key, value in pairs:
        if key == "date" and day is None and _DATE.match(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                return None
        elif key == "period" and minutes is None and value in ("5", "15", "30"):
            minutes = int(value)
        elif key == "quantity" and value in _QUANTITIES and len(quantities) < 4:
            quantities.append(_QUANTITIES[value])
        else:
            return None
    if day is None:
        return None
    return day_start(day), minutes or 30, quantities or [_QUANTITIES["import"]]


class FastLane:
    def __init__(self, app, get_state) -> None:
        self.app = app
        self._get_state = get_state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _PATH.match(scope["path"])
            if match is not None:
                parsed = _parse(scope.get("query_string", b""))
                if parsed is not None:
                    await self._serve(scope, send, int(match.group(1)), *parsed)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, scope, send, meter_id: int, lo: int, minutes: int,
                     quantities: list) -> None:
        from smame.api.routes.readings import readings_body

        state = self._get_state()
        request = Request(scope)
        try:
            who = _authenticate(request)
            if Scope.READINGS_READ not in who.scopes:
                raise ApiError(403, "insufficient_scope",
                               f"this needs scope {Scope.READINGS_READ}, which a {who.role} "
                               "token does not carry")
            rate_limit(state, who, "read")
            body = await readings_body(request, state, who, meter_id, minutes, quantities,
                                       False, lo, lo + 86400)
            status, headers = 200, _JSON
            payload = cim.encode(body)
        except ApiError as exc:
            status = exc.status
            headers = _JSON + [(k.lower().encode(), v.encode())
                               for k, v in (exc.headers or {}).items()]
            payload = json.dumps({"error": exc.error, "detail": exc.detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
