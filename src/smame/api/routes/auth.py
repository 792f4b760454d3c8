"""OAuth2 client-credentials token endpoint and ``whoami`` (SPEC S14)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse

from smame.api.deps import State, caller, note
from smame.api.errors import ERROR_RESPONSES
from smame.api.policy import Principal
from smame.api.schemas import TokenAnswer, WhoAmI
from smame.api.tokens import TokenError, parse_scopes

router = APIRouter(tags=["auth"])


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="smame"'
    return JSONResponse({"error": error, "error_description": description,
                         "detail": description}, status, headers=headers)


def _basic(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(
            ":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, None
    return user, password


@router.post("/oauth/token", response_model=TokenAnswer,
             responses={code: ERROR_RESPONSES[code] for code in (400, 401, 422, 429)},
             summary="Get an access token (OAuth2 client credentials)")
def token(
    *,
    request: Request,
    grant_type: Annotated[str, Form(max_length=64)],
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    client_secret: Annotated[str | None, Form(max_length=500)] = None,
    scope: Annotated[str | None, Form(max_length=1000)] = None,
    state: State,
) -> JSONResponse:
    """Exchange a client id and secret (form fields or HTTP Basic) for a bearer token that
    lives ``expires_in`` seconds. ``scope`` may narrow the role's scopes."""
    basic_id, basic_secret = _basic(request)
    client_id = client_id or basic_id
    client_secret = client_secret or basic_secret
    request.scope.setdefault("state", {})["client_hint"] = (client_id or "")[:64] or None
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type",
                            "only grant_type=client_credentials is supported")
    if not client_id or not client_secret:
        return _oauth_error(401, "invalid_client", "client_id and client_secret are required")
    source = request.client.host if request.client else "unknown"
    wait = state.limiter.take(f"token:{client_id}", "token")
    if wait is None:  # guessing many client ids from one place is limited too
        wait = state.limiter.take(f"token-source:{source}", "token", 0.25)
    if wait is not None:
        return JSONResponse({"error": "rate_limited", "detail": "too many token requests",
                             "error_description": "too many token requests"}, 429,
                            headers={"Retry-After": str(max(1, round(wait)))})
    client = state.clients.authenticate(client_id, client_secret)
    if client is None:
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    try:
        scopes = parse_scopes(scope, client.role)
    except TokenError as exc:
        return _oauth_error(400, "invalid_scope", str(exc))
    access_token, claims = state.tokens.issue(client, scopes)
    note(request, token_id=claims.token_id, expires_at=claims.expires_at)
    return JSONResponse({"access_token": access_token, "token_type": "Bearer",
                         "expires_in": claims.expires_at - claims.issued_at,
                         "scope": " ".join(sorted(scopes))},
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.get("/whoami", response_model=WhoAmI, responses={401: ERROR_RESPONSES[401]},
            summary="The client behind the token")
async def whoami(*, principal: Annotated[Principal, Depends(caller)],
           state: State) -> WhoAmI:
    client = state.clients.get(principal.client_id)
    return WhoAmI(client_id=principal.client_id, role=str(principal.role),
                  party=principal.party, scopes=sorted(str(s) for s in principal.scopes),
                  name=client.name if client else None, via=principal.via)
