"""One typed exception hierarchy, mapped by one handler to RFC 9457 problem+json.

Every error body has ``type``, ``title``, ``status``, ``detail``, a stable machine ``code`` and
``errors[]`` (each ``{pointer, code, message}``, a JSON pointer into the request). Routes and
services raise these; nothing else formats an error response.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.requestid import current_request_id

log = logging.getLogger("pcf.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://pcf-service.example/problems/"


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: where (JSON pointer), what (code) and a readable message."""

    pointer: str
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"pointer": self.pointer, "code": self.code, "message": self.message, **self.extra}


class AppError(Exception):
    """Base of every error the service reports on purpose."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class ValidationFailed(AppError):
    status, code, title = 422, "validation_failed", "The request is not valid"


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class ConfigError(Exception):
    """A setting is wrong: start-up stops with one line naming the setting."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


def pointer_from_loc(loc: Sequence[Any]) -> str:
    """FastAPI/pydantic ``loc`` → RFC 6901 JSON pointer (``body`` prefix dropped)."""
    parts = list(loc)
    if parts and parts[0] in ("body",):
        parts = parts[1:]
    elif parts and parts[0] in ("query", "path", "header", "cookie"):
        # Not part of the body: keep the location visible.
        parts = [f"{parts[0]}:{parts[1]}", *parts[2:]] if len(parts) > 1 else parts
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(escaped) if escaped else ""


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [e.as_dict() for e in errors],
    }
    rid = current_request_id()
    if rid:
        body["request_id"] = rid
    body.update(extra)
    return body


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, title, detail, errors, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    out = []
    for e in raw:
        msg = str(e.get("msg", "invalid"))
        out.append(FieldError(pointer_from_loc(e.get("loc", ())), str(e.get("type")), msg))
    return out


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_failed", "The request is not valid"),
    429: ("rate_limited", "Too many requests"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            exc.status, exc.code, exc.title, exc.detail, exc.errors, exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc.errors())
        n = len(errors)
        return problem_response(
            422,
            "validation_failed",
            "The request is not valid",
            f"{n} problem{'s' if n != 1 else ''} found in the request; see errors[].",
            errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            exc.status_code, code, title, detail, headers=dict(exc.headers or {})
        )

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        # A lost connection (the server restarted, the pool's connection went stale: the pool
        # does not ping before every request, it drops a broken connection when it fails) or a
        # busy database: the transaction was rolled back, so a retry is safe.
        if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
            raise exc
        log.warning("database unavailable", extra={"error": str(exc.orig)[:300]})
        return problem_response(
            503,
            "database_unavailable",
            "Database unavailable",
            "The database could not be reached or is busy; nothing was stored. Retry shortly.",
            headers={"Retry-After": "1"},
        )

    # Unexpected exceptions are answered by RequestIdMiddleware (it knows the request id).
