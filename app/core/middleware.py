"""Request-id propagation and one structured access-log line per request (pure ASGI)."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_response
from app.core.requestid import HEADER, accept_or_generate, reset_request_id, set_request_id

access_log = logging.getLogger("pcf.access")
log = logging.getLogger("pcf.errors")


class RequestIdMiddleware:
    """Accept a safe ``X-Request-ID`` or generate one; echo it; log the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for k, v in scope.get("headers", []):
            if k == b"x-request-id":
                incoming = v.decode("latin-1")
                break
        rid = accept_or_generate(incoming)
        token = set_request_id(rid)
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                headers = list(message.get("headers", []))
                headers.append((HEADER.lower().encode(), rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client went away before sending its whole body: nothing to answer, nothing
            # stored (the request's transaction rolled back). Logged as 499, not as an error.
            status["code"] = 499
        except Exception:
            # The one place an unexpected error becomes a response: logged with the request
            # id, answered with a problem body that carries the id and never a stack trace.
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if not status.get("started"):
                response = problem_response(
                    500,
                    "internal_error",
                    "Internal error",
                    "An unexpected error occurred. Quote the request_id when reporting it.",
                )
                await response(scope, receive, send_wrapper)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                },
            )
            reset_request_id(token)


class HttpsRequiredMiddleware:
    """Refuse plain HTTP on the given path prefixes (PACT: "HTTPS only", conformance 9–11, 17).

    The scheme is the one uvicorn reports, which honours ``X-Forwarded-Proto`` from trusted
    proxies (``pcf serve`` runs with proxy headers on). The refusal is a 403 whose body carries
    both the PACT error fields and the OAuth2 ones, so either kind of client can read it.
    """

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("scheme") != "https"
            and str(scope.get("path", "")).startswith(self.prefixes)
        ):
            message = "HTTPS is required for this endpoint; plain HTTP is refused."
            response = JSONResponse(
                {
                    "code": "AccessDenied",
                    "message": message,
                    "error": "invalid_request",
                    "error_description": message,
                },
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
