"""Every API request is written to the audit log before its answer leaves (SPEC S14).

A pure ASGI middleware: when the answer's status is known (``http.response.start``) it
appends one entry — who (client, role, party), what (method, path, query), the outcome
and whatever the route noted (meter, digits, consent used, command id) — and only then
lets the answer through. If the entry cannot be written, the caller gets a 503 instead
of the data.
"""

from __future__ import annotations

import secrets
from urllib.parse import unquote

from smame.api.policy import Principal

__all__ = ["AuditMiddleware"]

_AUDITED = ("/v1/", "/console/login", "/console/logout")
_REFUSAL = (b'{"error":"audit_unavailable","detail":"the request could not be written to '
            b'the audit log, so it was not answered"}')


def _outcome(status: int) -> str:
    if status < 400:
        return "allowed"
    if status in (401, 403, 404, 429):
        return "denied"
    return "rejected" if status < 500 else "error"


class AuditMiddleware:
    def __init__(self, app, get_audit) -> None:
        self.app = app
        self._get_audit = get_audit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_AUDITED):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = secrets.token_hex(8)
        refused = False

        async def audited_send(message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                status = int(message["status"])
                try:
                    self._write(scope, state, status, request_id)
                except OSError:
                    refused = True
                    await send({"type": "http.response.start", "status": 503,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(_REFUSAL)).encode())]})
                    await send({"type": "http.response.body", "body": _REFUSAL})
                    return
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif refused:
                return
            await send(message)

        started = False

        async def tracked_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await audited_send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            if not started:  # the error answer is made further out: audit it here
                self._write(scope, state, 500, request_id)
            raise

    def _write(self, scope, state: dict, status: int, request_id: str) -> None:
        principal: Principal | None = state.get("principal")
        query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client")
        self._get_audit().append(
            "request",
            request_id=request_id,
            client=principal.client_id if principal else state.get("client_hint"),
            role=str(principal.role) if principal else None,
            party=principal.party if principal else None,
            via=principal.via if principal else None,
            method=scope["method"],
            path=scope["path"],
            query=unquote(query)[:500] or None,
            status=status,
            outcome=_outcome(status),
            source=client[0] if client else None,
            detail=state.get("audit") or None,
        )
