"""``GET /metrics``: the process's Prometheus metrics, and the API's request latency.

:func:`install` adds the route (outside ``/v1``: not audited, not in the OpenAPI document)
and an ASGI middleware that times every request to the end of its answer into
``smame_api_request_seconds`` by method, route template and status.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smame.metrics import API_REQUEST_SECONDS

__all__ = ["RequestTimer", "install", "route_label", "router"]

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestTimer:
    """Observes each HTTP request's latency. The route label is the matched path template,
    so meter ids in paths do not become label values; requests that no FastAPI route
    answered (the fast lane's meter-day readings, unknown paths) are ``unrouted``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            API_REQUEST_SECONDS.labels(scope["method"], route_label(scope), str(status)).observe(
                time.perf_counter() - started)


def route_label(scope: dict) -> str:
    """The full path template of the route that answered, e.g. ``/v1/meters/{meter_id}``.

    An included router's route knows its template without the router's prefix; the prefix
    is the request path's leading segments the template does not cover.
    """
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unrouted"
    if ":path}" in template:
        return template
    segments = scope["path"].split("/")
    prefix = segments[:len(segments) - len(template.split("/")) + 1]
    return "/".join(prefix) + template


def install(app: FastAPI) -> None:
    """Serve ``/metrics`` on ``app`` and time the requests of the middleware added before."""
    app.include_router(router)
    app.add_middleware(RequestTimer)
