"""Error answers of the API (SPEC S7, S14): always JSON ``{"error": code, "detail":
message}``, always 4xx for a bad request (never a 500)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ERROR_RESPONSES", "ApiError", "ErrorBody", "install_error_handlers"]


class ErrorBody(BaseModel):
    error: str
    detail: str


class ApiError(Exception):
    """An answer other than success, with its status, code and message."""

    def __init__(self, status: int, error: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "invalid_request", detail)


_DESCRIPTIONS = {400: "Invalid request", 401: "Missing, invalid or expired token",
                 403: "Not allowed for this client", 404: "Not found (or not visible)",
                 409: "Conflicts with the current state", 422: "Malformed parameters",
                 429: "Rate limit exceeded", 503: "No head-end connected"}
ERROR_RESPONSES = {code: {"model": ErrorBody, "description": text}
                   for code, text in _DESCRIPTIONS.items()}
"""The error answers every route documents in the OpenAPI document."""


def _body(error: str, detail: str, **extra) -> dict:
    return {"error": error, "detail": detail, **extra}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.error, exc.detail), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={
            Exception: str, bytes: lambda b: b.decode("utf-8", "replace")})
        parts = []
        for item in errors[:5]:
            where = ".".join(str(p) for p in item.get("loc", ()))
            parts.append(f"{where}: {item.get('msg')}")
        return JSONResponse(_body("invalid_request", "; ".join(parts) or "invalid request",
                                  errors=errors), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                403: "forbidden"}.get(exc.status_code, "error")
        return JSONResponse(_body(code, str(exc.detail)), exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(_body("internal_error", "the server could not answer this "
                                  "request"), 500)
