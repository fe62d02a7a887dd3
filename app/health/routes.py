"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.core.database import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and background release loaded",
    responses={503: {"description": "Not ready; the body says which check failed."}},
)
def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, Any] = {}
    ready = True
    try:
        ping(state.db.engine)
        checks["database"] = {"ok": True, "backend": state.db.engine.dialect.name}
    except SQLAlchemyError as exc:
        ready = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    release = getattr(state, "release", None)
    if release is None:
        ready = False
        checks["background_release"] = {
            "ok": False,
            "release_id": None,
            "message": "No background-data release is loaded: run `pcf data build`.",
        }
    else:
        checks["background_release"] = {"ok": True, "release_id": release.release_id}
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )
