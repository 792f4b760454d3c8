"""The operator console: login, pages and assets, served by the API app (SPEC S1, S8, S9).

Pages are static HTML with one shared script (``static/console.js``) that calls the same
``/v1`` API as any client, with the session cookie the login sets. Everything ships in the
package: no CDN, nothing fetched at run time. Only distribution-operator clients may log
in; the session is a short-lived API token in an HttpOnly, SameSite=Strict cookie, and
changes need the CSRF token of a second cookie echoed in a header.
"""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from smame.api.deps import CONSOLE_COOKIE, CSRF_COOKIE, note
from smame.api.roles import Role, role_scopes
from smame.api.state import ApiState
from smame.api.tokens import TokenError

__all__ = ["PAGES", "install_console"]

PAGES = {"": "fleet.html", "fleet": "fleet.html", "outages": "outages.html",
         "meter": "meter.html", "commands": "commands.html"}
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _asset(name: str) -> bytes | None:
    static = resources.files("smame.web") / "static"
    if "/" in name or name.startswith(".") or not (static / name).is_file():
        return None
    return (static / name).read_bytes()


def _session_ok(request: Request) -> bool:
    state: ApiState = request.app.state.api
    token = request.cookies.get(CONSOLE_COOKIE)
    if not token:
        return False
    try:
        claims = state.tokens.verify(token)
    except TokenError:
        return False
    client = state.clients.get(claims.client_id)
    return client is not None and client.active and claims.role is Role.DISTRIBUTION


def _page(name: str) -> Response:
    body = _asset(name)
    return Response(body, media_type=_TYPES[".html"], headers=_HEADERS)


def install_console(app: FastAPI) -> None:
    router = APIRouter(prefix="/console", include_in_schema=False)

    @router.get("/login")
    def login_page() -> Response:
        return _page("login.html")

    @router.post("/login")
    def login(request: Request, client_id: Annotated[str, Form(max_length=200)],
              client_secret: Annotated[str, Form(max_length=500)]) -> Response:
        state: ApiState = request.app.state.api
        request.scope.setdefault("state", {})["client_hint"] = client_id[:64]
        wait = state.limiter.take(f"token:{client_id}", "token")
        client = None if wait is not None else state.clients.authenticate(client_id,
                                                                           client_secret)
        if client is None or client.role is not Role.DISTRIBUTION:
            reason = "rate" if wait is not None else ("role" if client else "credentials")
            note(request, console_login="refused", reason=reason)
            return RedirectResponse(f"/console/login?error={reason}", 303)
        token, claims = state.tokens.issue(client, role_scopes(client.role),
                                           state.config.console_ttl_s)
        note(request, console_login="ok", token_id=claims.token_id)
        secure = request.url.scheme == "https"
        answer = RedirectResponse("/console/", 303)
        answer.set_cookie(CONSOLE_COOKIE, token, max_age=state.config.console_ttl_s,
                          httponly=True, samesite="strict", secure=secure, path="/")
        answer.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24),
                          max_age=state.config.console_ttl_s, httponly=False,
                          samesite="strict", secure=secure, path="/")
        return answer

    @router.post("/logout")
    def logout() -> Response:
        answer = RedirectResponse("/console/login", 303)
        answer.delete_cookie(CONSOLE_COOKIE, path="/")
        answer.delete_cookie(CSRF_COOKIE, path="/")
        return answer

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        body = _asset(name)
        suffix = name[name.rfind("."):] if "." in name else ""
        if body is None or suffix not in _TYPES:
            return Response("not found", 404, media_type="text/plain")
        return Response(body, media_type=_TYPES[suffix],
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache"})

    @router.get("/")
    @router.get("/{page}")
    def page(request: Request, page: str = "") -> Response:
        if page not in PAGES:
            return Response("not found", 404, media_type="text/plain")
        if not _session_ok(request):
            return RedirectResponse("/console/login", 303)
        return _page(PAGES[page])

    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/console/", 307)
